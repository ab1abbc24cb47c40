#!/usr/bin/env bash
# Put the Tatoeba Mandarin<->English models into checkpoints/ and measure them (writes runs/ship/tatoeba-*.md,
# which the cards quote). Trained on this 2-core CPU, two runs side by side, one thread each:
#   seq2seq train configs/tatoeba-zh-en.yaml --set model_dir=runs/tz-base-zh-en train.threads=1
#   seq2seq train configs/tatoeba-en-zh.yaml --set model_dir=runs/tz-base-en-zh train.threads=1
# (stopped and continued with --resume across sessions). What goes out is chosen on dev only: best.pt against the
# average of the last 2 or 3 step checkpoints, then beam and length penalty.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S=.venv/bin/seq2seq
PY=.venv/bin/python
set_search() {  # model_dir beam alpha
  $PY -c 'import sys, yaml; p = sys.argv[1] + "/config.yaml"; c = yaml.safe_load(open(p))
c["search"].update(beam=int(sys.argv[2]), alpha=float(sys.argv[3])); yaml.safe_dump(c, open(p, "w"), sort_keys=False)' "$@"
}
mkdir -p runs/ship
for pair in zh-en en-zh; do
  (
    for n in 0 2 3; do
      $S2S export --model runs/tz-base-$pair --out runs/ship/tz-$pair-avg$n --average $n > /dev/null
      echo "average $n: $(OMP_NUM_THREADS=1 $PY bench/tatoeba_eval.py --model runs/ship/tz-$pair-avg$n --threads 1 \
        --splits dev | grep '^| dev')"
    done > runs/ship/tatoeba-$pair.average.md
  ) &
done
wait
for pair in zh-en en-zh; do
  # the best dev BLEU of the three (the third column of the dev row)
  n=$(sort -t'|' -k3 -g runs/ship/tatoeba-$pair.average.md | tail -1 | sed 's/average \([0-9]\).*/\1/')
  rm -rf checkpoints/tatoeba-$pair
  cp -r runs/ship/tz-$pair-avg$n checkpoints/tatoeba-$pair
  echo "tatoeba-$pair: average $n"
done
for pair in zh-en en-zh; do
  OMP_NUM_THREADS=1 $PY bench/tatoeba_eval.py --model checkpoints/tatoeba-$pair --beams 5 10 --alphas 0.6 1.0 \
    --threads 1 > runs/ship/tatoeba-$pair.md &
done
wait
for pair in zh-en en-zh; do  # the beam and alpha chosen on dev become the model's defaults
  set_search checkpoints/tatoeba-$pair $(sed -n 's/.*, beam \([0-9]*\), alpha \([0-9.]*\) (chosen on dev).*/\1 \2/p' \
    runs/ship/tatoeba-$pair.md)
done

