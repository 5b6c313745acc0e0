"""The run engine: one lifecycle of a run, shared by the TUI and ``sgl-console run``.

Rooms: ``events`` (what the engine tells its face), ``masking`` (secrets out of the child's
bytes), ``child`` (how a child is spawned so it dies with us), ``pump`` (bytes -> lines ->
router, off the read path), ``run`` (the lifecycle and the dispatcher thread).

Imports neither textual nor rich; nothing is imported here so that ``tui.supervisor`` can
use the small modules without pulling in the whole engine.
"""
