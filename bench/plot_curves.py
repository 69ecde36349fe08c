#!/usr/bin/python3
"""plot_curves.py OUT: plot the validation loss curves of optim_curves.sh (best learning rate of
each optimiser, both seeds) to OUT/curves.png and print a table of the final losses."""
import csv
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read_val(path):
    steps, vals = [], []
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            if row.get("val_loss"):
                steps.append(int(row["step"]))
                vals.append(float(row["val_loss"]))
    return steps, vals


def main():
    out = sys.argv[1]
    best = dict(line.split()[0::3] for line in open(os.path.join(out, "best.txt")))
    plt.figure(figsize=(7, 4.5))
    colours = {"adamw": "tab:blue", "muon": "tab:orange", "orscale": "tab:green"}
    for opt, lr in best.items():
        for seed, style in ((1, "-"), (2, "--")):
            s, v = read_val(os.path.join(out, "%s_lr%s_s%d" % (opt, lr, seed), "train_log.tsv"))
            plt.plot(s, v, style, color=colours[opt], label="%s lr=%s seed %d" % (opt, lr, seed))
    plt.xlabel("step (16 x 64 tokens each)")
    plt.ylabel("validation loss (diffusion ELBO, nats/token)")
    plt.title("AdamW vs Muon vs OrScale, LLaDA 1.3M params, KJV")
    plt.legend(fontsize=8)
    plt.grid(alpha=0.3)
    plt.tight_layout()
    plt.savefig(os.path.join(out, "curves.png"), dpi=110)


if __name__ == "__main__":
    main()
