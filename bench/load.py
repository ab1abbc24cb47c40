"""Load test of `seq2seq serve` on loopback: light clients (one sentence per request, waiting for each answer)
for a bounded time, with and without micro-batching, and optionally next to heavy clients that keep sending
large requests. Prints requests/s and p50/p95/p99 latency of the light clients as a Markdown table.

    .venv/bin/python bench/load.py --model checkpoints/multi30k-en-de [--clients 1 32] [--seconds 20]
    .venv/bin/python bench/load.py --clients 8 --heavy 1 --batching on --seconds 20   # one heavy client's effect

Light requests are Multi30k test_2016_flickr sources, round robin. A heavy request is `--heavy-texts` texts of
`--heavy-join` sentences each at beam `--heavy-beam`. The server runs in a subprocess bound to 127.0.0.1 only
(the code on PYTHONPATH, so the same script can measure another checkout).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
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


async def drive(url: str, sentences: list[str], clients: int, seconds: float, beam: int, heavy: int,
                heavy_body: dict) -> tuple[float, list, collections.Counter]:
    latencies: list[float] = []
    heavy_status: collections.Counter = collections.Counter()
    stop = time.perf_counter() + seconds

    async def light(k: int):
        async with httpx.AsyncClient(timeout=120) as http:
            i = k
            while time.perf_counter() < stop:
                tic = time.perf_counter()
                r = await http.post(url + "/translate", json={"text": sentences[i % len(sentences)], "beam": beam})
                r.raise_for_status()
                latencies.append(time.perf_counter() - tic)
                i += clients

    async def heavy_client():
        async with httpx.AsyncClient(timeout=120) as http:
            while time.perf_counter() < stop:
                r = await http.post(url + "/translate", json=heavy_body)
                heavy_status[r.status_code] += 1
                if r.status_code == 503:
                    await asyncio.sleep(float(r.headers.get("retry-after", 1)))

    start = time.perf_counter()
    tasks = [light(k) for k in range(clients)] + [heavy_client() for _ in range(heavy)]
    await asyncio.gather(*tasks)
    return len(latencies) / (time.perf_counter() - start), latencies, heavy_status


def pct(xs: list[float], q: int) -> float:
    return statistics.quantiles(xs, n=100)[q - 1] * 1000 if len(xs) > 1 else xs[0] * 1000


def serve(model: str, batching: bool, ensemble: bool = True) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "seq2seq", "serve", "--model", model, "--port", str(port), "--device", "cpu"]
    cmd += ([] if batching else ["--no-batching"]) + ([] if ensemble else ["--no-ensemble"])
    proc = subprocess.Popen(cmd, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, url


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="checkpoints/multi30k-en-de")
    ap.add_argument("--src", default="../shared/data/multi30k/task1/raw/test_2016_flickr.en")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--beam", type=int, default=5)
    ap.add_argument("--no-ensemble", dest="ensemble", action="store_false",
                    help="serve the model alone, not the ensemble its config names (search.ensemble)")
    ap.add_argument("--batching", choices=("on", "off", "both"), default="both")
    ap.add_argument("--heavy", type=int, nargs="+", default=[0], help="heavy clients (each value is a row)")
    ap.add_argument("--heavy-texts", type=int, default=64)
    ap.add_argument("--heavy-join", type=int, default=2, help="sentences per heavy text")
    ap.add_argument("--heavy-beam", type=int, default=16)
    args = ap.parse_args()
    sentences = Path(args.src).read_text().splitlines()
    j = args.heavy_join
    heavy_body = {"text": [" ".join(sentences[i * j : (i + 1) * j]) for i in range(args.heavy_texts)],
                  "beam": args.heavy_beam}
    rows = []
    for batching in {"on": [True], "off": [False], "both": [True, False]}[args.batching]:
        proc, url = serve(args.model, batching, args.ensemble)
        try:
            for heavy in args.heavy:
                for n in args.clients:
                    rps, lat, status = asyncio.run(drive(url, sentences, n, args.seconds, args.beam, heavy,
                                                         heavy_body))
                    rows.append((batching, n, heavy, rps, pct(lat, 50), pct(lat, 95), pct(lat, 99), status))
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    print(f"\n{args.model}, beam {args.beam}, one sentence per light request, {args.seconds:.0f} s per row; heavy: "
          f"{args.heavy_texts} texts x {j} sentences at beam {args.heavy_beam}\n")
    print("| micro-batching | light clients | heavy clients | light requests/s | p50 ms | p95 ms | p99 ms | heavy "
          "replies |\n|---|---|---|---|---|---|---|---|")
    for b, n, h, rps, p50, p95, p99, status in rows:
        replies = ", ".join(f"{k}: {v}" for k, v in sorted(status.items())) or "-"
        print(f"| {'on' if b else 'off'} | {n} | {h} | {rps:.1f} | {p50:.0f} | {p95:.0f} | {p99:.0f} | {replies} |")


if __name__ == "__main__":
    main()
