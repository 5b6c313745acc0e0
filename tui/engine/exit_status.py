"""How a process ended, in words: exit codes, signals (``signal.strsignal``), a shell's ``128+N``,
and our backend's documented codes.

Why its own module: the supervisor, the crash report and the headless commands all decode
exits the same way.  Imports neither textual nor rich.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from dataclasses import dataclass

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "ash", "busybox", "fish"})


def signal_name(signum: int) -> str:
    """``11`` -> ``"SIGSEGV"``; unknown numbers -> ``"SIG<n>"``."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"SIG{signum}"


def signal_text(signum: int) -> str | None:
    """``11`` -> ``"segmentation fault"`` (the C library's text, lower-cased first letter)."""
    try:
        text = signal.strsignal(signum)
    except ValueError:
        return None
    if not text or text.startswith(("Unknown signal", "Real-time signal")):
        return None
    return text[0].lower() + text[1:]




@dataclass(frozen=True)
class ExitStatus:
    """How a process ended.

    ``signal`` is set when it was killed by a signal: from a negative ``returncode``
    (Popen's convention) or, when ``via_shell``, from a shell's ``128+N`` exit code.
    """

    returncode: int
    signal: int | None = None
    via_shell: bool = False
    """True when the signal was inferred from a ``128+N`` code (the command was a shell)."""
    meaning: str | None = None
    """What the code means for the program that exited (our backend documents every code)."""

    @classmethod
    def decode(cls, returncode: int, shell: bool = False) -> ExitStatus:
        """Decode Popen's ``returncode``.

        Args:
            returncode: negative ``-N`` means killed by signal N.
            shell: the command was a shell (``sh -c ...``): ``128+N`` is read as signal N.
        """
        if returncode < 0:
            return cls(returncode, -returncode)
        if shell and 128 < returncode < 128 + 65:
            return cls(returncode, returncode - 128, via_shell=True)
        return cls(returncode)

    @property
    def signal_name(self) -> str | None:
        return signal_name(self.signal) if self.signal is not None else None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def exit_code(self) -> int:
        """The code a shell would report: ``128+N`` when killed by signal N, else the return code."""
        return 128 + self.signal if self.signal is not None else self.returncode

    @property
    def description(self) -> str:
        """E.g. ``"killed by SIGSEGV (segmentation fault)"``, ``"exited with code 3"``."""
        if self.signal is not None:
            name = self.signal_name or ""
            what = signal_text(self.signal)
            text = f"killed by {name}" + (f" ({what})" if what else "")
            if self.via_shell:
                text += f"; the shell exited with {self.returncode} (128+{self.signal})"
            return text
        if self.returncode == 0:
            return "exited normally (code 0)"
        return f"exited with code {self.returncode}" + (f": {self.meaning}" if self.meaning else "")

    def to_dict(self) -> dict[str, object]:
        return {"returncode": self.returncode, "exit_code": self.exit_code, "signal": self.signal,
                "signal_name": self.signal_name, "via_shell": self.via_shell, "meaning": self.meaning,
                "description": self.description}


def is_our_backend(argv: Sequence[str]) -> bool:
    """``sgl-backend ...`` or ``python -m backend ...``."""
    args = [str(a) for a in argv]
    if not args:
        return False
    if os.path.basename(args[0]) == "sgl-backend":
        return True
    return any(a == "-m" and b == "backend" for a, b in zip(args, args[1:], strict=False))


def decode_exit(returncode: int, argv: Sequence[str] | None = None) -> ExitStatus:
    """Decode ``returncode``; ``128+N`` counts as signal N when ``argv[0]`` is a shell.  For our
    backend a non-zero code gets its documented meaning (``backend.exit_codes``)."""
    shell = bool(argv) and os.path.basename(str(argv[0])) in SHELLS  # type: ignore[index]  # bool(argv) rules out None; mypy does not narrow through it
    status = ExitStatus.decode(returncode, shell=shell)
    if argv and returncode > 0 and status.signal is None and is_our_backend(argv):
        try:
            from backend.exit_codes import EXIT_CODES
        except ImportError:  # pragma: no cover - ships with the package
            return status
        meaning = EXIT_CODES.get(returncode)
        if meaning:
            status = ExitStatus(returncode, None, False, meaning)
    return status


