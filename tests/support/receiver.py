"""A callback receiver standing in for an n8n Wait node or a Zapier Catch Hook: records every POST."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


class _Server(ThreadingHTTPServer):
    # Hundreds of callbacks may arrive at once (the benchmarks, the outage tests); the default backlog of
    # 5 would make the kernel drop connections and the sender retry them a second later.
    request_queue_size = 1024
    daemon_threads = True


class CallbackReceiver:
    def __init__(self, statuses: list[int] | None = None):
        self.deliveries: list[Delivery] = []
        self.statuses = list(statuses or [])
        self._arrived = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                status = outer.statuses.pop(0) if outer.statuses else 200
                with outer._arrived:  # recorded before answering, so the sender never sees an unrecorded POST
                    outer.deliveries.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    outer._arrived.notify_all()
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = _Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[Delivery]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.deliveries) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"expected {count} callback(s), got {len(self.deliveries)}")
                self._arrived.wait(left)
        return list(self.deliveries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
