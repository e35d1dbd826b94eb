"""After an answer is delivered: listeners the runners tell, so a feature built on delivered answers
(the shadow sampler) hooks in without the runners importing it.

The task runner (``app.tasks.runner``) and the list runner (``app.classify.service``) call
``delivered`` once a request's outcome is stored and its callback queued; a listener that fails is
logged and never fails the request.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from app.execution.runtime import Runtime

log = logging.getLogger(__name__)

Listener = Callable[["Runtime", str, str], None]  # (runtime, request id, task type)
_LISTENERS: dict[str, Listener] = {}


def on_delivered(name: str, listener: Listener) -> None:
    """Call ``listener(rt, request_id, task_type)`` after every delivered answer."""
    _LISTENERS[name] = listener


def delivered(rt: "Runtime", request_id: str, task_type: str) -> None:
    for name, listener in _LISTENERS.items():
        try:
            listener(rt, request_id, task_type)
        except Exception:
            log.exception("after-delivery listener %s failed for request %s", name, request_id)
