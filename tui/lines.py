"""Bytes to lines for the output the console follows (pipes and files), bounded and lossless.

Why one module: the supervisor's pipe readers, the file tailer, ``sgl-console run`` and the
crash report all turn raw bytes into lines the same way: split on ``\\n`` (and, for pipes,
on a bare ``\\r`` as tqdm writes), cap very long lines, decode invalid UTF-8 with U+FFFD.
Imports neither textual nor rich.
"""

from __future__ import annotations

import re

MAX_LINE_BYTES = 16 * 1024
"""Longest line passed to the router; longer ones are cut and marked ``truncated``."""

_EOL = re.compile(rb"\r\n|\r|\n")


class LineSplitter:
    """Bytes -> ``(text, truncated, cr)`` lines: split on ``\\n``, ``\\r\\n`` and bare ``\\r``;
    lines over ``max_bytes`` are cut (the rest up to the next terminator is skipped), and
    invalid UTF-8 is decoded with U+FFFD.  Memory is bounded by ``max_bytes``."""

    def __init__(self, max_bytes: int = MAX_LINE_BYTES, split_cr: bool = True) -> None:
        self.max_bytes = max_bytes
        self.split_cr = split_cr
        """False for files: only ``\\n`` (or ``\\r\\n``) ends a line; a ``\\r`` inside stays."""
        self._buf = b""
        self._skipping = False
        self._after_cr = False

    def feed(self, data: bytes) -> list[tuple[str, bool, bool]]:
        out: list[tuple[str, bool, bool]] = []
        if self._after_cr:
            # A read ended in \r: only now do we know whether it was \r\n or a bare \r.
            data = b"\r" + data
            self._after_cr = False
        if self.split_cr and data.endswith(b"\r"):
            data = data[:-1]
            self._after_cr = True
        if not self.split_cr or b"\r" not in data:
            # Fast path (most reads): plain newlines.  Whole middle lines go straight through.
            pieces = data.split(b"\n")
            rest = pieces.pop()
            if pieces:
                self._emit(pieces[0], False, out)
                limit = self.max_bytes
                for piece in pieces[1:]:
                    if not self.split_cr and piece.endswith(b"\r"):
                        piece = piece[:-1]
                    if len(piece) > limit:
                        out.append((piece[:limit].decode("utf-8", "replace"), True, False))
                    else:
                        out.append((piece.decode("utf-8", "replace"), False, False))
        else:
            pos = 0
            for m in _EOL.finditer(data):
                self._emit(data[pos:m.start()], m.group() == b"\r", out)
                pos = m.end()
            rest = data[pos:]
        if self._skipping:
            return out
        self._buf += rest
        if len(self._buf) > self.max_bytes:
            out.append((self._buf[: self.max_bytes].decode("utf-8", "replace"), True, False))
            self._buf = b""
            self._skipping = True
        return out

    def _emit(self, piece: bytes, cr: bool, out: list[tuple[str, bool, bool]]) -> None:
        if self._skipping:
            self._skipping = False
            self._buf = b""
            return
        whole = self._buf + piece if self._buf else piece
        self._buf = b""
        if not self.split_cr and whole.endswith(b"\r"):
            whole = whole[:-1]
        if len(whole) > self.max_bytes:
            out.append((whole[: self.max_bytes].decode("utf-8", "replace"), True, cr))
        else:
            out.append((whole.decode("utf-8", "replace"), False, cr))

    def resync(self, mid_line: bool) -> None:
        """Bytes were left out before the next feed: the partial line is void, and when the cut fell
        inside a line (``mid_line``) the next bytes up to the first terminator are its rest: skipped,
        not passed on as a line."""
        self._buf = b""
        self._after_cr = False
        self._skipping = mid_line

    def flush(self) -> list[tuple[str, bool, bool]]:
        """End of stream: the unterminated last line, if any."""
        out = []
        if (self._buf or self._after_cr) and not self._skipping:
            out.append((self._buf.decode("utf-8", "replace"), False, self._after_cr))
        self._after_cr = False
        self._buf = b""
        self._skipping = False
        return out
