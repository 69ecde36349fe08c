#!/usr/bin/env bash
# optim_curves.sh DATA TOKENIZER [OUT]: loss curves of AdamW, Muon and OrScale on the same
# model, data and token budget. Each optimiser's learning rate is picked on a 3-point grid
# (seed 1, lowest final validation loss), then the best rate is run again with seed 2.
# Writes OUT/<opt>_lr<lr>_s<seed>/train_log.tsv, OUT/summary.tsv and OUT/curves.png.
# Model: LLaDA layout, D 128, 4 layers, 4 heads, F 352, seq 64, batch 16, 400 steps.
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${1:?usage: optim_curves.sh DATA TOKENIZER [OUT]}
TOK=${2:?usage: optim_curves.sh DATA TOKENIZER [OUT]}
OUT=${3:-runs/optim-curves}
U=${U:-./build/unmask}
mkdir -p "$OUT"
common=(--set data="$DATA" --set tokenizer="$TOK" --set d_model=128 --set n_layers=4
        --set n_heads=4 --set d_ff=352 --set seq_len=64 --set batch_size=16 --set steps=400
        --set warmup_steps=40 --set schedule=wsd --set decay_fraction=0.2 --set eval_interval=50
        --set eval_batches=16 --set save_interval=0 --set save_dtype=f32 --set threads=2)
declare -A GRID=([adamw]="1e-3 3e-3 1e-2" [muon]="0.01 0.02 0.05" [orscale]="1e-3 3e-3 1e-2")
run() { # opt lr seed
    local d="$OUT/$1_lr$2_s$3"
    [ -f "$d/train_log.tsv" ] && [ "$(tail -1 "$d/train_log.tsv" | cut -f1)" = 400 ] && return
    $U train configs/text-kjv.conf "${common[@]}" --set optimizer="$1" --set lr="$2" \
        --set seed="$3" --set out="$d" --quiet >/dev/null 2>"$d.err" || { cat "$d.err"; exit 1; }
}
final() { tail -1 "$OUT/$1_lr$2_s$3/train_log.tsv" | cut -f7; }
printf 'optimizer\tlr\tseed\tfinal_val_loss\tseconds\n' > "$OUT/summary.tsv"
for opt in adamw muon orscale; do
    best=""; bestv=""
    for lr in ${GRID[$opt]}; do
        run "$opt" "$lr" 1
        v=$(final "$opt" "$lr" 1)
        printf '%s\t%s\t1\t%s\t%s\n' "$opt" "$lr" "$v" \
            "$(tail -1 "$OUT/${opt}_lr${lr}_s1/train_log.tsv" | cut -f6)" >> "$OUT/summary.tsv"
        if [ -z "$bestv" ] || awk -v a="$v" -v b="$bestv" 'BEGIN{exit !(a<b)}'; then best=$lr; bestv=$v; fi
    done
    run "$opt" "$best" 2
    printf '%s\t%s\t2\t%s\t%s\n' "$opt" "$best" "$(final "$opt" "$best" 2)" \
        "$(tail -1 "$OUT/${opt}_lr${best}_s2/train_log.tsv" | cut -f6)" >> "$OUT/summary.tsv"
    echo "$opt best lr $best" >> "$OUT/best.txt"
done
/usr/bin/python3 bench/plot_curves.py "$OUT"
cat "$OUT/summary.tsv"
