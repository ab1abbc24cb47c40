"""Load test of `seq2seq serve` on loopback: N concurrent clients for a bounded time, with and without
micro-batching. Prints requests/s and p50/p95/p99 latency as a Markdown table.

    .venv/bin/python bench/load.py --model checkpoints/multi30k-en-de [--clients 1 32] [--seconds 20]

Each client sends one sentence per request (Multi30k test_2016_flickr sources, round robin), waits for the
answer, and sends the next. The server runs in a subprocess bound to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def drive(url: str, sentences: list[str], clients: int, seconds: float, beam: int) -> tuple[float, list]:
    latencies: list[float] = []
    stop = time.perf_counter() + seconds

    async def client(k: int):
        async with httpx.AsyncClient(timeout=60) as http:
            i = k
            while time.perf_counter() < stop:
                tic = time.perf_counter()
                r = await http.post(url + "/translate", json={"text": sentences[i % len(sentences)], "beam": beam})
                r.raise_for_status()
                latencies.append(time.perf_counter() - tic)
                i += clients

    start = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return len(latencies) / (time.perf_counter() - start), latencies


def pct(xs: list[float], q: float) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] * 1000 if len(xs) > 1 else xs[0] * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="checkpoints/multi30k-en-de")
    ap.add_argument("--src", default="../shared/data/multi30k/task1/raw/test_2016_flickr.en")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--beam", type=int, default=5)
    args = ap.parse_args()
    sentences = Path(args.src).read_text().splitlines()
    rows = []
    for batching in (True, False):
        port = free_port()
        cmd = [sys.executable, "-m", "seq2seq", "serve", "--model", args.model, "--port", str(port), "--device", "cpu"]
        if not batching:
            cmd.append("--no-batching")
        proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if httpx.get(url + "/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            for n in args.clients:
                rps, lat = asyncio.run(drive(url, sentences, n, args.seconds, args.beam))
                rows.append((batching, n, rps, pct(lat, 50), pct(lat, 95), pct(lat, 99)))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"\n{args.model}, beam {args.beam}, one sentence per request, {args.seconds:.0f} s per row\n")
    print("| micro-batching | clients | requests/s | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|---|")
    for b, n, rps, p50, p95, p99 in rows:
        print(f"| {'on' if b else 'off'} | {n} | {rps:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} |")


if __name__ == "__main__":
    main()
