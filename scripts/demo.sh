#!/usr/bin/env bash
# demo.sh [PROMPT]: the README's first command. Installs dependencies, builds unmask, and
# generates with the default model, models/kjv-llada (trained by unmask on the King James
# Bible; see scripts/train_text_model.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target unmask_cli >/dev/null
./build/unmask generate -m models/kjv-llada -p "${1:-And God said}" --raw \
    --gen-length 64 --steps 64 --block-length 8 --temperature 0.8 --seed 1
