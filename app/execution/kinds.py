"""How each stored kind of request is resumed after its process died: a registry, not a list.

A kind (``fallback``, ``classify``, ``gateway``, ``rerun``, whatever comes next) registers the function
that puts a stored request of that kind back on the queue; the sweeper resumes every overdue row
through it and keeps no list of its own. A kind nobody registered is never picked up by the sweeper's
window (``app.execution.lifecycle.overdue`` asks for the registered kinds only).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from app.execution.runtime import Runtime

Resume = Callable[["Runtime", str], bool]
_RESUME: dict[str, Resume] = {}


def register(kind: str, resume: Resume) -> None:
    """``resume(rt, request_id)`` queues a stored request of ``kind`` again; False when Redis is away."""
    _RESUME[kind] = resume


def registered() -> tuple[str, ...]:
    return tuple(_RESUME)


def resume(rt: "Runtime", kind: str, request_id: str) -> bool:
    return _RESUME[kind](rt, request_id)
