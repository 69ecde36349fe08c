#!/usr/bin/env bash
# train_task_model.sh [OUT]: train the default task model (sorting digits, SFT) from scratch
# and evaluate it. Writes runs/task-sort/ and copies the model to OUT (default
# models/sort-llada). About 10 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/sort-llada}
U=./build/unmask
[ -x "$U" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j2 >/dev/null; }
R=runs/task-sort
mkdir -p "$R"
$U tokenizer task sort --out "$R/tokenizer.json"
$U data task --task sort --tokenizer "$R/tokenizer.json" --n-train 400000 --n-val 2000 \
    --seq-len 48 --seed 1 --out "$R/data"
$U train configs/task-sort.conf --set data="$R/data" --set tokenizer="$R/tokenizer.json" \
    --set out="$R"
rm -rf "$OUT.tmp" && cp -r "$R/model" "$OUT.tmp" && rm -rf "$OUT" && mv "$OUT.tmp" "$OUT"
$U eval -m "$OUT" --task sort --n 500 --seed 1
