"""float32 matmul speed of the decoder's shapes: the BLAS call behind F.linear vs oneDNN with packed weights
(seq2seq.decode.kernels.Packed, which beam search uses on a CPU). Prints a Markdown table.

    .venv/bin/python bench/gemm.py [--threads 2]

Rows: 320 = 64 sentences x beam 5, then fewer as sentences finish. Shapes: the LSTM gates from [fed-back
vector; hidden] (768 -> 2048), the attentional combine (1024 -> 256), the output layer over a shortlist
(256 -> 1,700) and over the whole vocabulary (256 -> 6,000).
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.nn import functional as F

from seq2seq.decode.kernels import Packed


def timed(f, n: int = 60) -> float:
    for _ in range(5):
        f()
    tic = time.perf_counter()
    for _ in range(n):
        f()
    return (time.perf_counter() - tic) / n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads\n")
    print("| rows | in -> out | F.linear ms | packed ms | speed-up | packed GFLOP/s |\n|---|---|---|---|---|---|")
    with torch.inference_mode():
        for rows in (320, 160, 40):
            for k, n in ((768, 2048), (1024, 256), (256, 1700), (256, 6000)):
                x, w, b = torch.randn(rows, k), torch.randn(n, k), torch.randn(n)
                packed = Packed(w, b)
                if packed.packed is None:
                    raise SystemExit("oneDNN packing is not available in this torch build")
                plain, fast = timed(lambda: F.linear(x, w, b)), timed(lambda: packed(x))
                print(f"| {rows} | {k} -> {n} | {plain * 1e3:.3f} | {fast * 1e3:.3f} | x{plain / fast:.2f} | "
                      f"{2 * rows * k * n / fast / 1e9:.0f} |", flush=True)


if __name__ == "__main__":
    main()
