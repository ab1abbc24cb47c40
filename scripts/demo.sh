#!/usr/bin/env bash
# The main job on the shipped models; falls back to training the small example model when none is shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S=.venv/bin/seq2seq
if [ -f checkpoints/multi30k-en-de/config.yaml ]; then
  echo "== English -> German (checkpoints/multi30k-en-de)"
  $S2S translate --model checkpoints/multi30k-en-de \
    "A dog runs through the grass." \
    "Two young children are playing soccer in a park." \
    "A woman in a red dress is singing on stage."
else
  echo "== no shipped translation model yet: training the example model (digit reversal, about a minute)"
  .venv/bin/python data/make_reverse.py runs/data
  if [ ! -f runs/example-reverse/best.pt ]; then
    $S2S train configs/example-reverse.yaml
  fi
  echo "== translate (beam 5)"
  printf '1 2 3 4 5\n9 8 7\n4 4 0 1 2 7\n' | tee /dev/stderr | $S2S translate --model runs/example-reverse --beam 5
  echo "== evaluate on the validation set"
  $S2S evaluate --model runs/example-reverse --src runs/data/reverse.valid.src --ref runs/data/reverse.valid.tgt
fi
