#!/usr/bin/env bash
# The main job on the shipped models (checkpoints/); falls back to training the small example model when none
# is shipped.
set -euo pipefail
cd "$(dirname "$0")/.."
S2S=.venv/bin/seq2seq
if [ -f checkpoints/multi30k-en-de/config.yaml ]; then
  $S2S models
  echo
  echo "== English -> German (the default: multi30k-en-de, with the ensemble member its config names)"
  $S2S translate "A dog runs through the grass." \
    "Two young children are playing soccer in a park." \
    "A woman in a red dress is singing on stage."
  echo "== The same model alone (--no-ensemble: faster, a little less accurate)"
  $S2S translate --no-ensemble "A dog runs through the grass."
  echo "== The same model from Python"
  .venv/bin/python -c 'from seq2seq import Translator
en_de = Translator.load("multi30k-en-de")
print(en_de.translate("A cat sleeps on the sofa."))
print(en_de.translate(["A man rides a horse.", "Children play in the snow."], beam=10))'
  if [ -f checkpoints/multi30k-de-en/config.yaml ]; then
    echo "== German -> English (--from de --to en)"
    $S2S translate --from de --to en "Ein Mann fährt mit dem Fahrrad über eine Brücke." \
      "Zwei Hunde spielen im Schnee."
  fi
  if [ -f checkpoints/tatoeba-zh-en/config.yaml ]; then
    echo "== Chinese -> English (--from zh; Traditional characters and full-width punctuation are fine)"
    $S2S translate --from zh --to en "我昨天上学迟到了。" "這本書很有意思。" "你叫什么名字？"
  fi
  if [ -f checkpoints/tatoeba-en-zh/config.yaml ]; then
    echo "== English -> Chinese"
    $S2S translate --from en --to zh "I was late for school yesterday." "Where is the train station?"
  fi
  if [ -f checkpoints/flickr8k-en/config.yaml ]; then
    F8K=../shared/data/flickr8k
    imgs=$(head -3 "$F8K/Flickr_8k.testImages.txt" 2>/dev/null | sed "s#^#$F8K/images/#" || true)
    if [ -n "$imgs" ]; then
      echo "== Captions of Flickr8k test images (checkpoints/flickr8k-en)"
      $S2S caption $imgs | paste <(for f in $imgs; do basename "$f"; done) -
    fi
  fi
else
  echo "== no shipped translation model yet: training the example model (digit reversal, about a minute)"
  .venv/bin/python data/make_reverse.py runs/data
  if [ ! -f runs/example-reverse/best.pt ]; then
    $S2S train configs/example-reverse.yaml
  fi
  echo "== translate (beam 5)"
  printf '1 2 3 4 5\n9 8 7\n4 4 0 1 2 7\n' | $S2S translate --model runs/example-reverse --beam 5
  echo "== evaluate on the validation set"
  $S2S evaluate --model runs/example-reverse --src runs/data/reverse.valid.src --ref runs/data/reverse.valid.tgt
fi
