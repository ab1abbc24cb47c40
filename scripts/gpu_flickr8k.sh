#!/usr/bin/env bash
# The captioner's recipe sweep on one GPU (issue 15): cross-entropy recipes side by side, each for the same
# wall-clock budget and early stopping, every candidate (best.pt, the average of the last 3 checkpoints) scored on
# Flickr8k val with the shipped search (beam 3, alpha 1.0, no repeated 3-gram); then self-critical training from
# the best one. Chooses on val only: the test split is not read here.
#
# Usage: scripts/gpu_flickr8k.sh ce   OUT_DIR MINUTES [RUNS...]   # the sweep; keeps OUT_DIR/ce-best
#        scripts/gpu_flickr8k.sh ft   OUT_DIR MINUTES             # backbone fine-tuning from OUT_DIR/ce-best;
#                                                                 #   replaces ce-best only if val improves
#        scripts/gpu_flickr8k.sh scst OUT_DIR MINUTES             # SCST from OUT_DIR/ce-best -> OUT_DIR/scst
#   RUNS   names from the table below (default: all)
# Environment: PY (python), WORK (runs, default /tmp/gpu-flickr8k), SET (extra --set overrides for every run),
#   LIMIT (score on the first N val images only; 0 = all), THREADS (torch threads per run; 0 = torch's choice).
# Writes OUT_DIR/selection.md, OUT_DIR/logs/ and the exported models. Then compare with the shipped model:
#   python bench/flickr8k_eval.py --split val --model OUT_DIR/scst --model checkpoints/flickr8k-en ...
set -uo pipefail
phase=$1 out=$2 minutes=$3
shift 3
PY=${PY:-python3}
work=${WORK:-/tmp/gpu-flickr8k}
spm=checkpoints/flickr8k-en/spm.model  # the shipped vocabulary: every candidate can be ensembled with it
mkdir -p "$work" "$out/logs"

# name     overrides of configs/flickr8k-en.yaml (the shipped stage-1 recipe is "base"). ft2 backpropagates through
# the backbone's last blocks: 4 batches of 750 tokens per update (the same update as the others) keep its activations
# small; at 3,000 tokens a batch it took over 10 GB of CPU memory and was killed for it.
recipes="
base
wide       model.hidden=1024 model.emb_dim=512 model.attn_dim=512
drop3      model.dropout=0.3 model.emb_dropout=0.2
attn0      train.attn_reg=0.0
attn3      train.attn_reg=3.0
ls0        train.label_smoothing=0.0
ft2        model.finetune_blocks=2 train.lr=0.0005 train.batch_tokens=750 train.accum_steps=4
"

score() {  # NAME DIR: val BLEU-4 and CIDEr-D of an exported model with the shipped search
  local line
  line=$($PY bench/flickr8k_eval.py --split val --model "$2" --beams 3 --alphas 1.0 --no-repeat-ngram 3 \
    --limit "${LIMIT:-0}" --threads "$(( ${THREADS:-0} > 0 ? THREADS : 2 ))" 2>>"$out/logs/score.log" | grep '^| ours, beam 3')
  # | ours, beam 3, ... | BLEU-1 | BLEU-2 | BLEU-3 | BLEU-4 | CIDEr-D | images/s |
  echo "$1 $(echo "$line" | awk -F'|' '{gsub(/ /, ""); print $6, $7}')"
}

candidates() {  # RUN: export best.pt and the average of the last 3 checkpoints, score both
  local name=$1 n cand
  [ -f "$work/$name/best.pt" ] || { echo "$name: no best.pt (see $out/logs/$name.log)" >&2; return; }
  for n in 0 3; do  # export's --average 0 is best.pt
    cand=$name-$([ $n = 0 ] && echo best || echo avg$n)
    $PY -m seq2seq export --model "$work/$name" --out "$work/export/$cand" --fp32 --average $n \
      > /dev/null 2>>"$out/logs/score.log" || continue
    score "$cand" "$work/export/$cand" >> "$work/scores.txt"
  done
}

table() {  # TITLE: selection.md from scores.txt, best CIDEr-D first
  { echo "## $1"; echo; echo "| candidate | val BLEU-4 | val CIDEr-D |"; echo "|---|---|---|"
    sort -k3 -gr "$work/scores.txt" | awk '{print "| " $1 " | " $2 " | " $3 " |"}'; echo; } >> "$out/selection.md"
}

keep() {  # NAME: copy the candidate with the best val CIDEr-D in scores.txt to OUT_DIR/NAME (float32)
  local dest=$1 best
  best=$(sort -k3 -g "$work/scores.txt" | tail -1)
  [ -n "$best" ] || { echo "no candidate was scored: see $out/logs"; exit 1; }
  set -- $best
  rm -rf "${out:?}/$dest" && cp -r "$work/export/$1" "$out/$dest"
  echo "keeping $1 (val BLEU-4 $2, CIDEr-D $3) as $out/$dest" | tee -a "$out/selection.md"
}

case $phase in
ce)
  wanted=${*:-$(echo "$recipes" | awk 'NF {print $1}')}
  run() {  # NAME OVERRIDES...
    local name=$1
    shift
    rm -rf "${work:?}/$name"
    # shellcheck disable=SC2086
    $PY -m seq2seq train configs/flickr8k-en.yaml --set model_dir="$work/$name" data.spm_model="$spm" \
      train.max_minutes="$minutes" train.keep_last=3 train.threads="${THREADS:-0}" "$@" ${SET:-} \
      > "$out/logs/$name.log" 2>&1
    echo "$name: exit $? after $(grep -c '"valid"' "$work/$name/log.jsonl" 2>/dev/null) validations"
  }
  # The frozen-backbone features are computed once (by the first run) and cached; the others wait for them.
  first=$(echo "$wanted" | tr ' ' '\n' | grep -vx ft2 | head -1)
  for name in $wanted; do
    line=$(echo "$recipes" | awk -v n="$name" '$1 == n')
    [ -n "$line" ] || { echo "unknown run $name"; exit 2; }
    # shellcheck disable=SC2086
    run $line &
    if [ "$name" = "$first" ]; then  # until its first training step: the features are cached by then
      until grep -q '^step ' "$out/logs/$name.log" 2>/dev/null || ! kill -0 $! 2>/dev/null; do sleep 2; done
    fi
  done
  wait
  rm -f "$work/scores.txt"
  for name in $wanted; do candidates "$name" & done
  wait
  table "cross-entropy recipes, $minutes minutes each (beam 3, alpha 1.0, no-repeat 3)"
  keep ce-best
  ;;
ft)
  # Stage 2: the backbone's last 2 blocks fine-tuned (with augmentation) from ce-best, in ce-best's own recipe (its
  # config.yaml), at a lower learning rate; 4 x 750 tokens per update fit 6 GB of CPU memory (a GPU can take SET=
  # "train.batch_tokens=3000 train.accum_steps=1"). ce-best is replaced only by a candidate that beats it on val.
  [ -f "$out/ce-best/model.pt" ] || { echo "run the ce phase first: $out/ce-best is missing"; exit 2; }
  rm -rf "${work:?}/ft" "$work/export/ce-start" && mkdir -p "$work/export" && cp -r "$out/ce-best" "$work/export/ce-start"
  # shellcheck disable=SC2086
  $PY -m seq2seq train "$out/ce-best/config.yaml" --set model_dir="$work/ft" train.init_from="$out/ce-best" \
    model.finetune_blocks=2 train.lr=0.0003 train.warmup_steps=0 train.batch_tokens=750 train.accum_steps=4 \
    train.valid_every=50 train.early_stopping=4 train.keep_last=3 train.max_minutes="$minutes" \
    train.threads="${THREADS:-0}" ${SET:-} > "$out/logs/ft.log" 2>&1
  echo "ft: exit $? after $(grep -c '"valid"' "$work/ft/log.jsonl" 2>/dev/null) validations"
  rm -f "$work/scores.txt"
  score ce-start "$work/export/ce-start" >> "$work/scores.txt"
  candidates ft
  table "backbone fine-tuning from ce-best, up to $minutes minutes"
  keep ce-best
  ;;
scst)
  [ -f "$out/ce-best/model.pt" ] || { echo "run the ce phase first: $out/ce-best is missing"; exit 2; }
  rm -rf "${work:?}/scst"
  # ce-best's architecture (the wide recipe's sizes, say), or init_from would leave mismatched tensors untrained
  arch=$($PY -c 'import sys, yaml; m = yaml.safe_load(open(sys.argv[1]))["model"]
print(" ".join(f"model.{k}={m[k]}" for k in ("cell", "emb_dim", "hidden", "dec_layers", "attention", "attn_dim")))' \
    "$out/ce-best/config.yaml") || exit 2
  # shellcheck disable=SC2086
  $PY -m seq2seq train configs/flickr8k-en-scst.yaml --set model_dir="$work/scst" train.init_from="$out/ce-best" \
    $arch data.spm_model="$spm" train.scst_baseline=mean train.valid_every=150 train.early_stopping=4 \
    train.max_minutes="$minutes" train.threads="${THREADS:-0}" ${SET:-} > "$out/logs/scst.log" 2>&1
  echo "scst: exit $? after $(grep -c '"valid"' "$work/scst/log.jsonl" 2>/dev/null) validations"
  rm -f "$work/scores.txt"
  candidates scst
  table "self-critical training from ce-best, up to $minutes minutes"
  keep scst  # float32: ship it with `seq2seq export --model $WORK/scst` (float16) and the shipped search
  ;;
*) echo "usage: $0 ce|ft|scst OUT_DIR MINUTES [RUNS...]"; exit 2 ;;
esac
for f in "$work"/*/log.jsonl; do cp "$f" "$out/logs/$(basename "$(dirname "$f")").jsonl" 2>/dev/null; done
cat "$out/selection.md"
