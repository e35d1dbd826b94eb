"""The RQ worker class: builds the app at start, so each job finds settings, store and policy ready."""
from __future__ import annotations

from rq import Worker

from workers.context import reset_after_fork, worker_app


class TiergateWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        worker_app()

    def main_work_horse(self, *args, **kwargs):
        reset_after_fork()
        return super().main_work_horse(*args, **kwargs)
