"""Child processes that die with the process that started them, whatever kills it.

``tiergate up`` starts gunicorn, the workers and the embedded Redis each in a session of its own (so a
terminal's Ctrl-C reaches only the supervisor, which stops them in order). A SIGKILLed supervisor runs
no cleanup, so each child asks the kernel for a signal when its parent goes (Linux ``PR_SET_PDEATHSIG``);
otherwise an orphaned gunicorn kept the port and served unsupervised.
"""
from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Callable

PR_SET_PDEATHSIG = 1


def dies_with_parent(sig: signal.Signals = signal.SIGTERM) -> Callable[[], None] | None:
    """A ``preexec_fn`` for ``subprocess.Popen``: the child gets ``sig`` when this process exits (even by
    SIGKILL). SIGTERM lets gunicorn and RQ stop their own children. None where Linux's prctl is missing."""
    if not sys.platform.startswith("linux"):
        return None
    parent = os.getpid()

    def _arm() -> None:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os.kill(os.getpid(), sig)

    return _arm
