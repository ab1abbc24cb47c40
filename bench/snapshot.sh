#!/usr/bin/env bash
# Behaviour snapshot: every shipped translator on its test set and the captioner on the Flickr8k test images, under
# each decoding setting, written to OUT/ (one file per model and setting). Run it on two trees and `diff -r` the
# two folders: a refactor that changes no behaviour leaves them byte-identical.
#   usage: bench/snapshot.sh TREE OUT      (TREE: a checkout of this project; its seq2seq/ and checkpoints/ are used)
set -euo pipefail
tree=$(cd "$1" && pwd); out=$2; mkdir -p "$out"
here=$(cd "$(dirname "$0")/.." && pwd)
data=${DATA:-$here/../shared/data}
py=${PYTHON:-$here/.venv/bin/python}
run() { (cd /tmp && PYTHONPATH="$tree" OMP_NUM_THREADS=${THREADS:-1} "$py" -P -c \
  'import sys; from seq2seq.cli import main; sys.exit(main(sys.argv[1:]))' "$@"); }
m30k=$data/multi30k/task1/raw; tato=$data/tatoeba-cmn-eng
declare -A src=([multi30k-en-de]=$m30k/test_2016_flickr.en [multi30k-en-de-bt]=$m30k/test_2016_flickr.en
  [multi30k-en-de-v1]=$m30k/test_2016_flickr.en [multi30k-en-de-v2]=$m30k/test_2016_flickr.en
  [multi30k-de-en]=$m30k/test_2016_flickr.de [tatoeba-zh-en]=$tato/test.zh [tatoeba-en-zh]=$tato/test.en)
for model in "${!src[@]}"; do
  for setting in default no-shortlist quantize beam1 no-ensemble; do
    case $setting in default) flags=();; no-shortlist) flags=(--no-shortlist);; quantize) flags=(--quantize);;
      beam1) flags=(--beam 1);; no-ensemble) flags=(--no-ensemble);; esac
    run translate --model "$tree/checkpoints/$model" --no-progress "${flags[@]}" < "${src[$model]}" \
      > "$out/$model.$setting.txt"
    echo "$model $setting $(wc -l < "$out/$model.$setting.txt") lines" >&2
  done
done
mapfile -t images < <(sed "s#^#$data/flickr8k/images/#" "$data/flickr8k/Flickr_8k.testImages.txt")
for setting in default beam1 no-ensemble; do
  case $setting in default) flags=();; beam1) flags=(--beam 1);; no-ensemble) flags=(--no-ensemble);; esac
  run caption --model "$tree/checkpoints/flickr8k-en" --no-progress "${flags[@]}" "${images[@]}" \
    > "$out/flickr8k-en.$setting.txt"
  echo "flickr8k-en $setting $(wc -l < "$out/flickr8k-en.$setting.txt") lines" >&2
done
