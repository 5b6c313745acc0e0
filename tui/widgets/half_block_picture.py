"""HalfBlockPicture: an image drawn with ``▀`` cells (two pixels a cell), in any terminal.

Why our own and not ``textual_image``'s half-cell widget: importing ``textual_image`` queries
the terminal for sixel/kitty support, which is only possible before Textual owns the
terminal; imported later (when the first image arrives) the query blocks the UI.  This widget
needs no query, works over any SSH link and in 16 colours (the nearest colour is used), and
is the default.  ``sgl-console --images auto`` imports ``textual_image`` before the app
starts and uses its sixel/kitty rendering instead.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widget import Widget


class HalfBlockPicture(Widget):
    """The picture at ``path``, scaled to fit the widget and keeping its aspect ratio."""

    DEFAULT_CSS = """
    HalfBlockPicture { width: 1fr; height: 1fr; }
    """

    def __init__(self, path: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.path = path
        self._rows: list[Strip] = []
        self._built_for: tuple[int, int] | None = None

    def _build(self, width: int, height: int) -> list[Strip]:
        from PIL import Image

        with Image.open(self.path) as img:
            rgb = img.convert("RGB")
        scale = min(width / rgb.width, (height * 2) / rgb.height)
        w, h = max(1, int(rgb.width * scale)), max(2, int(rgb.height * scale) // 2 * 2)
        pixels = rgb.resize((w, h), Image.Resampling.NEAREST).load()
        assert pixels is not None
        rows = []
        for y in range(0, h - 1, 2):
            segments = []
            for x in range(w):
                top: Any = pixels[x, y]
                bottom: Any = pixels[x, y + 1]
                style = Style(color=f"rgb({top[0]},{top[1]},{top[2]})",
                              bgcolor=f"rgb({bottom[0]},{bottom[1]},{bottom[2]})")
                segments.append(Segment("▀", style))
            rows.append(Strip(segments, w))
        return rows

    def render_line(self, y: int) -> Strip:
        size = (self.size.width, self.size.height)
        if size != self._built_for:
            self._built_for = size
            try:
                self._rows = self._build(*size) if min(size) > 0 else []
            except (OSError, ValueError) as exc:  # a broken or half-written file: say so, never crash
                self._rows = [Strip([Segment(f"(cannot preview: {exc})")])]
        return self._rows[y] if y < len(self._rows) else Strip.blank(self.size.width)
