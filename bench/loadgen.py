"""An open-loop HTTP load generator: sends at a fixed rate whatever the server does.

Latency is measured from each request's *scheduled* send time, so a stalled server shows up in the
figures instead of quietly lowering the offered load (coordinated omission). Runs in its own process;
talks HTTP/1.1 keep-alive over a pool of connections on loopback only.
"""
from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    sent: int = 0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else float("nan")


async def _connection(host: str, port: int):
    return await asyncio.open_connection(host, port)


def _request_bytes(host: str, port: int, path: str, headers: dict[str, str], body: dict) -> bytes:
    payload = json.dumps(body).encode()
    head = (f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(payload)}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    return head + payload


async def _exchange(reader, writer, request: bytes) -> int:
    """Send one request on a keep-alive connection and read the whole answer; returns its status."""
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    status = int(status_line.split()[1])
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    await reader.readexactly(length)
    return status


def _record(result: LoadResult, status: int, started: float) -> None:
    result.latencies_ms.append((time.perf_counter() - started) * 1000)
    result.statuses[status] = result.statuses.get(status, 0) + 1
    if status >= 400:
        result.errors += 1


async def run_closed(host: str, port: int, path: str, headers: dict[str, str], body: dict, connections: int,
                     seconds: float) -> LoadResult:
    """Closed loop: ``connections`` clients, each sending its next request as soon as the last one is
    answered, for ``seconds``. Gives throughput (``sent / seconds``) at that concurrency."""
    request = _request_bytes(host, port, path, headers, body)
    result = LoadResult()
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        reader, writer = await _connection(host, port)
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                _record(result, await _exchange(reader, writer, request), started)
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                result.errors += 1
                writer.close()
                reader, writer = await _connection(host, port)
            result.sent += 1
        writer.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    return result


async def run_load(host: str, port: int, path: str, headers: dict[str, str], body: dict, rate: float,
                   seconds: float, connections: int = 64) -> LoadResult:
    request = _request_bytes(host, port, path, headers, body)
    pool: asyncio.Queue = asyncio.Queue()
    for _ in range(connections):
        pool.put_nowait(await _connection(host, port))
    result = LoadResult()

    async def one(scheduled: float) -> None:
        reader, writer = await pool.get()
        try:
            _record(result, await _exchange(reader, writer, request), scheduled)
            pool.put_nowait((reader, writer))
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            result.errors += 1
            writer.close()
            pool.put_nowait(await _connection(host, port))

    tasks = []
    start = time.perf_counter()
    interval = 1.0 / rate
    total = int(rate * seconds)
    for index in range(total):
        scheduled = start + index * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
        result.sent += 1
    await asyncio.gather(*tasks)
    while not pool.empty():
        _reader, writer = pool.get_nowait()
        writer.close()
    return result
