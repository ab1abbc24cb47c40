#!/usr/bin/env bash
# Training snapshot: 200 steps of the Multi30k en->de recipe and the first 20 steps of the Flickr8k SCST recipe,
# run with one thread from TREE's code into OUT/. Two trees whose runs match (bench/compare_runs.py: losses in
# log.jsonl, every tensor of last.pt, spm.model) train bitwise identically.
#   usage: bench/snapshot_train.sh TREE OUT
set -euo pipefail
tree=$(cd "$1" && pwd); out=$(mkdir -p "$2" && cd "$2" && pwd)
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
run() { (cd "$here" && PYTHONPATH="$tree" OMP_NUM_THREADS=1 "$py" -P -c \
  'import sys; from seq2seq.cli import main; sys.exit(main(sys.argv[1:]))' "$@"); }
run train configs/multi30k-en-de.yaml --set model_dir="$out/m30k" train.max_steps=200 train.valid_every=100 \
  train.threads=1 train.log_every=10
echo "multi30k: done" >&2
run train configs/flickr8k-en-scst.yaml --set model_dir="$out/scst" train.max_steps=20 train.valid_every=1000 \
  train.threads=1 train.log_every=1
echo "scst: done" >&2
