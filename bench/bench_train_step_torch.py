#!/usr/bin/python3
"""bench_train_step_torch.py: the PyTorch baseline of bench_train_step.c — the same LLaDA-shaped
model (D 256, 8 layers, 8 heads, F 704, V 8192, untied; 10.6M parameters), the same batch
(B 8 x T 256, half the positions weighted, full attention), float32, forward + backward with the
loss computed only on the weighted rows, `--threads` torch threads (default 2).

  /usr/bin/python3 bench/bench_train_step_torch.py [--threads 2] [--runs 5]
Prints: train_step_torch params=.. B=.. T=.. threads=.. median_ms=.. tokens_per_s=..
"""
import argparse
import math
import time

import torch
import torch.nn.functional as Fn


def rms(x, w, eps=1e-5):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--B", type=int, default=8)
    ap.add_argument("--T", type=int, default=256)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    D, L, H, F, V, B, T = 256, 8, 8, 704, 8192, a.B, a.T
    Dh = D // H
    g = torch.Generator().manual_seed(0)

    def p(*s, std=0.02):
        return (torch.randn(*s, generator=g) * std).requires_grad_(True)

    wte = p(V, D)
    head = p(V, D)
    lnf = torch.ones(D, requires_grad=True)
    layers = [dict(an=torch.ones(D, requires_grad=True), q=p(D, D), k=p(D, D), v=p(D, D),
                   o=p(D, D), fn=torch.ones(D, requires_grad=True), g=p(F, D), u=p(F, D),
                   d=p(D, F)) for _ in range(L)]
    params = [wte, head, lnf] + [t for l in layers for t in l.values()]
    n_params = sum(t.numel() for t in params)
    inv = 1.0 / (10000.0 ** (torch.arange(0, Dh, 2).float() / Dh))
    ang = torch.arange(T).float()[:, None] * inv[None, :]
    emb = torch.cat([ang, ang], -1)
    cos, sin = emb.cos()[None, None], emb.sin()[None, None]

    def rot(x):
        h = x.shape[-1] // 2
        return torch.cat([-x[..., h:], x[..., :h]], -1)

    tok = torch.randint(0, V, (B, T), generator=g)
    sel = torch.rand(B, T, generator=g) < 0.5
    tgt = torch.randint(0, 8000, (B, T), generator=g)
    rows = sel.reshape(-1).nonzero()[:, 0]

    def step():
        x = wte[tok]
        for l in layers:
            h = rms(x, l["an"])
            q = (h @ l["q"].T).view(B, T, H, Dh).transpose(1, 2)
            k = (h @ l["k"].T).view(B, T, H, Dh).transpose(1, 2)
            v = (h @ l["v"].T).view(B, T, H, Dh).transpose(1, 2)
            q = q * cos + rot(q) * sin
            k = k * cos + rot(k) * sin
            s = (q @ k.transpose(-1, -2)) / math.sqrt(Dh)
            o = (torch.softmax(s, -1) @ v).transpose(1, 2).reshape(B, T, D)
            x = x + o @ l["o"].T
            h = rms(x, l["fn"])
            x = x + (Fn.silu(h @ l["g"].T) * (h @ l["u"].T)) @ l["d"].T
        xf = rms(x.reshape(B * T, D)[rows], lnf)
        logits = xf @ head.T
        loss = Fn.cross_entropy(logits, tgt.reshape(-1)[rows], reduction="sum") * 2.0 / (B * T)
        loss.backward()
        return loss.item()

    step()
    ts = []
    for _ in range(a.runs):
        t0 = time.time()
        step()
        ts.append((time.time() - t0) * 1e3)
    ts.sort()
    med = ts[len(ts) // 2]
    print("train_step_torch params=%d B=%d T=%d threads=%d median_ms=%.1f tokens_per_s=%.0f"
          % (n_params, B, T, a.threads, med, B * T / (med / 1e3)))


if __name__ == "__main__":
    main()
