#!/usr/bin/python3
"""make_all.py: write the PyTorch oracle data the C tests compare against.

  /usr/bin/python3 tests/oracle/make_all.py --out DIR [--node-modules NODEDIR] [--source REPO]
                                            [--force]

Writes, for every tiny model variant (tiny_models.VARIANTS), DIR/<variant>/:
  config.json + model.safetensors (or model-0000i-of-00002.safetensors + index)  a loadable
      Hugging Face model folder in the real release layout (random weights);
  ref_logits.safetensors  F32 "tokens_<j>" [T] (ids as floats, exact) and "logits_<j>" [T, V];
and for the diffusion variants (llada_f32, llada_bf16, dream_f32, dream_bf16) also
  ref_gen.json  a list of {"name", "prompt", "params", "out", "min_gap", ...} cases produced by
      the published LLaDA / Dream sampling loops (ref_generate.py) at temperature 0.
DIR/oracle_manifest.json summarises variants, shapes and cases. The gen_*.py scripts then add
their own files (e.g. gen_blockdiff.py: ref_gen_bd.json for sdar_bf16 and fastdllm2_f32).

Then, if NODEDIR exists, runs the tokenizer oracle (tests/oracle/tok_oracle.mjs, owned
elsewhere) with --out DIR. Idempotent: DIR/.stamp holds a hash of the oracle scripts and
inputs; when it matches nothing is redone (DIR/.stamp_python covers the PyTorch part alone).
--force ignores both stamps. Runs on one torch thread (UM_ORACLE_THREADS overrides).
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # keep the source tree clean

try:
    import torch
except Exception as e:  # pragma: no cover - environment check
    sys.stderr.write(
        "make_all.py: PyTorch is not importable by %s (%s).\n"
        "The oracle needs Debian's python3 with python3-torch (e.g. /usr/bin/python3; "
        "apt-get install python3-torch python3-numpy).\n" % (sys.executable, e))
    sys.exit(2)
try:
    import numpy  # noqa: F401  (st_io uses tensor.numpy())
except Exception as e:  # pragma: no cover
    sys.stderr.write("make_all.py: numpy is not importable by %s (%s); apt-get install "
                     "python3-numpy\n" % (sys.executable, e))
    sys.exit(2)

import ref_generate as RG  # noqa: E402
import st_io  # noqa: E402
import tiny_models as TM  # noqa: E402

LOGIT_SEQ_LENS = (1, 7, 33)
MIN_GAP = 1e-4          # every recorded decision must be at least this robust
N_CANDIDATES = 12       # prompts tried per case (twice as many for flag cases)
GOOD_GAP = 0.01         # a candidate this robust that meets every preference ends the search
# torch threads: the ops are tiny, and on a busy 2-core machine torch 1.13's OpenMP regions
# (repeat_interleave, softmax) stall for milliseconds each; one thread is ~5-30x faster there.
# Results are identical for any thread count.
THREADS = int(os.environ.get("UM_ORACLE_THREADS", "1"))

# (name, params, prompt length)
LLADA_CASES = [
    ("single_block", dict(gen_length=16, steps=16, block_length=16), 7),
    ("semi_ar_blocks", dict(gen_length=24, steps=12, block_length=8), 9),
    ("steps_lt_masks", dict(gen_length=16, steps=5, block_length=16), 5),
    ("cfg_1_5", dict(gen_length=16, steps=8, block_length=8, cfg=1.5), 8),
    ("logits_eos_inf", dict(gen_length=16, steps=8, block_length=16, logits_eos_inf=True), 6),
    ("confidence_eos_eot_inf",
     dict(gen_length=16, steps=16, block_length=16, confidence_eos_eot_inf=True), 6),
]
DREAM_CASES = [("%s_steps%d" % (alg, st), dict(gen_length=16, steps=st, alg=alg), 7)
               for alg in ("maskgit_plus", "topk_margin", "entropy") for st in (16, 6)]
GEN_VARIANTS = ("llada_f32", "llada_bf16", "dream_f32", "dream_bf16")


def log(msg):
    print("[oracle] " + msg, flush=True)


# ------------------------------------------------------------------ stamp

def _hash_files(h, paths):
    for p in paths:
        h.update(os.path.basename(p).encode() + b"\0")
        if os.path.exists(p):
            with open(p, "rb") as fh:
                h.update(hashlib.sha256(fh.read()).digest())
        else:
            h.update(b"<missing>")


def python_stamp():
    """Hash of the PyTorch side: the oracle's Python files and the torch version."""
    h = hashlib.sha256(("torch=%s;" % torch.__version__).encode())
    _hash_files(h, [os.path.join(HERE, f) for f in sorted(os.listdir(HERE))
                    if f.endswith(".py")])
    return h.hexdigest()


def full_stamp(source, node_modules):
    """python_stamp + the tokenizer oracle's inputs (script, corpus, node_modules path)."""
    h = hashlib.sha256(python_stamp().encode())
    od = os.path.join(source, "tests", "oracle")
    _hash_files(h, [os.path.join(od, "tok_oracle.mjs"), os.path.join(od, "tok_corpus.txt")])
    node_on = bool(node_modules) and os.path.isdir(node_modules)
    h.update(("node=%s:%s" % (node_on, os.path.abspath(node_modules or ""))).encode())
    return h.hexdigest()


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


# ------------------------------------------------------------------ independent check

def alt_forward(cfg, tensors, tokens):
    """A second, deliberately different formulation of the forward (loops per head, RoPE via
    complex multiplication of (x[:h], x[h:]) pairs, explicit GQA index) used only to catch
    mistakes in tiny_models.RefModel. float64."""
    a = TM.arch_of(cfg)
    n = TM.tensor_names(a)
    w = {k: v.to(torch.float64) for k, v in tensors.items()}
    T = len(tokens)
    H, Hkv, Dh, eps = a["H"], a["Hkv"], a["Dh"], a["eps"]
    half = Dh // 2
    inv = 1.0 / (a["theta"] ** (torch.arange(0, Dh, 2, dtype=torch.int64).float() / Dh))
    ang = (torch.arange(T, dtype=torch.float32)[:, None] * inv[None, :]).to(torch.float64)
    rot = torch.polar(torch.ones_like(ang), ang)  # [T, Dh/2]

    def rope(v):  # v [T, Dh]
        c = torch.complex(v[:, :half], v[:, half:]) * rot
        return torch.cat([c.real, c.imag], dim=1)

    def rms(v, g):
        return v / torch.sqrt((v * v).sum(-1, keepdim=True) / v.shape[-1] + eps) * g

    bias = torch.zeros(T, T, dtype=torch.float64)  # additive attention bias [query, key]
    for i in range(T):
        for j in range(T):
            if (a["causal"] and j > i) or (a.get("block") and j // a["block"] > i // a["block"]):
                bias[i, j] = float("-inf")

    x = torch.stack([w[n["emb"]][t] for t in tokens])
    for ln in n["layers"]:
        hN = rms(x, w[ln["attn_norm"]])
        q = torch.matmul(hN, w[ln["q"]].t())
        k = torch.matmul(hN, w[ln["k"]].t())
        v = torch.matmul(hN, w[ln["v"]].t())
        if "qb" in ln:
            q, k, v = q + w[ln["qb"]], k + w[ln["kb"]], v + w[ln["vb"]]
        outs = []
        for hq in range(H):
            hk = hq // (H // Hkv)
            qh = q[:, hq * Dh:(hq + 1) * Dh]
            kh = k[:, hk * Dh:(hk + 1) * Dh]
            if "qn" in ln:
                qh, kh = rms(qh, w[ln["qn"]]), rms(kh, w[ln["kn"]])
            qh, kh = rope(qh), rope(kh)
            vh = v[:, hk * Dh:(hk + 1) * Dh]
            sc = torch.matmul(qh, kh.t()) * (Dh ** -0.5) + bias
            sc = torch.exp(sc - sc.max(dim=1, keepdim=True).values)
            outs.append(torch.matmul(sc / sc.sum(dim=1, keepdim=True), vh))
        x = x + torch.matmul(torch.cat(outs, dim=1), w[ln["o"]].t())
        hN = rms(x, w[ln["ffn_norm"]])
        g = torch.matmul(hN, w[ln["gate"]].t())
        x = x + torch.matmul(g * torch.sigmoid(g) * torch.matmul(hN, w[ln["up"]].t()),
                             w[ln["down"]].t())
    x = rms(x, w[n["final_norm"]])
    return torch.matmul(x, (w[n["head"]] if n["head"] else w[n["emb"]]).t())


# ------------------------------------------------------------------ pieces

def write_ref_logits(folder, name, cfg, spec, model):
    gen = torch.Generator().manual_seed(1000 + spec["seed"])
    excl = TM.special_ids(cfg, spec)
    tensors = {}
    seqs = []
    for j, T in enumerate(LOGIT_SEQ_LENS):
        ids = TM.random_ids(gen, T, cfg["vocab_size"], excl)
        if spec["family"] in ("llada", "dream", "sdar", "fastdllm2") and T >= 7:
            # diffusion inputs contain mask tokens: put a few in
            for p in range(1, T, 3):
                ids[p] = spec["mask"]
        seqs.append(ids)
        tensors["tokens_%d" % j] = torch.tensor(ids, dtype=torch.float32)
        tensors["logits_%d" % j] = model(ids)
    st_io.write(os.path.join(folder, "ref_logits.safetensors"), tensors)
    # checks: the written file reads back bit-exactly; an independent formulation agrees;
    # and how far a float32 evaluation of the same math drifts (a scale for C tolerances)
    back, _ = st_io.read(os.path.join(folder, "ref_logits.safetensors"))
    for k, v in tensors.items():
        assert torch.equal(back[k], v), k
    cfg_b, w_b = TM.load_model(folder)
    alt = alt_forward(cfg_b, w_b, seqs[1])
    d_alt = float((alt - model(seqs[1]).to(torch.float64)).abs().max())
    if d_alt > 1e-5:
        raise SystemExit("make_all.py: %s: reference forward and its independent check differ "
                         "by %g" % (name, d_alt))
    m32 = TM.RefModel(cfg_b, w_b, compute_dtype=torch.float32)
    d32 = max(float((m32(s) - model(s)).abs().max()) for s in seqs)
    stds = [float(tensors["logits_%d" % j].std()) for j in range(len(seqs))]
    return dict(seq_lens=list(LOGIT_SEQ_LENS), logits_cols=int(tensors["logits_0"].shape[1]),
                alt_check_max_abs=d_alt, f32_vs_f64_max_abs=d32,
                logits_std=[round(s, 3) for s in stds])


def gen_case(model, cfg, spec, cname, params, plen, case_seed):
    fam = spec["family"]
    a = TM.arch_of(cfg)
    excl = TM.special_ids(cfg, spec)
    flags = [f for f in ("logits_eos_inf", "confidence_eos_eot_inf") if params.get(f)]

    def run(prompt, **over):
        if fam == "llada":
            q = dict(params, **over)
            return RG.llada_generate(
                model.batch, prompt, gen_length=q["gen_length"], steps=q["steps"],
                block_length=q["block_length"], temperature=0.0,
                cfg_scale=q.get("cfg", 0.0), remasking="low_confidence",
                mask_id=spec["mask"], eos_id=spec["eos"], eot_id=spec["eot"],
                logits_eos_inf=q.get("logits_eos_inf", False),
                confidence_eos_eot_inf=q.get("confidence_eos_eot_inf", False))
        return RG.dream_generate(
            model.batch, prompt, gen_length=params["gen_length"], steps=params["steps"],
            alg=params["alg"], mask_id=spec["mask"], eps=1e-3, temperature=0.0)

    # Candidates: prompts from a fixed seed sequence, tried in order. Every case must reach
    # MIN_GAP. Among candidates with min_gap > 2e-3, a case with a flag prefers prompts whose
    # output the flag changes (so the flag is really tested), then (LLaDA) outputs holding
    # some EOS/EoT, at most half (committed specials, e.g. at confidence 0 under
    # confidence_eos_eot_inf, without a degenerate all-EoT answer); then the
    # largest min_gap. The search stops early at a candidate that meets every preference with
    # min_gap >= GOOD_GAP.
    specials = {spec["eos"], spec.get("eot")} - {None}

    def rank(cd):
        good = cd[0] > 2e-3
        n_sp = sum(t in specials for t in cd[4])
        has_special = fam == "llada" and 1 <= n_sp <= len(cd[4]) // 2
        return (cd[0] > MIN_GAP, cd[6] and good, has_special and good, cd[6], cd[0])

    top_tier = (True, True, fam == "llada", True)
    cands = []
    for c in range(N_CANDIDATES * (2 if flags else 1)):
        g = torch.Generator().manual_seed(case_seed * 100 + c)
        prompt = TM.random_ids(g, plen, cfg["vocab_size"], excl)
        out, st = run(prompt)
        cg, lg, mg = RG.summarize(st)
        effect = True
        if flags and mg > 2e-3:
            off, _ = run(prompt, **{f: False for f in flags})
            effect = off != out
        elif flags:
            effect = False  # not worth a second run: this candidate cannot be chosen first
        cands.append((mg, cg, lg, prompt, out, st, effect))
        if rank(cands[-1])[:4] == top_tier and mg >= GOOD_GAP:
            break
    mg, cg, lg, prompt, out, st, effect = max(cands, key=rank)
    if not mg > MIN_GAP:
        raise SystemExit("make_all.py: %s/%s: no candidate prompt has min_gap > %g (best %g)"
                         % (spec["name"], cname, MIN_GAP, mg))
    if not effect:
        log("WARNING: %s/%s: no candidate prompt where %s changes the output"
            % (spec["name"], cname, "+".join(flags)))
    if fam == "llada":
        p = {"gen_length": params["gen_length"], "steps": params["steps"],
             "block_length": params["block_length"], "remasking": "low_confidence",
             "cfg": params.get("cfg", 0.0), "alg": None, "eps": 1e-3, "temperature": 0,
             "logits_eos_inf": params.get("logits_eos_inf", False),
             "confidence_eos_eot_inf": params.get("confidence_eos_eot_inf", False)}
    else:
        p = {"gen_length": params["gen_length"], "steps": params["steps"],
             "block_length": params["gen_length"], "remasking": None, "cfg": 0.0,
             "alg": params["alg"], "eps": 1e-3, "temperature": 0, "top_p": None,
             "top_k": None, "alg_temp": None, "logits_eos_inf": False,
             "confidence_eos_eot_inf": False}
    p.update({"mask_id": spec["mask"], "eos_id": spec["eos"], "eot_id": spec.get("eot")})
    case = {"name": cname, "prompt": prompt, "params": p, "out": out, "min_gap": mg,
            "min_conf_gap": cg, "min_logit_gap": lg, "transfer_counts": st["transfer"]}
    if flags:
        case["flag_changes_output"] = bool(effect)
    if fam == "dream":
        case["timesteps_f32"] = st["timesteps"]
        case["min_schedule_margin"] = min(st["schedule_margin"]) if st["schedule_margin"] \
            else None
    counts = {}
    for t in out:
        counts[t] = counts.get(t, 0) + 1
    case["n_eos_out"] = counts.get(spec["eos"], 0)
    case["n_eot_out"] = counts.get(spec.get("eot"), 0) if spec.get("eot") is not None else 0
    assert a["V"] > max(out)
    return case


def write_ref_gen(folder, cfg, spec, model):
    cases_def = LLADA_CASES if spec["family"] == "llada" else DREAM_CASES
    cases = []
    for k, (cname, params, plen) in enumerate(cases_def):
        cases.append(gen_case(model, cfg, spec, cname, params, plen, spec["seed"] * 37 + k))
    with open(os.path.join(folder, "ref_gen.json"), "w") as f:   # one case per line
        f.write("[\n" + ",\n".join(json.dumps(c) for c in cases) + "\n]\n")
    return cases


def run_node(source, node_modules, out):
    mjs = os.path.join(source, "tests", "oracle", "tok_oracle.mjs")
    corpus = os.path.join(source, "tests", "oracle", "tok_corpus.txt")
    if not node_modules or not os.path.isdir(node_modules):
        log("node modules %r not found: tokenizer oracle skipped" % node_modules)
        return
    if not os.path.exists(mjs):
        log("WARNING: %s does not exist yet: tokenizer oracle skipped" % mjs)
        return
    cmd = ["node", mjs, "--node-modules", os.path.abspath(node_modules), "--corpus", corpus,
           "--out", out]
    log("running " + " ".join(cmd))
    try:
        r = subprocess.run(cmd)
    except FileNotFoundError:
        raise SystemExit("make_all.py: 'node' is not on PATH but --node-modules exists")
    if r.returncode != 0:
        raise SystemExit("make_all.py: tokenizer oracle failed (exit %d): %s"
                         % (r.returncode, " ".join(cmd)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output directory (testdata)")
    ap.add_argument("--node-modules", default=None, help="node_modules for the tokenizer oracle")
    ap.add_argument("--source", default=os.path.dirname(os.path.dirname(HERE)),
                    help="repository root (default: two levels above this script)")
    ap.add_argument("--force", action="store_true", help="ignore DIR/.stamp")
    args = ap.parse_args()

    t0 = time.time()
    torch.set_num_threads(THREADS)
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    stamp = full_stamp(args.source, args.node_modules)
    stamp_path = os.path.join(out, ".stamp")
    py_stamp = python_stamp()
    py_stamp_path = os.path.join(out, ".stamp_python")
    if not args.force and _read(stamp_path) == stamp:
        log("%s is up to date (stamp matches); nothing to do" % out)
        return 0
    if os.path.exists(stamp_path):
        os.remove(stamp_path)
    if not args.force and _read(py_stamp_path) == py_stamp:
        log("PyTorch oracle data in %s is up to date" % out)
    else:
        if os.path.exists(py_stamp_path):
            os.remove(py_stamp_path)
        write_python_oracle(out, t0)
        run_extra_oracles(out)
        with open(py_stamp_path, "w") as f:
            f.write(py_stamp + "\n")

    run_node(args.source, args.node_modules, out)

    with open(stamp_path, "w") as f:
        f.write(stamp + "\n")
    log("all done in %.1fs -> %s" % (time.time() - t0, out))
    return 0


def run_extra_oracles(out):
    """Every tests/oracle/gen_*.py (gradients, optimisers, objectives, ...) is run as
    `python gen_X.py --out DIR`, in name order, so new oracles need no edit here."""
    for f in sorted(os.listdir(HERE)):
        if f.startswith("gen_") and f.endswith(".py"):
            t = time.time()
            cmd = [sys.executable, os.path.join(HERE, f), "--out", out]
            r = subprocess.run(cmd)
            if r.returncode != 0:
                raise SystemExit("make_all.py: %s failed (exit %d)" % (f, r.returncode))
            log("%-20s done (%.1fs)" % (f, time.time() - t))


def write_python_oracle(out, t0):
    manifest = {"torch": torch.__version__, "min_gap_threshold": MIN_GAP, "variants": {}}
    for name in TM.VARIANTS:
        tv = time.time()
        folder = os.path.join(out, name)
        cfg, spec = TM.build_variant(name, folder)
        spec = dict(spec, name=name)
        cfg_b, w_b = TM.load_model(folder)  # the reference reads what was written
        model = TM.RefModel(cfg_b, w_b)
        raw = st_io.read_model_folder(folder)
        entry = {"family": spec["family"], "dtype": spec["dtype"],
                 "summary": TM.describe(cfg_b, raw),
                 "files": sorted(f for f in os.listdir(folder)),
                 "tensors": {k: [list(v.shape), str(v.dtype).replace("torch.", "")]
                             for k, v in raw.items()},
                 "special_ids": {k: spec.get(k) for k in ("mask", "eos", "eot", "bos")
                                 if spec.get(k) is not None}}
        entry["logits"] = write_ref_logits(folder, name, cfg_b, spec, model)
        if name in GEN_VARIANTS:
            cases = write_ref_gen(folder, cfg_b, spec, model)
            entry["gen_cases"] = [{k: c[k] for k in (
                "name", "min_gap", "min_conf_gap", "min_logit_gap", "transfer_counts",
                "n_eos_out", "n_eot_out", "flag_changes_output") if k in c} for c in cases]
        entry["files"] = sorted(os.listdir(folder))
        manifest["variants"][name] = entry
        log("%-20s %s  (%.1fs)" % (name, entry["summary"], time.time() - tv))
        for c in entry.get("gen_cases", []):
            log("    %-26s min_gap %.3g (conf %.3g, logit %.3g) eos/eot out %d/%d%s"
                % (c["name"], c["min_gap"], c["min_conf_gap"], c["min_logit_gap"],
                   c["n_eos_out"], c["n_eot_out"],
                   "" if "flag_changes_output" not in c
                   else " flag changes output: %s" % c["flag_changes_output"]))
    manifest["python_seconds"] = round(time.time() - t0, 2)
    with open(os.path.join(out, "oracle_manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    log("python oracle done in %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    sys.exit(main())
