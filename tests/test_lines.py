"""tui.lines: bytes to lines, independent of read boundaries, capped, for pipes and for files."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tui.lines import LineSplitter


class TestLineSplitter:
    def test_crlf_split_across_reads_and_cap(self) -> None:
        sp = LineSplitter(max_bytes=8)
        assert sp.feed(b"ab\r") == []  # \r\n or a bare \r? the next read tells
        assert sp.feed(b"\ncd\r") == [("ab", False, False)]
        assert sp.feed(b"x\n") == [("cd", False, True), ("x", False, False)]
        assert sp.feed(b"0123456789") == [("01234567", True, False)]
        assert sp.feed(b"more\nok\n") == [("ok", False, False)]  # the rest of the long line is skipped
        assert sp.feed(b"tail") == [] and sp.flush() == [("tail", False, False)]

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=120).map(lambda b: bytes(b"ab\n\r\xff"[x % 5] for x in b)),
           st.lists(st.integers(0, 120), max_size=6))
    def test_splitting_does_not_depend_on_read_boundaries(self, data: bytes, cuts: list[int]) -> None:
        def split(chunks: list[bytes]) -> list[tuple[str, bool, bool]]:
            sp = LineSplitter(max_bytes=8)
            out = [line for c in chunks for line in sp.feed(c)] + sp.flush()
            # A cut line is emitted when it overflows, before its terminator is known.
            return [(t, tr, cr and not tr) for t, tr, cr in out]

        points = sorted({min(c, len(data)) for c in cuts})
        chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
        assert split(chunks) == split([data])

    def test_files_split_on_newline_only(self) -> None:
        sp = LineSplitter(max_bytes=64, split_cr=False)
        assert sp.feed(b"50%|#  | 4/8\r 62%|## | 5/8\r\nnext") == [("50%|#  | 4/8\r 62%|## | 5/8", False, False)]
        assert sp.feed(b"\r") == [] and sp.feed(b"\n") == [("next", False, False)]
