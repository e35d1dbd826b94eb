"""The RQ worker class: builds the app at start, so each job finds settings, store and policy ready.

It runs jobs in its own process (RQ's ``SimpleWorker``) instead of forking a work horse per job: a
fork costs 25–35 ms on these machines, more than the whole queue-latency budget of 10 ms, and the app
built at start (SDK clients, compiled policy) would be thrown away with every horse. What a fork would
buy, isolation from a job that crashes the interpreter, RQ's abandoned-job handling covers: a job
whose worker dies is found by another worker's maintenance run and retried.
"""
from __future__ import annotations

from rq import SimpleWorker

from workers.context import worker_app

# How often a worker cleans the registries, which is also how soon a job of a killed worker is
# noticed (RQ's default is 10 minutes).
MAINTENANCE_INTERVAL_SECONDS = 60


class TiergateWorker(SimpleWorker):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_INTERVAL_SECONDS)
        super().__init__(*args, **kwargs)
        worker_app()
