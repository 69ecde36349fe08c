#!/usr/bin/python3
"""decode_tables.py: the caches x parallel-decoding x block-size tables of BENCHMARKS.md.

  /usr/bin/python3 bench/decode_tables.py [--unmask build/unmask] [--reps 3]
      [--task-model models/sort-llada] [--task-n 200]
      [--text-model models/kjv-llada] [--text-data DIR] [--text-n 20] [--only task|text]

Runs `unmask eval` for every configuration, side by side in one run, and prints two markdown
tables:
  task model: accuracy (exact match on held-out sort examples), tokens/s (median of --reps
      runs), tokens per forward, speed-up over the reference path (no cache, one token per
      step: steps = gen_length);
  text model: held-out perplexity of the decoding configuration (`eval --text`: the true
      continuation is committed in the order the configuration chooses, scoring -log p at each
      commit), tokens/s, tokens per forward, speed-up.
Configurations: cache none | prefix | dual; commit rule fixed (one token per step) or
threshold 0.7 / 0.8 / 0.9; block sizes 8, 16, 32.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time


def run_eval(unmask, args):
    cmd = [unmask, "eval", "--quiet", "--stats"] + args
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("decode_tables.py: %s failed:\n%s" % (" ".join(cmd), r.stderr))
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"^(accuracy|perplexity)\s+([0-9.eE+-]+)$", line)
        if m:
            out[m.group(1)] = float(m.group(2))
    m = re.search(r"stats: tokens=(\d+) forwards=(\d+) seconds=([0-9.]+) tok_per_s=([0-9.]+)",
                  r.stderr.strip().splitlines()[-1])
    out.update(tokens=int(m.group(1)), forwards=int(m.group(2)), seconds=float(m.group(3)))
    return out


def configs(gen_length):
    for block in (8, 16, 32):
        if gen_length % block:
            continue
        for cache in ("none", "prefix", "dual"):
            for thr in (None, 0.7, 0.8, 0.9):
                yield block, cache, thr


def table(unmask, base_args, gen_length, reps, metric, label):
    rows = []
    results = {}
    for block, cache, thr in configs(gen_length):
        a = base_args + ["--gen-length", str(gen_length), "--block-length", str(block),
                         "--cache", cache]
        if thr is None:
            a += ["--steps", str(gen_length)]
        else:
            a += ["--threshold", str(thr)]
        runs = [run_eval(unmask, a) for _ in range(reps)]
        tps = statistics.median(r["tokens"] / r["seconds"] for r in runs)
        r0 = runs[0]
        results[(block, cache, thr)] = (r0[metric], tps, r0["tokens"] / r0["forwards"])
        sys.stderr.write("  block %2d cache %-6s %-10s %s %.4f  %.1f tok/s  %.2f tok/fwd\n" % (
            block, cache, "fixed" if thr is None else "thr %.1f" % thr, metric, r0[metric], tps,
            r0["tokens"] / r0["forwards"]))
    print("\n| block | cache | rule | %s | tokens/s | tokens/forward | speed-up |" % label)
    print("|---:|---|---|---:|---:|---:|---:|")
    for (block, cache, thr), (val, tps, tpf) in results.items():
        base = results[(block, "none", None)][1]
        print("| %d | %s | %s | %.4f | %.1f | %.2f | %.2fx |" % (
            block, cache, "1 token/step" if thr is None else "threshold %.1f" % thr, val, tps,
            tpf, tps / base))
    return results


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unmask", default="build/unmask")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--task-model", default="models/sort-llada")
    ap.add_argument("--task-n", type=int, default=200)
    ap.add_argument("--task-gen", type=int, default=32)
    ap.add_argument("--text-model", default="models/kjv-llada")
    ap.add_argument("--text-data", default="runs/kjv-heldout")
    ap.add_argument("--text-n", type=int, default=20)
    ap.add_argument("--text-gen", type=int, default=64)
    ap.add_argument("--only", choices=("task", "text"))
    a = ap.parse_args()
    print("command: %s" % " ".join(sys.argv))
    print("date: %s; medians of %d runs; 2 threads" % (time.strftime("%Y-%m-%d %H:%M"), a.reps))
    if a.only in (None, "task"):
        print("\n### Task model (%s, sort, %d held-out examples, gen length %d)" % (
            a.task_model, a.task_n, a.task_gen))
        table(a.unmask, ["-m", a.task_model, "--task", "sort", "--n", str(a.task_n),
                         "--seed", "1"], a.task_gen, a.reps, "accuracy", "accuracy")
    if a.only in (None, "text"):
        if not os.path.exists(os.path.join(a.text_data, "val.bin")):
            sys.exit("decode_tables.py: %s/val.bin missing: run scripts/bench_decode.sh (it "
                     "builds the held-out KJV split with the model's tokenizer)" % a.text_data)
        print("\n### Text model (%s, %d held-out KJV windows, prompt 32, gen length %d)" % (
            a.text_model, a.text_n, a.text_gen))
        table(a.unmask, ["-m", a.text_model, "--text", a.text_data, "--n", str(a.text_n),
                         "--prompt-len", "32"], a.text_gen, a.reps, "perplexity",
              "held-out perplexity")


if __name__ == "__main__":
    main()
