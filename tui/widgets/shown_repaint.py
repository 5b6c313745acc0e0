"""ShownRepaint: a widget that a run updates while another view is showing repaints when shown.

Why: a repaint asked for by a widget that is not on screen still takes the screen's next frame
(Textual draws nothing, but the frame is spent), so the update that is on screen waits for the
frame after: a kernel API call written to a followed file reached the screen a frame late
whenever its lines (for the hidden Output view's status) were handled first.  Hidden, these
widgets only remember that they changed; their first ``Show`` draws them.
"""

from __future__ import annotations

from textual.widget import Widget


class ShownRepaint(Widget):
    """Call :meth:`repaint` instead of ``refresh``; override :meth:`catch_up` for more than a repaint."""

    _stale = False

    def repaint(self) -> bool:
        """Repaint now if on screen, else at the next ``Show``; True when it repainted now."""
        if self.is_mounted and self.is_on_screen:
            self.refresh()
            return True
        self._stale = True
        return False

    def catch_up(self) -> None:
        """What a change while hidden needs once shown (a repaint; a table also scrolls)."""
        self.refresh()

    def on_show(self) -> None:
        if self._stale:
            self._stale = False
            self.catch_up()
