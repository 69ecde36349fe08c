#!/usr/bin/python3
"""gen_grad.py: loss and gradient oracle for the trainable model (src/train/tmodel.c).

  /usr/bin/python3 gen_grad.py --out DIR

For each tiny configuration in CONFIGS, writes a loadable Hugging Face folder
DIR/grad/<config>/ (config.json + f32 model.safetensors, through tiny_models.py), and for each
attention kind a case file DIR/grad/<config>__<kind>.safetensors holding (all F32):
  tokens, pos, targets, weights  [B, T]   (ids as floats, exact; target -1 where weight is 0)
  attn [2] = (kind, block_size)  with kind 0 full, 1 causal, 2 block_causal, 3 bd3
  norm [1], max_seq [1], loss [1]
  grad.<HF name>                 d loss / d tensor, one per parameter tensor
loss = sum_{b,i} weights * CE(logits[b,i], targets[b,i]) / norm, computed by torch autograd in
float64 on the f32 weights (a clean reference; stored as f32). RoPE uses the caller's pos[]
with the f32 tables tiny_models.rope_cos_sin computes (as Hugging Face does). Masks, with
blk(i) = i // block_size (index within the sequence):
  full: all; causal: j <= i; block_causal: blk(j) <= blk(i);
  bd3 (T = 2n, [x_t ; x_0], shared positions): noisy i < n sees noisy j with blk(j) == blk(i)
  and clean j >= n with blk(j-n) < blk(i); clean i >= n sees clean j with blk(j-n) <= blk(i-n).
"""
import argparse
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402

import st_io  # noqa: E402
import tiny_models as TM  # noqa: E402

CONFIGS = {
    # LLaDA, MHA, untied head.
    "llada_mha": dict(family="llada", dtype="f32", D=32, H=4, Hkv=4, L=2, F=40, V=64,
                      theta=10000.0, eps=1e-5, mask=60, eos=61, eot=62, seed=101),
    # LLaDA, GQA 4/2, tied embeddings (wte is also the head).
    "llada_gqa": dict(family="llada", dtype="f32", D=32, H=4, Hkv=2, L=2, F=48, V=80,
                      theta=500000.0, eps=2e-5, mask=75, eos=76, eot=77, tied=True, seed=102),
    # Dream, GQA 6/2, q/k/v biases.
    "dream_gqa": dict(family="dream", dtype="f32", D=48, H=6, Hkv=2, L=2, F=40, V=72,
                      theta=1000000.0, eps=1e-6, mask=70, eos=71, eot=69, seed=103),
    # Llama, GQA, head_dim 12 != D/H, untied.
    "llama_causal": dict(family="llama", dtype="f32", D=32, H=4, Hkv=2, L=2, F=36, V=56,
                         head_dim=12, theta=10000.0, eps=1e-5, eos=50, bos=51, seed=104),
}
KINDS = {"full": 0, "causal": 1, "block_causal": 2, "bd3": 3}
B = 2
T_PLAIN = 14      # full / causal / block_causal (blocks of 4: the last one is partial)
BD3_HALF = 10     # bd3: T = 2 * 10, blocks of 4 (partial last block)
BLOCK = 4
MAX_SEQ = 32      # the C test initialises the model with this max_seq (pos < MAX_SEQ)


def visible(kind, bs, T):
    i = torch.arange(T)[:, None]
    j = torch.arange(T)[None, :]
    if kind == "full":
        return torch.ones(T, T, dtype=torch.bool)
    if kind == "causal":
        return j <= i
    if kind == "block_causal":
        return (j // bs) <= (i // bs)
    n = T // 2
    qi_noisy = i < n
    kj_noisy = j < n
    bi = torch.where(qi_noisy, i, i - n) // bs
    bj = torch.where(kj_noisy, j, j - n) // bs
    return ((qi_noisy & kj_noisy & (bi == bj)) | (qi_noisy & ~kj_noisy & (bj < bi)) |
            (~qi_noisy & ~kj_noisy & (bj <= bi)))


def loss_fn(cfg, W, tokens, pos, targets, weights, kind, bs, norm):
    a = TM.arch_of(cfg)
    n = TM.tensor_names(a)
    H, Hkv, Dh, eps = a["H"], a["Hkv"], a["Dh"], a["eps"]
    Bn, T = tokens.shape
    cos, sin = TM.rope_cos_sin(MAX_SEQ, Dh, a["theta"])
    c = cos.double()[pos][:, :, None, :]      # [B, T, 1, Dh]
    s = sin.double()[pos][:, :, None, :]
    vis = visible(kind, bs, T)
    rep = H // Hkv
    x = W[n["emb"]][tokens]
    for ln in n["layers"]:
        h = TM.rms(x, W[ln["attn_norm"]], eps)
        q = h @ W[ln["q"]].T
        k = h @ W[ln["k"]].T
        v = h @ W[ln["v"]].T
        if "qb" in ln:
            q = q + W[ln["qb"]]
            k = k + W[ln["kb"]]
            v = v + W[ln["vb"]]
        q = q.view(Bn, T, H, Dh)
        k = k.view(Bn, T, Hkv, Dh)
        v = v.view(Bn, T, Hkv, Dh)
        q = q * c + TM.rotate_half(q) * s
        k = k * c + TM.rotate_half(k) * s
        k = k.repeat_interleave(rep, dim=2)
        v = v.repeat_interleave(rep, dim=2)
        sc = torch.einsum("bthd,bshd->bhts", q, k) / math.sqrt(Dh)
        sc = sc.masked_fill(~vis, float("-inf"))
        p = torch.softmax(sc, dim=-1)
        o = torch.einsum("bhts,bshd->bthd", p, v).reshape(Bn, T, H * Dh)
        x = x + o @ W[ln["o"]].T
        h = TM.rms(x, W[ln["ffn_norm"]], eps)
        x = x + (torch.nn.functional.silu(h @ W[ln["gate"]].T) * (h @ W[ln["up"]].T)) @ \
            W[ln["down"]].T
    x = TM.rms(x, W[n["final_norm"]], eps)
    head = W[n["head"]] if n["head"] else W[n["emb"]]
    logits = x @ head.T                                    # [B, T, V]
    lse = torch.logsumexp(logits, dim=-1)
    tgt = targets.clamp(min=0)
    ce = lse - logits.gather(-1, tgt[..., None])[..., 0]
    return (weights * ce).sum() / norm


def make_case(cfg, spec, w32, kind, seed):
    g = torch.Generator().manual_seed(seed)
    a = TM.arch_of(cfg)
    V = a["V"]
    if kind == "bd3":
        n = BD3_HALF
        T = 2 * n
        pos = torch.stack([torch.cat([torch.arange(n), torch.arange(n)]) + 2 * b
                           for b in range(B)])
        x0 = torch.randint(0, V, (B, n), generator=g)
        masked = torch.rand(B, n, generator=g) < 0.5
        masked[:, 0] = True
        xt = torch.where(masked, torch.full_like(x0, cfg.get("mask_token_id", V - 1)), x0)
        tokens = torch.cat([xt, x0], dim=1)
        wt = torch.zeros(B, T, dtype=torch.float64)
        wt[:, :n] = masked.double() * (0.5 + 2.5 * torch.rand(B, n, generator=g,
                                                               dtype=torch.float64))
        targets = torch.full((B, T), -1, dtype=torch.long)
        targets[:, :n] = torch.where(masked, x0, torch.full_like(x0, -1))
        norm = float(B * n)
    else:
        T = T_PLAIN
        pos = torch.stack([torch.arange(T) + 3 * b for b in range(B)])
        tokens = torch.randint(0, V, (B, T), generator=g)
        sel = torch.rand(B, T, generator=g) < 0.6
        sel[:, 1] = True
        wt = sel.double() * (0.25 + 2.0 * torch.rand(B, T, generator=g, dtype=torch.float64))
        targets = torch.where(sel, torch.randint(0, V, (B, T), generator=g),
                              torch.full((B, T), -1, dtype=torch.long))
        norm = float(B * T)
    wt = wt.float().double()  # the C side reads weights as f32
    W = {k: v.double().clone().requires_grad_(True) for k, v in w32.items()}
    loss = loss_fn(cfg, W, tokens, pos, targets, wt, kind, BLOCK, norm)
    loss.backward()
    out = {
        "tokens": tokens.float(), "pos": pos.float(), "targets": targets.float(),
        "weights": wt.float(),
        "attn": torch.tensor([KINDS[kind], BLOCK], dtype=torch.float32),
        "norm": torch.tensor([norm], dtype=torch.float32),
        "max_seq": torch.tensor([MAX_SEQ], dtype=torch.float32),
        "loss": torch.tensor([loss.item()], dtype=torch.float32),
    }
    for k in w32:
        out["grad." + k] = W[k].grad.float()
    return out, loss.item()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = os.path.join(os.path.abspath(args.out), "grad")
    os.makedirs(root, exist_ok=True)
    n = 0
    for ci, (cname, spec) in enumerate(CONFIGS.items()):
        cfg = TM.make_config(spec)
        w = TM.make_weights(cfg, spec["seed"], "f32")
        folder = os.path.join(root, cname)
        TM.write_model(folder, cfg, w)
        cfg_b, w_b = TM.load_model(folder)       # the reference reads what was written
        for ki, kind in enumerate(KINDS):
            case, loss = make_case(cfg_b, spec, w_b, kind, 1000 + 10 * ci + ki)
            st_io.write(os.path.join(root, "%s__%s.safetensors" % (cname, kind)), case,
                        {"format": "pt", "config": cname, "attn": kind,
                         "loss": repr(loss)})
            n += 1
    print("[gen_grad] %d cases in %s" % (n, root), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
