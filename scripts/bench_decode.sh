#!/usr/bin/env bash
# bench_decode.sh [decode_tables.py options]: the caches x parallel decoding tables of
# BENCHMARKS.md. Builds the release binary if needed and the held-out KJV split with the text
# model's own tokenizer (runs/kjv-heldout: the same 2% of chapters the model was validated on),
# then runs bench/decode_tables.py. About 30 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
U=./build/unmask
[ -x "$U" ] || { cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null; cmake --build build -j2 >/dev/null; }
if [ ! -f runs/kjv-heldout/val.bin ]; then
    mkdir -p runs
    bash scripts/kjv_text.sh runs/kjv.txt
    $U data text --tokenizer models/kjv-llada/tokenizer.json --split-paragraphs \
        --val-fraction 0.02 --out runs/kjv-heldout runs/kjv.txt
fi
/usr/bin/python3 bench/decode_tables.py --unmask "$U" "$@"
