"""VarField: the editor of one registry variable, the right widget for its kind.

Why one widget for every kind: the panes are generated from the registry with no
second list of variables, so each entry must be able to draw itself.  The registry
decides the editor (``kind.widget``), the default shown, what is allowed and how a
value parses; this widget only displays that and reports edits upward.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Input, Select, Static, Switch

from backend.envs import (
    EnumKind,
    EnvError,
    EnvVar,
    IntKind,
    LevelKind,
    OneKind,
    mask_url_userinfo,
    strict_mode,
)
from backend.envs.settings import read_value


class VarField(Vertical, can_focus=False):
    """One variable: name, default, editor, and the validation message under it."""

    DEFAULT_CSS = """
    VarField {
        height: auto;
        margin-bottom: 1;
        & > .head { height: 2; width: 1fr; }
        & > .editor { width: 1fr; max-width: 64; }
        & > Switch.editor { border: none; height: 1; padding: 0; width: 10; }
        & > .message { height: auto; display: none; }
        &.-invalid > .message, &.-warning > .message { display: block; }
    }
    """

    BINDINGS = [
        Binding("ctrl+r", "reset", "Reset field", tooltip="Reset this variable to its default"),
        Binding("ctrl+g", "reveal", "Reveal", show=False, tooltip="Show or hide a secret value"),
    ]

    class Changed(Message):
        """The operator edited the field; ``raw`` None means unset (back to default)."""

        def __init__(self, field: VarField, name: str, raw: str | None, error: str | None) -> None:
            super().__init__()
            self.field = field
            self.name = name
            self.raw = raw
            self.error = error
            """The validation message when ``raw`` does not parse (then it is not stored)."""

        @property
        def control(self) -> VarField:
            return self.field

    raw: reactive[str | None] = reactive(None, init=False)
    """The session's string for this variable, or None when unset."""
    inherited: reactive[str] = reactive("", init=False)
    """The value shown greyed while a secondary field is unset (its primary's value)."""
    revealed: reactive[bool] = reactive(False, init=False)
    """A secret is shown in clear only after an explicit key press."""

    def __init__(self, var: EnvVar[Any], raw: str | None = None, *, present: bool = True,
                 inherited: str = "", warning: str = "", runtime_note: str = "",
                 light_select: bool = False) -> None:
        """Args:
            var: the registry entry.
            raw: the session's current string, None when unset.
            present: False when the variable's platform is absent on this host.
            inherited: display value of the primary twin for secondary fields.
            warning: a non-blocking problem to show under the field.
            runtime_note: what the runtime in force does with it when that is nothing
                ("not read by sglang 0.5.23; ..."), shown in the field's head.
            light_select: a pick-one field starts as a one-line look-alike of the picker and
                becomes the real ``Select`` at :meth:`complete` (the first frame's fields: two
                ``Select`` widgets, each an option list and an overlay, were a third of start-up).
        """
        self.var = var
        self._runtime_note = runtime_note
        self._present = present
        self._warning = warning
        self._echo: object = _NONE
        """The editor value we set from code; its Changed event is an echo, not an edit."""
        self._light_select = light_select
        self.error: str | None = self._validate(raw)
        """The validation message of the text being typed, None when it parses."""
        # State classes are known now: setting them before mount spares a restyle per class.
        super().__init__(id=f"field-{var.name}", classes=" ".join(["var-field", *self._state_classes(raw)]))
        self.set_reactive(VarField.raw, raw)
        self.set_reactive(VarField.inherited, inherited)

    # ---- composition -----------------------------------------------------------------
    def compose(self) -> ComposeResult:
        yield _Head(self.var, self._present, classes="head", runtime_note=self._runtime_note)
        yield self._make_editor()
        yield Static("", classes="message", markup=False)

    def _make_editor(self) -> Widget:
        kind = self.var.kind
        if kind.widget == "switch":
            return Switch(value=self._switch_value(), classes="editor", id="editor")
        if kind.widget == "select" or (isinstance(kind, IntKind) and kind.choices) or isinstance(kind, LevelKind):
            choices: tuple[Any, ...] = kind.levels if isinstance(kind, LevelKind) else (
                kind.choices if isinstance(kind, (EnumKind, IntKind)) else ())
            options = [(str(c), str(c)) for c in choices]
            if self.raw and not self.error and not any(v == self.raw for _, v in options):
                options.append((f"{self.raw} (not documented; accepted by the runtime)", self.raw))
            value = self._select_value(options)
            if self._light_select:
                shown = next((label for label, v in options if v == value), None)
                return SelectLookAlike(shown or self._placeholder(), shown is not None)
            return Select(options, value=value, prompt=self._placeholder(), allow_blank=True,
                          compact=True, classes="editor", id="editor")
        return Input(value=self.raw or "", placeholder=self._placeholder(), password=self._hidden(self.raw),
                     compact=True, classes="editor", id="editor", select_on_focus=False)

    def _placeholder(self) -> str:
        if self.var.inherits_from:
            return f"inherits {self.inherited or '?'} from {self.var.inherits_from.removeprefix('SGLANG_')}"
        if self.var.secret:
            return "unset (boto3 credential chain)" if "ACCESS_KEY_ID" in self.var.name else "unset"
        return "unset: the default applies"

    def _switch_value(self) -> bool:
        text = self.raw if self.raw is not None else (
            self.inherited if self.var.inherits_from else self.var.format(self.var.default_value()))
        try:
            return bool(read_value(self.var, text, strict_mode()).value) if text else False
        except EnvError:
            return False

    def _select_value(self, options: list[tuple[str, str]]) -> Any:
        if self.raw is None:
            return Select.NULL
        try:
            value = str(read_value(self.var, self.raw, strict_mode()).value)
        except EnvError:
            return Select.NULL
        for candidate in (value, self.raw):
            if any(v == candidate for _, v in options):
                return candidate
        return Select.NULL

    @property
    def editor(self) -> Widget:
        return self.query_one("#editor")

    async def complete(self) -> None:
        """Put the real picker in place of its look-alike (``light_select``), built from the value now."""
        if not self._light_select:
            return
        self._light_select = False
        stand_in = self.editor
        if isinstance(stand_in, SelectLookAlike):
            await stand_in.remove()
            await self.mount(self._make_editor(), after=self.query_one(_Head))

    def on_mount(self) -> None:
        self.tooltip = f"{self.var.doc}\nallowed: {self.var.kind.allowed()}"
        self._show_state()

    # ---- state -----------------------------------------------------------------------
    _STATE_CLASSES = ("-inherited", "-set", "-invalid", "-warning", "-problem-error", "-no-effect")

    def _state_classes(self, raw: str | None) -> list[str]:
        found = []
        if self.var.inherits_from is not None and raw is None:
            found.append("-inherited")
        if raw is not None:
            found.append("-set")
        if self.error is not None:
            found.append("-invalid")
        elif self._warning:
            found.append("-warning")
            if self._warning.startswith("error:"):
                found.append("-problem-error")
        if not self._present:
            found.append("-no-effect")
        return found

    def _show_state(self) -> None:
        """Refresh classes and the message from ``raw``, ``error`` and ``inherited`` (one restyle at most)."""
        wanted = set(self._state_classes(self.raw))
        add = [c for c in wanted if not self.has_class(c)]
        remove = [c for c in self._STATE_CLASSES if c not in wanted and self.has_class(c)]
        if remove:
            self.remove_class(*remove, update=not add)
        if add:
            self.add_class(*add)
        message = self.query_one(".message", Static)
        text = self.error or self._warning
        if str(message.content) != text:
            message.update(text)

    def set_warning(self, text: str) -> None:
        """A problem from the session checks (cross-variable rules) shown under the field."""
        if text != self._warning:
            self._warning = text
            if self.is_mounted:
                self._show_state()

    def watch_inherited(self) -> None:
        if not self.is_mounted:
            return
        editor = self.editor
        if isinstance(editor, Input):
            editor.placeholder = self._placeholder()
        elif isinstance(editor, Select):
            editor.prompt = self._placeholder()
        elif isinstance(editor, Switch) and self.raw is None:
            self._set_editor(editor, self._switch_value())

    def watch_raw(self) -> None:
        """A value set from outside (load, reset): show it in the editor without echoing an edit."""
        if not self.is_mounted:
            return
        editor = self.editor
        if isinstance(editor, Input):
            self._set_editor(editor, self.raw or "")
            self._sync_password()
        elif isinstance(editor, Switch):
            self._set_editor(editor, self._switch_value())
        elif isinstance(editor, Select):
            choices = [(str(c), str(c)) for c in getattr(self.var.kind, "choices", ())]
            self._set_editor(editor, self._select_value(choices))
        self.error = self._validate(self.raw)
        self._show_state()

    def _hidden(self, raw: str | None) -> bool:
        """Whether the editor shows dots: a secret, or a URL carrying a password (``http://u:pw@host``)."""
        if self.revealed:
            return False
        return self.var.secret or bool(raw) and mask_url_userinfo(raw or "") != raw

    def _sync_password(self) -> None:
        if self.is_mounted:
            for editor in self.query(Input):
                editor.password = self._hidden(self.raw)

    def watch_revealed(self, revealed: bool) -> None:
        self._sync_password()

    def _set_editor(self, editor: Any, value: Any) -> None:
        """Show ``value`` in the editor; the Changed event that follows is marked as an echo."""
        if editor.value != value:
            self._echo = value
            editor.value = value

    def _is_echo(self, value: Any) -> bool:
        if self._echo is not _NONE and value == self._echo:
            self._echo = _NONE
            return True
        return False

    def _validate(self, raw: str | None) -> str | None:
        """Validation as you type, by the registry's own reading (upstream, or strict under
        ``--strict``); the widget never parses."""
        if raw is None or raw == "":
            return None
        try:
            read_value(self.var, raw, strict_mode())
        except EnvError as exc:
            return str(exc)
        return None

    def _edited(self, raw: str | None) -> None:
        raw = raw if raw != "" else None
        self.error = self._validate(raw)
        self.set_reactive(VarField.raw, raw)
        self._sync_password()
        self._show_state()
        self.post_message(self.Changed(self, self.var.name, raw, self.error))

    # ---- events from the editor ------------------------------------------------------
    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        if not self._is_echo(event.value):
            self._edited(event.value)

    def on_switch_changed(self, event: Switch.Changed) -> None:
        event.stop()
        if self._is_echo(event.value):
            return
        if isinstance(self.var.kind, OneKind):
            self._edited("1" if event.value else None)
        else:
            self._edited(self.var.format(event.value))

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value
        if self._is_echo(value):
            return
        self._edited(None if value is Select.NULL or value is None else str(value))

    # ---- actions ---------------------------------------------------------------------
    def action_reset(self) -> None:
        """Back to the default (or, for a secondary field, to inheriting its primary)."""
        self.error = None
        self.raw = None
        self.watch_raw()
        self.post_message(self.Changed(self, self.var.name, None, None))

    def action_reveal(self) -> None:
        if self.revealed or self._hidden(self.raw):
            self.revealed = not self.revealed
            self.notify("secret shown" if self.revealed else "secret hidden", timeout=2)


_NONE = object()


class _Head(Widget):
    """``NAME  default: X  [no effect on this host]`` over the one-line doc (one widget, not four:
    styling widgets is most of the start-up time)."""

    COMPONENT_CLASSES = {"head--name", "head--default", "head--badge", "head--doc"}

    def __init__(self, var: EnvVar[Any], present: bool, classes: str, runtime_note: str = "") -> None:
        super().__init__(classes=classes)
        self.var = var
        self.present = present
        self.runtime_note = runtime_note

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(self.var.name, style=self.get_component_rich_style("head--name"))
        text.append(f"  default: {self.var.describe_default()}", style=self.get_component_rich_style("head--default"))
        if self.var.origin != "spec":
            text.append(f"  [{self.var.origin}]", style=self.get_component_rich_style("head--default"))
        if not self.present:
            text.append("  no effect on this host", style=self.get_component_rich_style("head--badge"))
        if self.runtime_note:
            text.append(f"  {self.runtime_note}", style=self.get_component_rich_style("head--badge"))
        doc = Text("  " + self.var.doc, style=self.get_component_rich_style("head--doc"), no_wrap=True,
                   overflow="ellipsis")
        doc.truncate(max(1, self.size.width), overflow="ellipsis")
        text.truncate(max(1, self.size.width), overflow="ellipsis")
        return Text("\n").join([text, doc])


class SelectLookAlike(Widget):
    """What a compact ``Select`` draws (its value, or its prompt dimmed, and the arrow), as one widget
    that takes no focus: the first frame's stand-in until :meth:`VarField.complete`."""

    DEFAULT_CSS = """
    SelectLookAlike {
        height: 1;
        padding: 0 1 0 0;
        color: $foreground 50%;
        &.-has-value { color: $foreground; }
    }
    """

    def __init__(self, label: str, has_value: bool) -> None:
        super().__init__(classes="editor -has-value" if has_value else "editor", id="editor")
        self.label = label

    def render(self) -> Text:
        width = max(1, self.content_region.width - 2)
        text = Text(self.label, no_wrap=True, overflow="ellipsis", end="")
        text.truncate(width, overflow="ellipsis", pad=True)
        text.append(" ▼", style="dim")
        return text
