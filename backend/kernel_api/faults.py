"""Fault drills for the crash-debugging path: ``--inject-fault KIND[=CODE][@API_PATTERN][:CALL_N][,rank=R]``.

Kinds:
    ``segfault``       a real SIGSEGV in native code (``ctypes.string_at(0)``).
    ``abort``          SIGABRT through ``os.abort()``.
    ``exception``      ``RuntimeError`` raised inside the call.
    ``nan``            the call runs, then its floating-point result tensors are replaced by NaN, so
                       level-5 statistics and the output dump show it.
    ``hang``           never returns (sleeps in a loop). SIGTERM is reset to its default action first
                       (main thread only), so a handler that only sets an event cannot keep it alive.
    ``exit``           ``os._exit(CODE)``: ``exit=3``; plain ``exit`` uses 1. CODE is 0-255.
    ``device-assert``  CUDA only: a real device-side assert (out-of-range index on the GPU, then a
                       synchronize). Without CUDA :func:`install` refuses it: "device-assert needs CUDA".

``API_PATTERN`` is an ``fnmatch`` pattern (case-sensitive) on kernel API names, default ``*``.
``CALL_N`` (default 1) picks the N-th call, counted over *all* calls matching the pattern in this
process; the fault fires once. Examples: ``segfault@backend.attention.*``, ``nan@*decode*:2``,
``exit=3@backend.transformer.*.Linear.forward:10``.
``,rank=R`` scopes the fault to worker R of ``--num-workers`` (the others run clean), e.g.
``device-assert@backend.attention.*,rank=1``; without it every process carries the fault.

The fault fires inside the wrapper of :func:`backend.kernel_api.api_logging.debug_kernel_api`, after the call's
inputs were logged and dumped, so the kernel API log and the dump folder show the call in flight.
At ``SGLANG_KERNEL_API_LOGLEVEL=0`` the decorator normally returns the function untouched; when a
plan is installed it instead gives the *targeted* APIs (only those) a minimal wrapper that fires the
fault and logs nothing. That decision is made when a function is decorated or instrumented, so at
level 0 :func:`install` must run before the backend imports its decorated modules. Forked workers
inherit the plan and its counters; spawned workers must install it again.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fnmatch
import os
import signal
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FLAG = "--inject-fault"
KINDS = ("segfault", "abort", "exception", "nan", "hang", "exit", "device-assert")
SYNTAX = "KIND[=CODE][@API_PATTERN][:CALL_N][,rank=R]"
RANK_SUFFIX = ",rank="


class FaultSpecError(ValueError):
    """A bad ``--inject-fault`` value; the message names the flag, the value and what is allowed."""


@dataclass(frozen=True)
class FaultSpec:
    kind: str
    pattern: str = "*"
    call_n: int = 1
    exit_code: int = 1
    rank: int | None = None
    """The worker it is scoped to (``,rank=R``); None: every process."""

    def __str__(self) -> str:
        code = f"={self.exit_code}" if self.kind == "exit" else ""
        rank = f"{RANK_SUFFIX}{self.rank}" if self.rank is not None else ""
        return f"{self.kind}{code}@{self.pattern}:{self.call_n}{rank}"


def _fail(flag: str, value: str, problem: str) -> FaultSpecError:
    return FaultSpecError(
        f"{flag} {value!r}: {problem}; expected {SYNTAX} with KIND one of {', '.join(KINDS)} "
        f"(CODE only for exit, 0-255; CALL_N a positive integer; R a worker rank from 0)"
    )


def parse_fault_spec(value: str, flag: str = FLAG) -> FaultSpec:
    """Parse one ``--inject-fault`` value. Raises :class:`FaultSpecError`."""
    text = value.strip()
    if not text:
        raise _fail(flag, value, "empty value")
    rank: int | None = None
    if RANK_SUFFIX in text:
        text, _, rank_text = text.rpartition(RANK_SUFFIX)
        if not rank_text.isdigit():
            raise _fail(flag, value, f"rank {rank_text!r} is not a worker rank (0, 1, ...)")
        rank = int(rank_text)
    call_n = 1
    head, sep, tail = text.rpartition(":")
    if sep:
        if not tail.isdigit() or int(tail) < 1:
            raise _fail(flag, value, f"call number {tail!r} is not a positive integer")
        text, call_n = head, int(tail)
    kind_part, at, pattern = text.partition("@")
    if at and not pattern.strip():
        raise _fail(flag, value, "empty API pattern after '@'")
    kind, eq, code_text = kind_part.strip().partition("=")
    if kind not in KINDS:
        raise _fail(flag, value, f"unknown fault kind {kind!r}")
    exit_code = 1
    if eq:
        if kind != "exit":
            raise _fail(flag, value, f"'={code_text}' is only allowed for exit")
        if not code_text.isdigit() or not 0 <= int(code_text) <= 255:
            raise _fail(flag, value, f"exit code {code_text!r} is not an integer 0-255")
        exit_code = int(code_text)
    return FaultSpec(kind, pattern.strip() if at else "*", call_n, exit_code, rank)


class FaultPlan:
    """Installed faults with their per-spec call counters (thread-safe)."""

    def __init__(self, specs: Iterable[FaultSpec]) -> None:
        self.specs = tuple(specs)
        self._counts = [0] * len(self.specs)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, values: Iterable[str], flag: str = FLAG) -> FaultPlan:
        return cls(parse_fault_spec(v, flag) for v in values)

    def for_rank(self, rank: int, processes: int | None = None) -> FaultPlan:
        """The faults worker ``rank`` of ``processes`` carries: those scoped to it and those not scoped
        at all.  Raises :class:`FaultSpecError` for a fault scoped to a rank the run does not have
        (when ``processes`` is given)."""
        for spec in self.specs:
            if processes is not None and spec.rank is not None and spec.rank >= processes:
                raise FaultSpecError(f"{FLAG} {str(spec)!r}: rank {spec.rank}, but this run has {processes} "
                                     f"process(es) (ranks 0..{processes - 1}; --num-workers sets how many)")
        return FaultPlan(s for s in self.specs if s.rank is None or s.rank == rank)

    def targets(self, api: str) -> bool:
        return any(fnmatch.fnmatchcase(api, s.pattern) for s in self.specs)

    def arm(self, api: str) -> FaultSpec | None:
        """Count one call of ``api``; return the spec to fire now, if any."""
        hit: FaultSpec | None = None
        with self._lock:
            for i, spec in enumerate(self.specs):
                if fnmatch.fnmatchcase(api, spec.pattern):
                    self._counts[i] += 1
                    if self._counts[i] == spec.call_n and hit is None:
                        hit = spec
        return hit


_plan: FaultPlan | None = None


def check_supported(spec: FaultSpec) -> None:
    """Raise :class:`FaultSpecError` for a fault this host cannot produce (device-assert without CUDA)."""
    if spec.kind == "device-assert":
        import torch

        if not torch.cuda.is_available():
            raise FaultSpecError(
                f"{FLAG} {str(spec)!r}: device-assert needs CUDA, and no CUDA device is available"
            )


def install(plan: FaultPlan | FaultSpec | Iterable[FaultSpec] | None) -> FaultPlan | None:
    """Install (or with ``None`` remove) the process's fault plan; returns it."""
    global _plan
    if plan is not None and not isinstance(plan, FaultPlan):
        plan = FaultPlan([plan] if isinstance(plan, FaultSpec) else plan)
    if plan is not None:
        for spec in plan.specs:
            check_supported(spec)
    _plan = plan
    return plan


def installed() -> FaultPlan | None:
    return _plan


def targets(api: str) -> bool:
    """True when the installed plan could fire in ``api`` (decides level-0 wrapping)."""
    return _plan is not None and _plan.targets(api)


def arm(api: str) -> FaultSpec | None:
    return None if _plan is None else _plan.arm(api)


def _announce(spec: FaultSpec, api: str) -> None:
    sys.stderr.write(f"injected fault: {spec.kind} in {api} (call {spec.call_n})\n")
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def fire_before(spec: FaultSpec, api: str) -> None:
    """Fire ``spec`` inside the call of ``api`` (everything except ``nan``)."""
    if spec.kind == "nan":
        return
    _announce(spec, api)
    if spec.kind == "segfault":
        ctypes.string_at(0)
    elif spec.kind == "abort":
        os.abort()
    elif spec.kind == "exception":
        raise RuntimeError(f"injected fault: exception in {api} (call {spec.call_n})")
    elif spec.kind == "exit":
        os._exit(spec.exit_code)
    elif spec.kind == "hang":
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
        while True:
            time.sleep(0.5)
    elif spec.kind == "device-assert":
        _device_assert()


def _device_assert() -> None:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeError("device-assert needs CUDA")
    table = torch.zeros(4, device="cuda")
    index = torch.full((1,), 1 << 20, dtype=torch.long, device="cuda")
    table[index].sum().item()  # index kernel asserts on the device; item() synchronizes
    torch.cuda.synchronize()


def _nanify(value: Any) -> tuple[Any, bool]:
    import torch

    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex():
            return torch.full_like(value, float("nan")), True
        return value, False
    if isinstance(value, (list, tuple)):
        pairs = [_nanify(v) for v in value]
        items = [v for v, _ in pairs]
        hit = any(h for _, h in pairs)
        if isinstance(value, list):
            return items, hit
        return (type(value)(*items) if hasattr(value, "_fields") else tuple(items)), hit
    if isinstance(value, dict) and not dataclasses.is_dataclass(value):
        pairs_d = {k: _nanify(v) for k, v in value.items()}
        return {k: v for k, (v, _) in pairs_d.items()}, any(h for _, h in pairs_d.values())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: _nanify(getattr(value, f.name)) for f in dataclasses.fields(value)}
        if any(h for _, h in changes.values()):
            try:
                return dataclasses.replace(value, **{k: v for k, (v, _) in changes.items()}), True
            except (TypeError, ValueError):
                return value, False
    return value, False


def fire_after(spec: FaultSpec, result: Any) -> Any:
    """Apply a ``nan`` fault to the call's result (other kinds never get here)."""
    if spec.kind != "nan":
        return result
    poisoned, hit = _nanify(result)
    if not hit:
        sys.stderr.write(
            f"injected fault: nan had no floating-point tensor to poison ({type(result).__name__})\n"
        )
    else:
        sys.stderr.write(f"injected fault: nan in result (call {spec.call_n})\n")
    return poisoned
