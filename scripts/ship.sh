#!/usr/bin/env bash
# Put trained models into checkpoints/ (fp16, backbone weights left to their package) and measure them.
# Writes the measurements to runs/ship/*.md, which the model cards quote (scripts/card.py).
#
# Multi30k: trained on one GPU, side by side with the other recipes and picked on val BLEU, by
#   scripts/gpu_multi30k.sh ../shared/data/multi30k checkpoints/multi30k-en-de/spm.model runs/gpu 6.5
# which writes runs/gpu/{en-de,de-en} (exported best.pt). Beam and alpha were then chosen on val.
# Flickr8k: trained on the CPU (seq2seq train configs/flickr8k-en.yaml), best.pt.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S=.venv/bin/seq2seq
PY=.venv/bin/python
mkdir -p runs/ship
set_search() {  # model_dir beam alpha
  $PY -c 'import sys, yaml; p = sys.argv[1] + "/config.yaml"; c = yaml.safe_load(open(p))
c["search"].update(beam=int(sys.argv[2]), alpha=float(sys.argv[3])); yaml.safe_dump(c, open(p, "w"), sort_keys=False)' "$@"
}
if [ -d runs/gpu/en-de ]; then
  for pair in en-de de-en; do cp runs/gpu/$pair/{model.pt,config.yaml,log.jsonl,spm.model} checkpoints/multi30k-$pair/; done
fi
[ -d runs/flickr8k-en ] && $S2S export --model runs/flickr8k-en --out checkpoints/flickr8k-en
# Val grids (the test rows printed with them are for the grid's best, beam 10), then the shipped setting:
# beam 5, which is within 0.15 val BLEU of beam 10 at twice the speed.
for pair in en-de de-en; do
  OMP_NUM_THREADS=1 $PY bench/multi30k_eval.py --model checkpoints/multi30k-$pair --beams 5 10 --alphas 0.6 1.0 \
    --threads 1 --no-shortlist > runs/ship/multi30k-$pair.grid.md &
done
wait
set_search checkpoints/multi30k-en-de 5 1.0
set_search checkpoints/multi30k-de-en 5 0.6
# the lexical shortlist (its size chosen on val: bench/shortlist_sweep.py), then the shipped setting with it
# (the default) and without it
for pair in en-de de-en; do $S2S shortlist --model checkpoints/multi30k-$pair; done
for flag in "" --no-shortlist; do
  suffix=$([ -n "$flag" ] && echo -full || true)
  OMP_NUM_THREADS=1 $PY bench/multi30k_eval.py --model checkpoints/multi30k-en-de --beams 5 --alphas 1.0 --threads 1 \
    $flag > runs/ship/multi30k-en-de.beam5$suffix.md &
  OMP_NUM_THREADS=1 $PY bench/multi30k_eval.py --model checkpoints/multi30k-de-en --beams 5 --alphas 0.6 --threads 1 \
    $flag > runs/ship/multi30k-de-en.beam5$suffix.md &
  wait
done
$PY bench/flickr8k_eval.py --model checkpoints/flickr8k-en --beams 1 5 > runs/ship/flickr8k-en.md
cat runs/ship/*.md
