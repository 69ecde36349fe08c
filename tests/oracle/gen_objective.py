#!/usr/bin/python3
"""gen_objective.py --out DIR: PyTorch references of the training objectives, given the same t
and masks as the C side (tests/test_objective.c feeds them through forced_t / forced_mask).

Each objective's loss is written here from its published definition, independently of
src/train/objective.c:
  mdm  LLaDA pre-training (arXiv 2502.09992, its GUIDELINES.md): p = (1-eps) t + eps per
       sequence, noisy = mask where masked, loss = sum over masked CE(logits, x0) / p, divided
       by B*L. Dream (logit shift): the logits are shifted right by one (row i-1 predicts
       token i) and position 0 is never masked.
  sft  LLaDA SFT: the prompt is never masked; per row, sum over masked CE / p divided by the
       answer length (L - prompt length, EOS padding included); then mean over the batch.
  bd3  BD3-LM vectorised training (arXiv 2503.09573): t per block, p = max(t, eps); the model
       reads [x_t ; x_0] with shared positions under the BD3 mask; loss on the noisy half,
       sum CE / p divided by B*L.
The model forward is gen_grad.loss_fn (float64) on the tiny models gen_grad.py wrote (it runs
first: make_all runs gen_*.py in name order). Writes DIR/objective/<case>.safetensors with
x0, t, mask, prompt_len (as F32) and the loss.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402

import gen_grad as GG  # noqa: E402
import st_io  # noqa: E402
import tiny_models as TM  # noqa: E402

EPS = 1e-3
B, L, BLOCK = 3, 12, 4
KIND = {"mdm": "full", "sft": "full", "bd3": "bd3"}


def build(obj, cname, mask_id, V, g, shift):
    """x0, t, mask, prompt_len, and the model inputs with per-position loss weights."""
    x0 = torch.randint(0, V, (B, L), generator=g)
    prompt_len = torch.zeros(B, dtype=torch.long)
    if obj == "bd3":
        t = torch.rand(B, L // BLOCK, generator=g, dtype=torch.float64)
        t[0, 0] = 1e-5  # below eps: p clamps to eps
        t = t.float().double()  # the C side reads t as f32
        p = torch.clamp(t.repeat_interleave(BLOCK, dim=1), min=EPS)
    else:
        t = torch.rand(B, 1, generator=g, dtype=torch.float64).float().double()
        p = ((1 - EPS) * t + EPS).expand(B, L)
    mask = torch.rand(B, L, generator=g, dtype=torch.float64) < p
    mask[:, 1] = True
    if obj == "sft":
        prompt_len = torch.tensor([3, 5, 0])
        for b in range(B):
            mask[b, :prompt_len[b]] = False
    if shift:
        mask[:, 0] = False
    xt = torch.where(mask, torch.full_like(x0, mask_id), x0)
    # per-position CE weight on the row that predicts the position
    w = torch.where(mask, 1.0 / p, torch.zeros_like(p))
    if obj == "sft":
        w = w / (L - prompt_len).double()[:, None]
    tgt = torch.where(mask, x0, torch.full_like(x0, -1))
    if shift:  # row i-1 predicts token i
        w = torch.cat([w[:, 1:], torch.zeros(B, 1, dtype=w.dtype)], dim=1)
        tgt = torch.cat([tgt[:, 1:], torch.full((B, 1), -1, dtype=tgt.dtype)], dim=1)
    if obj == "bd3":
        tokens = torch.cat([xt, x0], dim=1)
        pos = torch.cat([torch.arange(L), torch.arange(L)]).expand(B, 2 * L)
        w = torch.cat([w, torch.zeros(B, L, dtype=w.dtype)], dim=1)
        tgt = torch.cat([tgt, torch.full((B, L), -1, dtype=tgt.dtype)], dim=1)
    else:
        tokens = xt
        pos = torch.arange(L).expand(B, L)
    norm = float(B) if obj == "sft" else float(B * L)
    return x0, t, mask, prompt_len, tokens, pos, tgt, w, norm


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.abspath(args.out)
    out_dir = os.path.join(root, "objective")
    os.makedirs(out_dir, exist_ok=True)
    cases = [("mdm", "llada_mha"), ("sft", "llada_mha"), ("bd3", "llada_gqa"),
             ("mdm", "dream_gqa")]
    for i, (obj, cname) in enumerate(cases):
        folder = os.path.join(root, "grad", cname)
        cfg, w = TM.load_model(folder)
        spec = GG.CONFIGS[cname]
        shift = spec["family"] == "dream"
        g = torch.Generator().manual_seed(500 + i)
        x0, t, mask, pl, tokens, pos, tgt, wt, norm = build(obj, cname, spec["mask"], spec["V"],
                                                            g, shift)
        W = {k: v.double() for k, v in w.items()}
        loss = GG.loss_fn(cfg, W, tokens, pos, tgt, wt, KIND[obj], BLOCK, norm)
        name = "%s__%s" % (obj, cname)
        st_io.write(os.path.join(out_dir, name + ".safetensors"), {
            "x0": x0.float(), "t": t.float(), "mask": mask.float(),
            "prompt_len": pl.float(), "loss": torch.tensor([loss.item()], dtype=torch.float32),
        }, {"format": "pt", "objective": obj, "model": cname, "block_size": str(BLOCK),
            "eps": repr(EPS), "loss": repr(loss.item())})
    print("[gen_objective] %d cases in %s" % (len(cases), out_dir), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
