"""The worker process's main loop (``python -m workers`` patches for gevent, then runs ``run_worker``).

Runs the RQ work loop (built and restarted with backoff if Redis goes away: the process never exits for it) and
the sweeper beside it.
"""
import logging
import time

from gevent.pool import Pool

# Waiting between restarts of the work loop after Redis went away: doubled each time, up to the max.
RESTART_BACKOFF_SECONDS = 1.0
RESTART_BACKOFF_MAX_SECONDS = 30.0


def run_worker() -> None:
    from app.config import load_settings
    from app.execution.queue import connect, resolve_redis_url
    from app.execution.sweeper import sweep_forever
    from app.web.serve import freeze_loaded_objects
    from workers.context import worker_runtime
    from workers.worker import JOB_CONCURRENCY, TiergateWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    connection = connect(resolve_redis_url(settings))
    pool = Pool(JOB_CONCURRENCY)
    sweep_forever(worker_runtime())
    # What the runtime loaded (~144,000 objects: the router's weights, the SDKs' types) lives as long as the
    # process: kept out of full collections, which otherwise paused every job in flight for 60-70 ms.
    freeze_loaded_objects()
    backoff = RESTART_BACKOFF_SECONDS
    while True:
        worker = None
        started = time.monotonic()
        try:
            # Built inside the ``try``: RQ's constructor talks to Redis, so an outage while (re)starting
            # is one more reason to wait and start again, never to exit.
            worker = TiergateWorker([settings.queue_name], connection=connection, pool=pool)
            worker.work()
        except Exception as exc:  # Redis gone while starting or working: wait and start again
            logging.getLogger(__name__).warning("worker loop stopped: %s: %s", type(exc).__name__, exc)
        if worker is not None and (worker._stop_requested or worker._shutdown_requested_date is not None):
            return  # SIGTERM / SIGINT
        if time.monotonic() - started > 60:
            backoff = RESTART_BACKOFF_SECONDS
        time.sleep(backoff)
        backoff = min(backoff * 2, RESTART_BACKOFF_MAX_SECONDS)

