#!/usr/bin/env bash
# Train the Multi30k translators on one GPU: several recipes side by side, each for the same wall-clock budget,
# then keep each direction's best candidate (best.pt or the average of the last 3 checkpoints) by validation
# BLEU (beam 5, alpha 1.0) and export it in fp16. Test sets are not looked at here.
#
# Usage: scripts/gpu_multi30k.sh DATA_ROOT SPM_MODEL OUT_DIR MINUTES [RUNS...]
#   DATA_ROOT  the Multi30k folder (holds task1/raw/{train,val}.{en,de})
#   SPM_MODEL  the shared en+de sentencepiece model (the shipped models' spm.model)
#   RUNS       names from the table below (default: all)
# Writes OUT_DIR/{en-de,de-en}/ (exported models), OUT_DIR/selection.md and OUT_DIR/logs/.
set -uo pipefail
root=$1 spm=$2 out=$3 minutes=$4
shift 4
PY=${PY:-python3}
work=${WORK:-/tmp/gpu-runs}
mkdir -p "$work" "$out/logs"

# name       config                        overrides
recipes="
ende-base    configs/multi30k-en-de.yaml
ende-drop5   configs/multi30k-en-de.yaml   model.dropout=0.5 model.emb_dropout=0.4
ende-wide    configs/multi30k-en-de.yaml   model.hidden=768 model.dropout=0.5 model.emb_dropout=0.4
deen-base    configs/multi30k-de-en.yaml
"
wanted=${*:-$(echo "$recipes" | awk 'NF {print $1}')}
langs() { case $1 in ende-*) echo "en de" ;; *) echo "de en" ;; esac; }  # run name -> source, target

train() {  # name config overrides...
  local name=$1 cfg=$2 src tgt raw=$root/task1/raw
  shift 2
  read -r src tgt <<< "$(langs "$name")"
  rm -rf "${work:?}/$name"
  $PY -m seq2seq train "$cfg" --set model_dir="$work/$name" data.spm_model="$spm" \
    data.train_src="$raw/train.$src" data.train_tgt="$raw/train.$tgt" \
    data.valid_src="$raw/val.$src" data.valid_tgt="$raw/val.$tgt" \
    train.max_minutes="$minutes" train.amp=false train.keep_last=3 train.threads="${THREADS:-0}" "$@" > "$out/logs/$name.log" 2>&1
  echo "$name: exit $? after $(grep -c '"valid"' "$work/$name/log.jsonl" 2>/dev/null) validations"
}

for name in $wanted; do
  line=$(echo "$recipes" | awk -v n="$name" '$1 == n')
  [ -n "$line" ] || { echo "unknown run $name"; exit 2; }
  # shellcheck disable=SC2086
  train $line &
done
wait

# Candidates: best.pt and the average of the last 3 checkpoints, scored on val with the shipped search.
score() {  # name: export and score both candidates
  local name=$1 src tgt cand dir bleu
  read -r src tgt <<< "$(langs "$name")"
  for cand in best avg3; do
    dir=$work/export/$name-$cand
    if [ $cand = best ]; then $PY -m seq2seq export --model "$work/$name" --out "$dir" > /dev/null
    else $PY -m seq2seq export --model "$work/$name" --out "$dir" --average 3 > /dev/null; fi || continue
    bleu=$($PY -m seq2seq evaluate --model "$dir" --src "$root/task1/raw/val.$src" --ref "$root/task1/raw/val.$tgt" \
      --beam 5 --alpha 1.0 --json | $PY -c 'import json,sys; print(json.load(sys.stdin)["bleu"]["score"])')
    echo "$name $cand $bleu" >> "$work/scores.txt"
  done
}
rm -f "$work/scores.txt"
for name in $wanted; do
  [ -f "$work/$name/best.pt" ] && score "$name" &
done
wait
echo "| run | candidate | val BLEU (beam 5, alpha 1.0) | steps | train minutes |" > "$out/selection.md"
echo "|---|---|---|---|---|" >> "$out/selection.md"
sort "$work/scores.txt" | while read -r name cand bleu; do
  last=$(grep '"valid"' "$work/$name/log.jsonl" | tail -1)
  steps=$(echo "$last" | sed 's/.*"step": \([0-9]*\).*/\1/')
  echo "| $name | $cand | $bleu | $steps | $minutes |" >> "$out/selection.md"
done
for name in $wanted; do cp "$work/$name/log.jsonl" "$out/logs/$name.jsonl" 2>/dev/null; done
cat "$out/selection.md"

for dir in en-de de-en; do  # keep each direction's best candidate
  prefix=$(echo $dir | tr -d -)
  best=$(grep "^$prefix-" "$work/scores.txt" 2>/dev/null | sort -k3 -g | tail -1)
  [ -n "$best" ] || continue
  set -- $best
  cp -r "$work/export/$1-$2" "$out/$dir"
  echo "$dir: keeping $1 $2 (val BLEU $3)" | tee -a "$out/selection.md"
done
