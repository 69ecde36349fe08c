#!/usr/bin/python3
"""make_tiny_model.py: write a small LLaDA or Dream checkpoint with RANDOM weights, in the
real Hugging Face layout (config.json + model.safetensors), to try unmask end to end before
a trained model is at hand. Its output is gibberish by construction.

  /usr/bin/python3 scripts/make_tiny_model.py --family llada|dream --out DIR
        [--dtype f32|bf16|f16] [--tokenizer PATH/tokenizer.json] [--seed N]
        [--dim 64] [--layers 2] [--heads 4] [--kv-heads N] [--ffn N]

With --tokenizer, the vocabulary size is that tokenizer's (highest id + 1), the mask and EOS
ids are the ids of its mask token (<|mdm_mask|> for LLaDA, <|mask|> for Dream) and of
<|endoftext|> (ids are appended after the vocabulary if the tokenizer lacks them), and
tokenizer.json (and tokenizer_config.json next to it, if any) is copied into DIR.
Needs PyTorch (Debian: /usr/bin/python3 with python3-torch); no other package.
"""
import argparse
import json
import os
import shutil
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "oracle"))
sys.dont_write_bytecode = True  # keep the source tree clean

try:
    import torch  # noqa: F401
except Exception as e:
    sys.stderr.write("make_tiny_model.py: PyTorch is not importable by %s (%s); use Debian's "
                     "/usr/bin/python3 with python3-torch\n" % (sys.executable, e))
    sys.exit(2)

import tiny_models as TM  # noqa: E402

MASK_NAMES = {"llada": ["<|mdm_mask|>", "<|mask|>"], "dream": ["<|mask|>", "<|mdm_mask|>"]}
EOS_NAMES = ["<|endoftext|>", "<|eos|>", "</s>"]


def tokenizer_ids(path):
    """(vocab size = highest id + 1, dict token string -> id) of a tokenizer.json."""
    with open(path, encoding="utf-8") as f:
        tj = json.load(f)
    ids = {}
    model = tj.get("model") or {}
    vocab = model.get("vocab")
    if isinstance(vocab, dict):                  # BPE, WordPiece, WordLevel
        ids.update(vocab)
    elif isinstance(vocab, list):                # Unigram: [[piece, score], ...]
        ids.update({p[0]: i for i, p in enumerate(vocab)})
    for t in tj.get("added_tokens") or []:
        ids[t["content"]] = t["id"]
    if not ids:
        raise SystemExit("make_tiny_model.py: %s: no vocabulary found" % path)
    return max(ids.values()) + 1, ids


def main():
    ap = argparse.ArgumentParser(description="Write a tiny LLaDA/Dream model with RANDOM weights.")
    ap.add_argument("--family", required=True, choices=["llada", "dream"])
    ap.add_argument("--out", required=True, help="output model folder")
    ap.add_argument("--dtype", default="f32", choices=["f32", "bf16", "f16"])
    ap.add_argument("--tokenizer", help="tokenizer.json whose vocabulary and special ids to use")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=None)
    ap.add_argument("--ffn", type=int, default=None)
    args = ap.parse_args()

    if args.dim % args.heads or (args.dim // args.heads) % 2:
        raise SystemExit("make_tiny_model.py: --dim must be a multiple of --heads with an even "
                         "head dimension")
    kv = args.kv_heads or (args.heads if args.family == "llada" else max(1, args.heads // 2))
    if args.heads % kv:
        raise SystemExit("make_tiny_model.py: --kv-heads must divide --heads")
    ffn = args.ffn or (3 * args.dim if args.family == "llada" else 5 * args.dim // 2)

    notes = []
    if args.tokenizer:
        V, ids = tokenizer_ids(args.tokenizer)
        mask = next((ids[n] for n in MASK_NAMES[args.family] if n in ids), None)
        eos = next((ids[n] for n in EOS_NAMES if n in ids), None)
        if mask is None:
            mask, V = V, V + 1
            notes.append("tokenizer has no mask token; mask id %d appended" % mask)
        if eos is None:
            eos, V = V, V + 1
            notes.append("tokenizer has no <|endoftext|>; eos id %d appended" % eos)
    else:
        V = 512
        mask, eos = 500, 490
        notes.append("no --tokenizer: vocabulary 512, mask id 500, eos id 490")

    spec = dict(family=args.family, dtype=args.dtype, D=args.dim, H=args.heads, Hkv=kv,
                L=args.layers, F=ffn, V=V, mask=mask, eos=eos,
                theta=500000.0 if args.family == "llada" else 1000000.0,
                eps=1e-5 if args.family == "llada" else 1e-6)
    cfg = TM.make_config(spec)
    w = TM.make_weights(cfg, args.seed, args.dtype)
    nbytes = TM.write_model(args.out, cfg, w)
    if args.tokenizer:
        shutil.copyfile(args.tokenizer, os.path.join(args.out, "tokenizer.json"))
        tc = os.path.join(os.path.dirname(os.path.abspath(args.tokenizer)),
                          "tokenizer_config.json")
        if os.path.exists(tc):
            shutil.copyfile(tc, os.path.join(args.out, "tokenizer_config.json"))

    print("wrote %s: %s model, %s, D=%d heads=%d/%d layers=%d ffn=%d vocab=%d mask=%d eos=%d "
          "(%.1f MB of weights)" % (args.out, args.family, args.dtype, args.dim, args.heads, kv,
                                    args.layers, ffn, V, mask, eos, nbytes / 1e6))
    for n in notes:
        print("note: " + n)
    print("NOTE: the weights are RANDOM (seed %d). This model only exercises the engine; "
          "its output is gibberish." % args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
