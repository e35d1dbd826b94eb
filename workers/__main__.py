"""``python -m workers``: one worker process (``tiergate up`` starts these; so does the Procfile).

gevent's monkey patching comes first, before anything imports sockets, ssl or threads (this package's
``__init__`` imports nothing): then every wait on a model (httpx), Redis, the database (psycopg; sqlite3's
calls are short) or a callback receiver yields to the other jobs instead of blocking the process.
"""
from gevent import monkey

monkey.patch_all()

from workers.loop import run_worker  # noqa: E402

run_worker()
