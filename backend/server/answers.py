"""The shape of an error answer, one for every route and transport of ``serve`` (and its workers).

Why its own module: ``serve``, the dev routes and the attention-config reload (which runs where the
model lives, a worker included) all answer errors, and none of them may import the others back.
"""

from __future__ import annotations

from typing import Any

from backend.exit_codes import ExitCode


def error_answer(status: int, message: str, code: ExitCode, client_id: Any = None) -> tuple[int, dict[str, Any]]:
    """``(status, {"id", "error": {"message", "type", "code"}})``; ``code`` names the failure."""
    return status, {"id": client_id, "error": {"message": message, "type": code.name.lower(), "code": int(code)}}
