"""ImageView: a preview of the last output, with its path and upload URL.

By default the preview is :class:`HalfBlockPicture` (two pixels a cell, any terminal, no
terminal query).  With ``half_block=False`` and ``textual_image`` imported before the app
started (``sgl-console --images auto``), its sixel/kitty widget is used instead.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Label, Static

from tui.widgets.half_block_picture import HalfBlockPicture


class ImageView(Vertical):
    """Path and URL lines above the picture."""

    DEFAULT_CSS = """
    ImageView {
        height: 1fr;
        & > .path, & > .url { height: auto; width: 1fr; }
        & > .picture { height: 1fr; width: 1fr; }
        & > .picture > * { width: auto; height: 1fr; }
    }
    """

    def __init__(self, half_block: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.half_block = half_block
        self.path: str | None = None
        self.url: str | None = None

    def compose(self) -> ComposeResult:
        """Shows what arrived before the view was first shown (the console composes it then)."""
        yield Label(f"output: {self.path}" if self.path else "no output yet", classes="path", id="path", markup=False)
        yield Label(f"uploaded: {self.url}" if self.url else "", classes="url", id="url", markup=False)
        with Vertical(classes="picture", id="picture"):
            if self.path:
                yield self._preview(self.path)

    def _picture(self, path: str) -> Widget:
        if not path.lower().endswith((".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif")):
            return Static(f"(no preview for {os.path.basename(path)})")
        graphics = sys.modules.get("textual_image.widget")  # only if imported before the app started
        if self.half_block or graphics is None:
            return HalfBlockPicture(path)
        try:
            return graphics.Image(path)
        except Exception as exc:  # a broken file or a missing renderer: say so, never crash the view
            return Static(f"(cannot preview: {exc})")

    def _preview(self, path: str) -> Widget:
        return self._picture(path) if os.path.exists(path) else Static("(file not found yet)")

    def show_output(self, path: str) -> None:
        """A new output was saved: show its path and preview."""
        self.path = path
        if not self.is_mounted:
            return
        self.query_one("#path", Label).update(f"output: {path}")
        picture = self.query_one("#picture", Vertical)
        picture.remove_children()
        picture.mount(self._preview(path))

    def show_upload(self, path: str, url: str) -> None:
        self.url = url
        if self.is_mounted:
            self.query_one("#url", Label).update(f"uploaded: {url}")
