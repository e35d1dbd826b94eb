"""Gateway overhead of POST /v1/chat/completions and /v1/responses over calling the model API directly,
streamed and not.

Starts the fake Messages API (its own process) and ``tiergate up`` (gunicorn, embedded Redis, SQLite)
pointed at it; with ``--litellm PATH`` also LiteLLM's proxy (``PATH`` is its ``litellm`` executable,
installed in a venv of its own, never a dependency of Tiergate) pointed at the same fake. Then,
sequentially and closed-loop on keep-alive connections, interleaved so that noise hits every column:

* direct:   POST /v1/messages to the fake (what the provider call costs by itself);
* Tiergate: POST /v1/chat/completions, model ``tiergate/tier1`` (auth, routing on the conversation,
  decision and ledger writes, the cascade with its gate, the Anthropic SDK call, translation);
* Responses: POST /v1/responses, the same call in the Responses API's format (its own stream events);
* LiteLLM:  POST /v1/chat/completions on the proxy, the same model on the same fake.

Each once plain and once with ``stream: true``; for streams, time to first token (the first text delta)
and to the end. Overhead = the median (and p99) of the gateway minus the direct figure.
Target (docs/architecture.md, "Performance targets"): under 5 ms added at the median, first token included.

With ``--live`` the policy streams live (``gateway.stream: live``): tokens are relayed as the model writes
them instead of after the gates.

Run: .venv/bin/python bench/gateway_overhead.py [--requests 200] [--live] [--litellm /tmp/litellm-venv/bin/litellm]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.harness import free_port, percentile, wait_ready  # noqa: E402

MODEL = "claude-haiku-4-5"
PROMPT = "Write one friendly sentence that welcomes our new colleague Ada to the support team."
WARMUP_REQUESTS = 20
LITELLM_MASTER_KEY = "sk-bench-" + "0" * 32  # the proxy refuses to start without one


def timed(client: requests.Session, url: str, body: dict, headers: dict, stream: bool) -> tuple[float, float]:
    """(ms to the first text delta, ms to the end); for a plain call both are the full time."""
    started = time.perf_counter()
    if not stream:
        response = client.post(url, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text[:300]
        response.json()
        total = (time.perf_counter() - started) * 1000
        return total, total
    first = None
    with client.post(url, json=body, headers=headers, stream=True, timeout=30) as response:
        assert response.status_code == 200, response.text[:300]
        for line in response.iter_lines(decode_unicode=True):
            if first is None and _has_text(line):
                first = (time.perf_counter() - started) * 1000
    total = (time.perf_counter() - started) * 1000
    assert first is not None, "the stream carried no text"
    return first, total


def _has_text(line: str) -> bool:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return False
    data = json.loads(line[6:])
    if data.get("type") == "content_block_delta":
        return bool(data["delta"].get("text"))
    if data.get("type") == "response.output_text.delta":
        return bool(data["delta"])
    choices = data.get("choices") or []
    return bool(choices and (choices[0].get("delta") or {}).get("content"))


def start_litellm(executable: str, fake_url: str, port: int, data_dir: Path) -> subprocess.Popen:
    config = data_dir / "litellm.yaml"
    config.write_text(json.dumps({"model_list": [{"model_name": MODEL, "litellm_params": {
        "model": f"anthropic/{MODEL}", "api_base": fake_url, "api_key": "bench-key"}}],
        "general_settings": {"master_key": LITELLM_MASTER_KEY}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    return subprocess.Popen([executable, "--config", str(config), "--port", str(port), "--num_workers", "1"],
                            env=env, stdout=(data_dir / "litellm.log").open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def report(name: str, direct: list[tuple[float, float]], other: list[tuple[float, float]], stream: bool) -> None:
    d_first, d_total = [x[0] for x in direct], [x[1] for x in direct]
    o_first, o_total = [x[0] for x in other], [x[1] for x in other]
    added = statistics.median(o_total) - statistics.median(d_total)
    line = (f"  {name:<10} total median {statistics.median(o_total):6.2f} ms (direct {statistics.median(d_total):.2f}),"
            f" added median {added:6.2f} ms, p99 {percentile(o_total, 0.99) - percentile(d_total, 0.99):6.2f} ms")
    if stream:
        line += (f"; first token median {statistics.median(o_first):6.2f} ms (direct {statistics.median(d_first):.2f}),"
                 f" added {statistics.median(o_first) - statistics.median(d_first):6.2f} ms")
    print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--litellm", help="path of a `litellm` executable to compare with (separate venv)")
    parser.add_argument("--live", action="store_true", help="policy gateway.stream: live (ungated token relay)")
    args = parser.parse_args()

    data_dir = Path(tempfile.mkdtemp(prefix="tiergate-bench-gateway-"))
    fake_port, port, litellm_port = free_port(), free_port(), free_port()
    fake_url = f"http://127.0.0.1:{fake_port}"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    env.update(TIERGATE_DATA_DIR=str(data_dir), ANTHROPIC_API_KEY="bench-key", ANTHROPIC_BASE_URL=fake_url,
               PYTHONPATH=str(ROOT))
    if args.live:
        policy = (ROOT / "app" / "policy" / "default.yaml").read_text().replace("  stream: gated", "  stream: live")
        (data_dir / "policy.yaml").write_text(policy)
        env["TIERGATE_POLICY"] = str(data_dir / "policy.yaml")
    processes = [subprocess.Popen([sys.executable, "-m", "tests.support.fake_anthropic", "--port", str(fake_port)],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, start_new_session=True)]
    log = data_dir / "up.log"
    processes.append(subprocess.Popen([sys.executable, "-m", "app.cli", "up", "--port", str(port), "--workers", "1"],
                                      cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                                      start_new_session=True))
    if args.litellm:
        processes.append(start_litellm(args.litellm, fake_url, litellm_port, data_dir))
    try:
        wait_ready(f"http://127.0.0.1:{port}/readyz")
        if args.litellm:
            wait_ready(f"http://127.0.0.1:{litellm_port}/health/liveliness", seconds=180)
        key = re.search(r"admin API key \(shown once, store it now\): (tg_\S+)", log.read_text()).group(1)
        messages = [{"role": "user", "content": PROMPT}]
        targets = {
            "direct": (f"{fake_url}/v1/messages", {"model": MODEL, "max_tokens": 300, "messages": messages},
                       {"x-api-key": "bench-key", "anthropic-version": "2023-06-01"}),
            "Tiergate": (f"http://127.0.0.1:{port}/v1/chat/completions", {"model": "tiergate/tier1", "messages": messages},
                         {"Authorization": f"Bearer {key}"}),
            "Responses": (f"http://127.0.0.1:{port}/v1/responses", {"model": "tiergate/tier1", "input": PROMPT},
                          {"Authorization": f"Bearer {key}"}),
        }
        if args.litellm:
            targets["LiteLLM"] = (f"http://127.0.0.1:{litellm_port}/v1/chat/completions",
                                  {"model": MODEL, "messages": messages, "max_tokens": 300},
                                  {"Authorization": f"Bearer {LITELLM_MASTER_KEY}"})
        with requests.Session() as client:
            for stream in (False, True):
                samples: dict[str, list[tuple[float, float]]] = {name: [] for name in targets}
                for index in range(WARMUP_REQUESTS + args.requests):
                    for name, (url, body, headers) in targets.items():
                        result = timed(client, url, {**body, "stream": stream}, headers, stream)
                        if index >= WARMUP_REQUESTS:
                            samples[name].append(result)
                print(f"{'streamed' if stream else 'plain'} ({args.requests} calls each):")
                for name in targets:
                    if name != "direct":
                        report(name, samples["direct"], samples[name], stream)
    finally:
        for process in reversed(processes):
            os.killpg(process.pid, signal.SIGINT)
        for process in reversed(processes):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
