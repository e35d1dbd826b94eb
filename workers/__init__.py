"""RQ jobs and the worker process. Jobs are enqueued by dotted path, e.g. ``workers.jobs.run_fallback``."""
