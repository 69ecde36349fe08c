#!/usr/bin/env bash
# train_vs_torch.sh [ROUNDS]: training throughput of unmask against PyTorch on the same
# LLaDA-shaped model, batch and precision (fp32), 2 threads, measured side by side: the two
# benchmarks alternate ROUNDS times (default 3) and the medians of their medians are compared.
#   bench_train_step        (build/bench_train_step)      forward + backward, unmask
#   bench_train_step_torch  (/usr/bin/python3, torch)     forward + backward, PyTorch
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${1:-3}
B=${BUILD:-build}
c=(); t=()
for r in $(seq "$ROUNDS"); do
    lc=$(OMP_NUM_THREADS=2 "$B/bench_train_step" --threads 2 --runs 5 | grep '^train_step ')
    lt=$(/usr/bin/python3 bench/bench_train_step_torch.py --threads 2 --runs 5 | grep '^train_step_torch ')
    echo "$lc"; echo "$lt"
    c+=("$(sed -E 's/.*tokens_per_s=([0-9.]+).*/\1/' <<<"$lc")")
    t+=("$(sed -E 's/.*tokens_per_s=([0-9.]+).*/\1/' <<<"$lt")")
done
med() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
mc=$(med "${c[@]}"); mt=$(med "${t[@]}")
awk -v a="$mc" -v b="$mt" 'BEGIN {printf "train_vs_torch unmask_tok_s=%.0f torch_tok_s=%.0f ratio=%.2f\n", a, b, a / b}'
