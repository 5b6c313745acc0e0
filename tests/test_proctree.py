"""The run's process tree from the kernel's child lists: the same tree psutil's host-wide scan finds.

A real tree: the root forks one child from its main thread and one from another thread (a child
belongs to the thread that forked it, so a walk that read only the main thread's list would miss
it), and the first child has a child of its own.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

import psutil
import pytest

from tests.console_helpers import wait_until
from tui.engine import proctree

TREE = """
import subprocess, sys, threading, time
sleeper = [sys.executable, '-c', 'import subprocess, sys, time; subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]); time.sleep(60)']
subprocess.Popen(sleeper)
threading.Thread(target=lambda: subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']).wait()).start()
print('up', flush=True)
time.sleep(60)
"""


@pytest.fixture
def tree() -> object:
    root = subprocess.Popen([sys.executable, "-c", TREE], stdout=subprocess.PIPE, text=True)
    assert root.stdout is not None and root.stdout.readline() == "up\n"
    wait_until(lambda: len(psutil.Process(root.pid).children(recursive=True)) == 3, timeout=30)
    try:
        yield root
    finally:
        for p in psutil.Process(root.pid).children(recursive=True):
            p.kill()
        root.kill()
        root.wait(10)


@pytest.mark.parametrize("kernel_lists", [True, False], ids=["kernel-lists", "psutil-scan"])
def test_descendants_match_psutil_parents_first(tree: subprocess.Popen[str], kernel_lists: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if kernel_lists and not proctree.KERNEL_CHILD_LISTS:
        pytest.skip("this kernel keeps no per-thread child lists (CONFIG_PROC_CHILDREN off)")
    monkeypatch.setattr(proctree, "KERNEL_CHILD_LISTS", kernel_lists)
    expected = {p.pid for p in psutil.Process(tree.pid).children(recursive=True)}
    found = proctree.descendants(tree.pid)
    assert {p.pid for p in found} == expected and len(found) == 3
    order = [p.pid for p in found]
    for p in found:  # parents before their children
        parent = p.ppid()
        assert parent == tree.pid or order.index(parent) < order.index(p.pid)
    direct = proctree.child_pids(tree.pid)
    assert direct == sorted(p.pid for p in psutil.Process(tree.pid).children()) and len(direct) == 2


def test_a_gone_process_has_no_children() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)
    assert proctree.child_pids(gone.pid) == [] and proctree.descendants(gone.pid) == []


@pytest.mark.parametrize("pidfd", [True, False], ids=["pidfd", "popen-wait"])
def test_exit_wait_returns_the_code_once_the_child_ended(pidfd: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not pidfd:
        monkeypatch.delattr(os, "pidfd_open", raising=False)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("no pidfd_open here")
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    waiter = proctree.ExitWait(child)
    try:
        assert (waiter._fd is not None) == pidfd
        assert waiter.wait(0.05) is None and child.returncode is None
        threading.Timer(0.2, child.kill).start()
        assert waiter.wait(30) == -signal.SIGKILL
        assert child.returncode == -signal.SIGKILL  # reaped: no zombie left behind
        assert waiter.wait(0.0) == -signal.SIGKILL
    finally:
        waiter.close()
        child.kill()
        child.wait(10)


def test_an_attached_process_knows_its_whole_tree_and_keeps_who_left(tree: subprocess.Popen[str]) -> None:
    """``sgl-console attach`` follows the ``%i`` logs of every process of the tree (workers included),
    walking it the same way, and keeps a pid once seen."""
    from tui.attach import AttachedProcess

    attached = AttachedProcess(tree.pid)
    everyone = {tree.pid, *(p.pid for p in psutil.Process(tree.pid).children(recursive=True))}
    assert attached.known_pids() == everyone
    leaf = max(psutil.Process(tree.pid).children(recursive=True), key=lambda p: p.pid)
    leaf.kill()
    wait_until(lambda: not proctree.alive(leaf), timeout=10)
    assert attached.known_pids() == everyone
