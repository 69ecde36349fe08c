#!/usr/bin/python3
"""gen_optim.py: reference trajectories for the optimisers in src/optim/.

  /usr/bin/python3 gen_optim.py --out DIR

Writes DIR/optim/<name>.safetensors for name in adamw, adamw_lerp, muon, lamb, orscale
(OrScale-LM) and orscale_plain. Each file holds, for the tensors of SHAPES (hidden matrices 24x40 and 40x24 so
the Newton-Schulz transpose is exercised, an embedding and a head 50x16, 1-D gains of 16 and
13 elements; 13 leaves a vector tail in PyTorch's kernels):
  "w.0.<t>"        initial weights
  "g.<k>.<t>"      the gradient fed at step k (k = 0..STEPS-1)
  "w.<k+1>.<t>"    weights after step k
  "ratio.<k>.<t>"  [2] OrScale only: raw and clipped trust ratio at step k
  "c.<t>"          [1] OrScale only: the calibration constant
and __metadata__ with every hyper-parameter (JSON strings), the tensor kinds, the learning-rate
multiplier of every step ("lr_scale") and "adamw_ema": "lerp" or "muladd", the first-moment
form of the installed torch.optim.AdamW (torch >= 2.0 uses lerp_, 1.x mul_().add_()).

References:
  adamw          torch.optim.AdamW itself (foreach=False: the single-tensor path), and the
                 same class for the AdamW fallbacks inside Muon and OrScale.
  adamw_lerp     torch >= 2.0's _single_tensor_adamw written out in torch ops (its params carry
                 "adamw_ema": "lerp"), so the current form is checked whatever torch runs this.
  muon           KellerJordan/Muon muon.py muon_update, with zeropower_via_newtonschulz5 run in
                 fp32 instead of bf16 (the C code's reference path).
  lamb           NUS-HPC-AI-Lab/OrScale orscale/optim/lamb.py (bias-corrected, ratio clamp), with
                 1-D tensors excluded from weight decay and the trust ratio (ratio 1).
  orscale        NUS-HPC-AI-Lab/OrScale orscale_optimizer.py variant
                 "orscale_muon_moonlight_calibrated" (OrScale-LM), Polar Express NS in fp32.
  orscale_plain  the same file's "orscale_muon_wd" (s = 1, c = 1, clip [0.5, 1.5]).
Runs on one thread, deterministic, well under 10 s.
"""
import argparse
import inspect
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True

import torch  # noqa: E402

import st_io  # noqa: E402

STEPS = 10
# name, kind, shape
SHAPES = [
    ("blk.wide", "matrix", (24, 40)),
    ("blk.tall", "matrix", (40, 24)),
    ("embed", "embed", (50, 16)),
    ("head", "head", (50, 16)),
    ("gain", "vector", (16,)),
    ("bias_odd", "vector", (13,)),
]
LR_SCALE = [1.0 - 0.05 * k for k in range(STEPS)]  # a decaying schedule

KJ = (3.4445, -4.7750, 2.0315)
POLAR_EXPRESS = [
    (8.156554524902461, -22.48329292557795, 15.878769915207462),
    (4.042929935166739, -2.808917465908714, 0.5000178451051316),
    (3.8916678022926607, -2.772484153217685, 0.5060648178503393),
    (3.285753657755655, -2.3681294933425376, 0.46449024233003106),
    (2.3465413258596377, -1.7097828382687081, 0.42323551169305323),
]
MOONLIGHT_RMS = 0.2

CONFIGS = {
    "adamw": dict(kind="adamw", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.1,
                  w_std=0.2, g_std=0.1),
    # torch >= 2.0's _single_tensor_adamw written out in torch ops (lerp_ for the first moment)
    "adamw_lerp": dict(kind="adamw", adamw_ema="lerp", lr=1e-2, beta1=0.9, beta2=0.999,
                       eps=1e-8, weight_decay=0.1, w_std=0.2, g_std=0.1),
    "muon": dict(kind="muon", lr=0.02, momentum=0.95, nesterov=True, ns_steps=5,
                 weight_decay=0.1, adamw_lr=3e-3, beta1=0.9, beta2=0.95, eps=1e-10,
                 adamw_weight_decay=0.01, w_std=0.2, g_std=0.1),
    "lamb": dict(kind="lamb", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-6, weight_decay=0.01,
                 lamb_clamp=10.0, w_std=0.2, g_std=0.1),
    "orscale": dict(kind="orscale", orscale_lm=True, lr=1e-2, momentum=0.95, nesterov=True,
                    ns_steps=5, weight_decay=0.1, clip_min=0.1, clip_max=5.0, adamw_lr=1e-2,
                    beta1=0.9, beta2=0.999, eps=1e-8, adamw_weight_decay=0.1, w_std=0.2,
                    g_std=0.1),
    "orscale_plain": dict(kind="orscale", orscale_lm=False, lr=2e-2, momentum=0.95,
                          nesterov=True, ns_steps=5, weight_decay=0.1, clip_min=0.5,
                          clip_max=1.5, adamw_lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
                          adamw_weight_decay=0.1, w_std=0.07, g_std=0.1),
}


def adamw_form():
    src = inspect.getsource(sys.modules[torch.optim.AdamW.__module__])
    return "lerp" if "exp_avg.lerp_(" in src else "muladd"


def ns(G, coeffs, norm_mul, norm_eps):
    """Newton-Schulz in fp32, as zeropower_via_newtonschulz5 / orthogonalize_simple."""
    X = G.float()
    tr = G.size(0) > G.size(1)
    if tr:
        X = X.t()
    X = X / (X.norm() * norm_mul + norm_eps)
    for a, b, c in coeffs:
        A = X @ X.t()
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.t() if tr else X


def make_adamw(params, lr, cfg, wd):
    return torch.optim.AdamW(params, lr=lr, betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                             weight_decay=wd, foreach=False)


def run(name, cfg, seed):
    gen = torch.Generator().manual_seed(seed)
    ws = {}
    for t, kind, shape in SHAPES:
        ws[t] = (torch.randn(shape, generator=gen) * cfg["w_std"]).float()
    grads = [{t: (torch.randn(shape, generator=gen) * cfg["g_std"] * (1.0 + 0.3 * k)).float()
              for t, kind, shape in SHAPES} for k in range(STEPS)]
    out = {"w.0.%s" % t: ws[t].clone() for t in ws}
    for k in range(STEPS):
        for t in ws:
            out["g.%d.%s" % (k, t)] = grads[k][t].clone()
    kinds = {t: kind for t, kind, _ in SHAPES}
    params = {t: torch.nn.Parameter(ws[t].clone()) for t in ws}
    kind = cfg["kind"]

    ortho = kind in ("muon", "orscale")
    fallback = None
    if name == "adamw_lerp":
        pass  # stepped below by adamw2_step
    elif kind == "adamw":
        fallback = make_adamw(list(params.values()), cfg["lr"], cfg, cfg["weight_decay"])
    elif ortho:
        fb = [params[t] for t in params if kinds[t] != "matrix"]
        fallback = make_adamw(fb, cfg["adamw_lr"], cfg, cfg["adamw_weight_decay"])
    state = {t: {} for t in params}
    for k in range(STEPS):
        sc = LR_SCALE[k]
        for t, p in params.items():
            p.grad = grads[k][t].clone()
        if fallback is not None:
            base = cfg["lr"] if kind == "adamw" else cfg["adamw_lr"]
            for grp in fallback.param_groups:
                grp["lr"] = base * sc
            fallback.step()
        lr = cfg["lr"] * sc
        with torch.no_grad():
            for t, p in params.items():
                if (kind == "adamw" and name != "adamw_lerp") or \
                        (ortho and kinds[t] != "matrix"):
                    continue
                g, st = p.grad, state[t]
                if name == "adamw_lerp":
                    adamw2_step(p, g, st, lr, cfg)
                elif kind == "muon":
                    muon_step(p, g, st, lr, cfg)
                elif kind == "lamb":
                    lamb_step(p, g, st, lr, cfg, k + 1, kinds[t] == "vector")
                else:
                    raw, clipped = orscale_step(p, g, st, lr, cfg)
                    out["ratio.%d.%s" % (k, t)] = torch.tensor([raw, clipped],
                                                               dtype=torch.float32)
        for t, p in params.items():
            out["w.%d.%s" % (k + 1, t)] = p.detach().clone()
    if kind == "orscale":
        for t in params:
            if kinds[t] == "matrix":
                out["c.%s" % t] = torch.tensor([state[t]["c"]], dtype=torch.float32)
    return out, kinds


def adamw2_step(p, g, st, lr, cfg):
    """pytorch/pytorch torch/optim/adamw.py _single_tensor_adamw (2.x, capturable=False)."""
    b1, b2, eps, wd = cfg["beta1"], cfg["beta2"], cfg["eps"], cfg["weight_decay"]
    if "m" not in st:
        st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
        st["step"] = torch.tensor(0.0)
    st["step"] += 1
    p.mul_(1 - lr * wd)
    st["m"].lerp_(g, 1 - b1)
    st["v"].mul_(b2).addcmul_(g, g, value=1 - b2)
    step = st["step"].item()
    bc1 = 1 - b1 ** step
    bc2 = 1 - b2 ** step
    step_size = lr / bc1
    denom = (st["v"].sqrt() / math.sqrt(bc2)).add_(eps)
    p.addcdiv_(st["m"], denom, value=-step_size)


def muon_step(p, g, st, lr, cfg):
    """KellerJordan/Muon muon_update + SingleDeviceMuon's decay and step."""
    beta = cfg["momentum"]
    if "m" not in st:
        st["m"] = torch.zeros_like(p)
    m = st["m"]
    m.lerp_(g, 1 - beta)
    u = g.lerp(m, beta) if cfg["nesterov"] else m
    o = ns(u, [KJ] * cfg["ns_steps"], 1.0, 1e-7)
    o = o * max(1, g.size(-2) / g.size(-1)) ** 0.5
    p.mul_(1 - lr * cfg["weight_decay"])
    p.add_(o, alpha=-lr)


def lamb_step(p, g, st, lr, cfg, t, is_vector):
    """OrScale repo lamb.py; 1-D tensors: no weight decay, ratio 1."""
    b1, b2, eps = cfg["beta1"], cfg["beta2"], cfg["eps"]
    wd = 0.0 if is_vector else cfg["weight_decay"]
    if "m" not in st:
        st["m"], st["v"] = torch.zeros_like(p), torch.zeros_like(p)
    m, v = st["m"], st["v"]
    m.mul_(b1).add_(g, alpha=1.0 - b1)
    v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
    m_hat = m / (1.0 - b1 ** t)
    v_hat = v / (1.0 - b2 ** t)
    update = m_hat / (v_hat.sqrt() + eps)
    if wd > 0:
        update.add_(p, alpha=wd)
    wn, un = p.norm(), update.norm()
    if not is_vector and wn > 0 and un > 0:
        ratio = (wn / un).clamp(max=cfg["lamb_clamp"]).item()
    else:
        ratio = 1.0
    p.add_(update, alpha=-lr * ratio)


def orscale_step(p, g, st, lr, cfg):
    """orscale_optimizer.py: orscale_muon_moonlight_calibrated (orscale_lm) or
    orscale_muon_wd (plain)."""
    mu, wd, eps = cfg["momentum"], cfg["weight_decay"], 1e-6
    if "m" not in st:
        st["m"] = torch.zeros_like(p)
    buf = st["m"]
    buf.mul_(mu).add_(g)
    m_hat = buf.mul(mu).add(g) if cfg["nesterov"] else buf
    Q = ns(m_hat, POLAR_EXPRESS[:cfg["ns_steps"]], 1.02, 1e-6)
    m, n = p.shape
    s = MOONLIGHT_RMS * math.sqrt(max(m, n)) if cfg["orscale_lm"] else 1.0
    w_norm = p.norm().float()
    gm_norm = (wd * p.float() + s * Q.float()).norm()
    if cfg["orscale_lm"]:
        if "c" not in st:
            w0, g0 = w_norm.item(), gm_norm.item()
            st["c"] = MOONLIGHT_RMS * math.sqrt(max(m, n)) if (w0 < eps or g0 < eps) \
                else w0 / g0
        c = st["c"]
    else:
        c = st["c"] = 1.0
    m_stat = c * gm_norm if cfg["orscale_lm"] else gm_norm
    raw = (w_norm / (m_stat + eps)).item()
    clipped = max(cfg["clip_min"], min(cfg["clip_max"], raw))
    if wd != 0.0:
        p.add_(p, alpha=-lr * clipped * wd)
    p.add_(Q, alpha=-lr * clipped * s)
    return raw, clipped


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    folder = os.path.join(os.path.abspath(args.out), "optim")
    os.makedirs(folder, exist_ok=True)
    form = adamw_form()
    for i, (name, cfg) in enumerate(CONFIGS.items()):
        tensors, kinds = run(name, cfg, 1234 + i)
        meta = {"optimizer": name, "steps": str(STEPS), "adamw_ema": form,
                "torch": torch.__version__, "kinds": json.dumps(kinds),
                "shapes": json.dumps({t: list(s) for t, _, s in SHAPES}),
                "lr_scale": json.dumps(LR_SCALE),
                "params": json.dumps({k: v for k, v in cfg.items()})}
        st_io.write(os.path.join(folder, name + ".safetensors"), tensors, meta)
    print("[gen_optim] %d optimiser trajectories (AdamW form: %s) -> %s"
          % (len(CONFIGS), form, folder), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
