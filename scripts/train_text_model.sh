#!/usr/bin/env bash
# train_text_model.sh [OUT]: train the default text model from scratch on the King James Bible
# (Debian bible-kjv-text, public domain): a 4096-token BPE tokenizer, token shards (one
# chapter per document, 2% of chapters held out), then masked-diffusion pre-training
# (configs/text-kjv.conf). Writes runs/text-kjv/ and copies the model to OUT (default
# models/kjv-llada). About 35 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/kjv-llada}
U=./build/unmask
[ -x "$U" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j2 >/dev/null; }
R=runs/text-kjv
mkdir -p "$R"
bash scripts/kjv_text.sh "$R/kjv.txt"
$U tokenizer train --vocab-size 4096 --special '<|endoftext|>' --special '<|mdm_mask|>' \
    --out "$R/tokenizer.json" "$R/kjv.txt"
$U data text --tokenizer "$R/tokenizer.json" --split-paragraphs --val-fraction 0.02 \
    --out "$R/data" "$R/kjv.txt"
$U train configs/text-kjv.conf --set data="$R/data" --set tokenizer="$R/tokenizer.json" \
    --set out="$R"
rm -rf "$OUT.tmp" && cp -r "$R/model" "$OUT.tmp" && rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
$U generate -m "$OUT" -p "And God said" --raw --gen-length 64 --steps 64 --block-length 8 \
    --temperature 0.8 --seed 1
