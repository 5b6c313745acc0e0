"""Kernel API crash-debug blocks (``SGLANG_KERNEL_API_*``): the writers and the incremental parser.

The writers render plain descriptions (:mod:`backend.records.kernel_values`) exactly as SGLang's
``_log_section`` does, so this module needs no torch; :class:`KernelApiLogParser`
reads the blocks back from a ``LOGDEST`` file or a stdout/stderr stream. The level-10 dump folders live
in :mod:`backend.records.dump_records`. :mod:`backend.records`, the contract module, re-exports every public
name here; callers import from there. Standard library only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from backend.records.kernel_values import (
    ENTRY_RE,
    TensorDesc,
    ValueDesc,
    parse_value,
    render_value,
    walk_tensors,
)
from backend.records.log_lines import split_log_prefix, strip_ansi

KERNEL_API_SEPARATOR = "=" * 80
KERNEL_API_TIME_FORMAT = "[%Y-%m-%d %H:%M:%S]"
GRAPH_CAPTURE_NOTE = "graph capture in progress"


def render_section(title: str, entries: Iterable[tuple[str, ValueDesc]]) -> list[str]:
    """``title`` then ``  name=<first line>`` and four-space continuation lines (``_log_section``)."""
    lines = [title]
    for name, value in entries:
        rendered = render_value(value)
        lines.append(f"  {name}={rendered[0]}")
        lines += [f"    {extra}" for extra in rendered[1:]]
    return lines


def kernel_call_header(api_name: str, when: datetime | None = None) -> str:
    return f"{(when or datetime.now()).strftime(KERNEL_API_TIME_FORMAT)} SGLang Kernel API Call: {api_name}"


def kernel_exception_line(api_name: str, exc_type: str, message: str, when: datetime | None = None) -> str:
    stamp = (when or datetime.now()).strftime(KERNEL_API_TIME_FORMAT)
    return f"{stamp} SGLang Kernel API Exception: {api_name} ({exc_type}: {message})"


def kernel_call_begin_lines(
    api_name: str,
    positional: Sequence[ValueDesc] | None = None,
    keyword: Sequence[tuple[str, ValueDesc]] | None = None,
    *,
    when: datetime | None = None,
    dumped_inputs_dir: str | None = None,
    dump_skipped: bool = False,
) -> list[str]:
    """Lines written before the call: separator, header, argument sections (level >= 3, non-empty
    ones only, ``self``/``cls`` already dropped), then the level-10 dump line."""
    lines = [KERNEL_API_SEPARATOR, kernel_call_header(api_name, when)]
    if positional:
        lines += render_section(
            "Positional input arguments:", [(f"arg[{i}]", v) for i, v in enumerate(positional)]
        )
    if keyword:
        lines += render_section("Keyword input arguments:", keyword)
    if dump_skipped:
        lines.append(f"Tensor dump skipped: {GRAPH_CAPTURE_NOTE}")
    elif dumped_inputs_dir is not None:
        lines.append(f"Dumped inputs to: {dumped_inputs_dir}")
    return lines


def kernel_call_end_lines(
    output: ValueDesc | None = None, *, dumped_outputs_dir: str | None = None
) -> list[str]:
    """Lines after a successful call: ``Dumped outputs to:`` (level 10) before ``Output:`` (level >= 3).

    ``output=None`` means no output section (level 1); a returned ``None`` is ``ArgDesc("repr", "None")``.
    """
    lines = [] if dumped_outputs_dir is None else [f"Dumped outputs to: {dumped_outputs_dir}"]
    if output is not None:
        lines += render_section("Output:", [("return", output)])
    return lines


# ---- parsing -------------------------------------------------------------------------------------

_KHEADER_RE = re.compile(r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] SGLang Kernel API Call: (.+?)\s*$")
_KEXC_RE = re.compile(
    r"^\[(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2})\] SGLang Kernel API Exception: (\S+) \((.*)$"
)
_SECTIONS = {"Positional input arguments:": "pos", "Keyword input arguments:": "kw", "Output:": "out"}


@dataclass(frozen=True)
class KernelApiCall:
    """One parsed kernel API block."""

    api_name: str
    timestamp: datetime | None
    inputs: tuple[tuple[str, ValueDesc], ...] = ()
    """``("arg[0]", ...)`` for positional arguments, the keyword name for keyword ones."""
    output: ValueDesc | None = None
    exception: tuple[str, str] | None = None
    """``(type name, message)`` when the call raised."""
    dumped_inputs_dir: str | None = None
    dumped_outputs_dir: str | None = None
    dump_skipped: bool = False
    completed: bool = False
    """It returned (``Output:``), raised, or (level 1) another block followed it. A crash leaves the
    in-flight call, and the calls enclosing it, not completed."""
    depth: int = 0
    """Nesting: a call made inside another decorated call (seen at level >= 3) has depth 1, ..."""
    index: int = 0
    """Order in which the block started in the stream."""

    def _tensors(self, part: str) -> Iterable[TensorDesc]:
        if part in ("all", "inputs"):
            for _, value in self.inputs:
                yield from walk_tensors(value)
        if part in ("all", "output") and self.output is not None:
            yield from walk_tensors(self.output)

    def nan_total(self, part: str = "all") -> int:
        """Sum of ``nan_count`` over tensors in ``part``: ``"all"``, ``"inputs"`` or ``"output"``."""
        return sum(t.stats.nan_count for t in self._tensors(part) if t.stats is not None)

    def inf_total(self, part: str = "all") -> int:
        return sum(t.stats.inf_count for t in self._tensors(part) if t.stats is not None)


@dataclass
class _OpenCall:
    api_name: str
    timestamp: datetime | None
    index: int
    depth: int
    inputs: list[tuple[str, ValueDesc]] = field(default_factory=list)
    output: ValueDesc | None = None
    exception: tuple[str, str] | None = None
    dumped_inputs_dir: str | None = None
    dumped_outputs_dir: str | None = None
    dump_skipped: bool = False
    detailed: bool = False
    section: str | None = None
    entry: tuple[str, list[str]] | None = None

    def freeze(self, completed: bool) -> KernelApiCall:
        return KernelApiCall(
            self.api_name,
            self.timestamp,
            tuple(self.inputs),
            self.output,
            self.exception,
            self.dumped_inputs_dir,
            self.dumped_outputs_dir,
            self.dump_skipped,
            completed,
            self.depth,
            self.index,
        )


@functools.lru_cache(maxsize=256)
def _parse_stamp(text: str) -> datetime | None:
    """Block header time; cached since consecutive blocks mostly share a second."""
    try:
        return datetime.strptime(f"[{text}]", KERNEL_API_TIME_FORMAT)
    except ValueError:
        return None


class KernelApiLogParser:
    """Incremental parser of a kernel API log (a ``LOGDEST`` file or a stdout/stderr stream).

    :meth:`feed` takes one line at a time and returns the calls it completed, in completion order.
    Ordinary ``[MM-DD HH:MM:SS]`` log lines and other noise between blocks are ignored. At level >= 3
    a block that is still waiting for its ``Output:`` when a new block starts is an enclosing call
    (nesting is tracked); at level 1 nothing tells a nested call from the next one, so a new block
    completes the previous. :meth:`flush` ends the stream: calls still open come back with
    ``completed=False``, outermost first, so the last one is the call in flight at a crash.
    """

    def __init__(self) -> None:
        self._stack: list[_OpenCall] = []
        self._detailed = False
        self._count = 0
        self._pending_exc: list[str] | None = None
        self._out: list[KernelApiCall] = []

    @property
    def detailed(self) -> bool:
        """True once a block showed arguments, an output or a dump line: the log is level >= 3, so a
        block without ``Output:`` did not return. False means level 1 (or no call yet): a header
        followed by nothing says nothing about whether that call finished."""
        return self._detailed

    @property
    def open_calls(self) -> tuple[KernelApiCall, ...]:
        """Snapshots of the calls started and not yet finished, outermost first."""
        return tuple(c.freeze(False) for c in self._stack)

    def feed(self, line: str) -> list[KernelApiCall]:
        text = strip_ansi(line).rstrip("\r\n")
        if self._pending_exc is not None:
            if text == KERNEL_API_SEPARATOR or _KHEADER_RE.match(text) or split_log_prefix(text)[0]:
                self._finish_exception()
            else:
                self._pending_exc.append(text)
                if text.endswith(")") or len(self._pending_exc) > 50:
                    self._finish_exception()
                return self._drain()
        self._feed(text)
        return self._drain()

    def flush(self) -> list[KernelApiCall]:
        if self._pending_exc is not None:
            self._finish_exception()
        if self._stack:
            self._end_value(self._stack[-1])
        while self._stack:
            # Outermost first: the last call returned is the innermost in-flight one.
            self._out.append(self._stack.pop(0).freeze(False))
        return self._drain()

    def _drain(self) -> list[KernelApiCall]:
        out, self._out = self._out, []
        return out

    def _feed(self, text: str) -> None:
        top = self._stack[-1] if self._stack else None
        if text == KERNEL_API_SEPARATOR:
            if top is not None:
                self._end_value(top)
                top.section = None
            return
        m = _KHEADER_RE.match(text)
        if m:
            if top is not None:
                self._end_value(top)
                top.section = None
                if top.output is None and not (self._detailed or top.detailed):
                    self._pop(completed=True)
            self._stack.append(_OpenCall(m.group(2), _parse_stamp(m.group(1)), self._count, len(self._stack)))
            self._count += 1
            return
        m = _KEXC_RE.match(text)
        if m:
            if top is not None:
                self._end_value(top)
            self._pending_exc = [m.group(2), m.group(3)]
            if text.endswith(")"):
                self._finish_exception()
            return
        if top is None:
            return
        section = _SECTIONS.get(text)
        if section is not None:
            self._end_value(top)
            top.section = section
            top.detailed = self._detailed = True
            return
        for prefix, attr in (
            ("Dumped inputs to: ", "dumped_inputs_dir"),
            ("Dumped outputs to: ", "dumped_outputs_dir"),
        ):
            if text.startswith(prefix):
                self._end_value(top)
                top.section = None
                setattr(top, attr, text[len(prefix) :])
                top.detailed = self._detailed = True
                return
        if text.startswith("Tensor dump skipped:"):
            self._end_value(top)
            top.dump_skipped = True
            return
        if top.section is None:
            return
        if top.entry is not None and text.startswith("    "):
            top.entry[1].append(text[4:])
            if text in ("    )", "    ]", "    }"):
                self._end_value(top)
            return
        m = ENTRY_RE.match(text)
        if m:
            self._end_value(top)
            top.entry = (m.group(1), [m.group(2)])
            if not m.group(2).endswith(("(", "[", "{")):
                self._end_value(top)

    def _end_value(self, call: _OpenCall) -> None:
        if call.entry is None:
            return
        name, lines = call.entry
        call.entry = None
        value = parse_value(lines)
        if call.section == "out":
            call.output = value
            call.section = None
            self._pop(completed=True)
        elif call.section in ("pos", "kw"):
            call.inputs.append((name, value))

    def _pop(self, completed: bool) -> None:
        self._out.append(self._stack.pop().freeze(completed))

    def _finish_exception(self) -> None:
        assert self._pending_exc is not None
        name, *parts = self._pending_exc
        self._pending_exc = None
        body = "\n".join(parts)
        if body.endswith(")"):
            body = body[:-1]
        exc_type, _, message = body.partition(": ")
        for pos in range(len(self._stack) - 1, -1, -1):
            if self._stack[pos].api_name == name:
                while len(self._stack) > pos + 1:
                    self._pop(completed=True)
                self._end_value(self._stack[-1])
                if self._stack and self._stack[-1].api_name == name:
                    self._stack[-1].exception = (exc_type, message)
                    self._pop(completed=True)
                return


def parse_kernel_api_log(text: str) -> list[KernelApiCall]:
    """Parse a whole log; calls come back in the order they started (last = most recent)."""
    parser = KernelApiLogParser()
    calls: list[KernelApiCall] = []
    for line in text.splitlines():
        calls += parser.feed(line)
    calls += parser.flush()
    return sorted(calls, key=lambda c: c.index)
