"""tiny_models.py: tiny random checkpoints in the exact Hugging Face layouts of the real models,
and a plain-PyTorch reference forward for each family, driven only by config.json + tensors.

Layouts (checked against the public sources; see the report of the oracle helper):
- LLaDA (GSAI-ML/LLaDA-8B-Instruct, modeling_llada.py: LLaDAModelLM -> self.model = LLaDAModel,
  whose ModuleDict is `transformer`; block_type "llama" -> LLaDALlamaBlock):
    model.transformer.wte.weight              [embedding_size, D]
    model.transformer.blocks.{i}.attn_norm.weight  [D]
    model.transformer.blocks.{i}.q_proj.weight     [D, D]
    model.transformer.blocks.{i}.k_proj.weight     [Hkv*Dh, D]   (Dh = d_model // n_heads)
    model.transformer.blocks.{i}.v_proj.weight     [Hkv*Dh, D]
    model.transformer.blocks.{i}.attn_out.weight   [D, D]
    model.transformer.blocks.{i}.ff_norm.weight    [D]
    model.transformer.blocks.{i}.ff_proj.weight    [F, D]   act (silu) is applied to this one
    model.transformer.blocks.{i}.up_proj.weight    [F, D]
    model.transformer.blocks.{i}.ff_out.weight     [D, F]
    model.transformer.ln_f.weight             [D]
    model.transformer.ff_out.weight           [embedding_size, D]  (absent when weight_tying)
  Block: x += attn_out(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))), n = attn_norm(x);
         x += ff_out(silu(ff_proj(m)) * up_proj(m)), m = ff_norm(x). Logits have
  embedding_size columns (the head is Linear(d_model, embedding_size or vocab_size)).
  Attention: SDPA, no mask (bidirectional), scale 1/sqrt(Dh), KV heads repeat_interleave'd.
- Dream (Dream-org/Dream-v0-Instruct-7B): Qwen2 names and math, q/k/v biases, attention
  is_causal=False with no mask; generation shifts logits by one (see ref_generate.py).
- Llama (LlamaForCausalLM) and Qwen2 (Qwen2ForCausalLM): same names, causal.
- SDAR (JetAstra/SDAR; JetLM/SDAR-*-Chat config.json and modeling_sdar.py, itself derived from
  transformers' modeling_qwen3.py): Qwen3 names plus
    model.layers.{i}.self_attn.q_norm.weight  [Dh]
    model.layers.{i}.self_attn.k_norm.weight  [Dh]
  applied per head after the projection and before RoPE (q = rope(q_norm(q_proj(h).view(.., Dh)))),
  explicit head_dim (H*Dh need not equal D), attention_bias false, config "block_size" (4) and
  "mask_token_id" (151669). Attention at inference is block-causal: query i sees key j iff
  j // block_size <= i // block_size over absolute positions (generate.py builds
  tril(ones(blocks, blocks)) repeated block_size times along both axes).
- Fast-dLLM v2 (Efficient-Large-Model/Fast_dLLM_v2_7B modeling.py, Fast_dLLM_QwenForCausalLM):
  Qwen2 names, q/k/v bias always on, config "bd_size" (32); at inference eval_block_diff_mask
  is the same block-causal rule (block_q >= block_kv). Generation shifts logits by one (the
  masked token at i is read from row i-1); the reference logits here are raw rows, unshifted.
Shared math: RMSNorm x * rsqrt(mean(x^2) + eps) * w (in float32 or wider); RoPE with
inv_freq = 1 / theta^(arange(0, Dh, 2) / Dh) in float32, angles pos * inv_freq in float32,
rotate_half (halves, not interleaved pairs); SwiGLU down(silu(gate x) * up x).

The reference forward runs in float64 on the (already dtype-rounded) weights and returns
float32 logits: an oracle a float32 engine is compared against with a tolerance.
"""
import copy
import json
import math
import os
import shutil

import torch

from st_io import read_model_folder, write, write_sharded

# ------------------------------------------------------------------ variants

# Special ids sit near the top of each vocabulary, like the real models (LLaDA: eos 126081,
# mask 126336, eot 126348 of 126464; Dream: eos=pad=bos 151643, im_end 151645, mask 151666).
VARIANTS = {
    # LLaDA, MHA, f32, real-like theta 500000, eps 2e-5.
    "llada_f32": dict(family="llada", dtype="f32", D=48, H=6, Hkv=6, L=2, F=100, V=384,
                      theta=500000.0, eps=2e-5, mask=370, eos=360, eot=375, seed=11),
    # LLaDA with GQA (n_kv_heads < n_heads), bf16, head dim 10 (pairs split in halves of 5).
    "llada_bf16": dict(family="llada", dtype="bf16", D=40, H=4, Hkv=2, L=3, F=72, V=384,
                       theta=123456.0, eps=1e-6, mask=370, eos=360, eot=375, seed=12),
    # LLaDA f16 with embedding_size (320) > vocab_size (300): logits have 320 columns.
    "llada_f16": dict(family="llada", dtype="f16", D=32, H=4, Hkv=4, L=2, F=88, V=300,
                      V_emb=320, theta=500000.0, eps=1e-5, mask=290, eos=280, eot=295, seed=13),
    # Dream, GQA 6/2, bf16, q/k/v biases.
    "dream_bf16": dict(family="dream", dtype="bf16", D=48, H=6, Hkv=2, L=2, F=100, V=420,
                       theta=1000000.0, eps=1e-6, mask=410, eos=400, eot=402, seed=21),
    # Dream, MQA (one KV head), f32, head dim 10, 3 layers.
    "dream_f32": dict(family="dream", dtype="f32", D=40, H=4, Hkv=1, L=3, F=72, V=352,
                      theta=20000.0, eps=3e-6, mask=345, eos=340, eot=342, seed=22),
    # Llama, tied embeddings (no lm_head.weight), explicit head_dim 16 != 48/4, odd F.
    "llama_f32_tied": dict(family="llama", dtype="f32", D=48, H=4, Hkv=2, L=2, F=93, V=320,
                           head_dim=16, theta=500000.0, eps=1e-5, eos=310, bos=300, tied=True,
                           seed=31),
    # Qwen2, q/k/v biases, bf16, two shards + index.
    "qwen2_bf16_sharded": dict(family="qwen2", dtype="bf16", D=40, H=4, Hkv=2, L=2, F=72,
                               V=360, theta=1000000.0, eps=1e-6, eos=350, bos=350, shards=2,
                               seed=41),
    # SDAR (Qwen3 layout): QK-norm, GQA 4/2, explicit head_dim 16 != 48/4 (q_proj [64, 48]),
    # tied embeddings, bf16, block_size 4. Like SDAR-1.7B: bos = eos (<|endoftext|>), mask from
    # config. EOS is favoured a little so a stopping case exists (gen_blockdiff.py).
    "sdar_bf16": dict(family="sdar", dtype="bf16", D=48, H=4, Hkv=2, L=2, F=88, V=400,
                      head_dim=16, theta=1000000.0, eps=1e-6, eos=390, bos=390, mask=396,
                      tied=True, block=4, favour=(("eos", 0.6),), seed=51),
    # Fast-dLLM v2 (Qwen2.5 layout): q/k/v bias, GQA 6/2, untied, f32, bd_size 8. eos is the
    # stop token (<|im_end|> in the real model); mask_token_id is written into this test
    # config because the family default (151665) lies outside the tiny vocabulary.
    "fastdllm2_f32": dict(family="fastdllm2", dtype="f32", D=48, H=6, Hkv=2, L=2, F=96,
                          V=384, theta=1000000.0, eps=1e-6, eos=375, bos=373, mask=380,
                          block=8, favour=(("eos", 0.06),), seed=61),
}

TORCH_DTYPE = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}
HF_DTYPE_NAME = {"f32": "float32", "bf16": "bfloat16", "f16": "float16"}


# ------------------------------------------------------------------ configs

def make_config(s):
    """config.json dict for a variant spec, with the fields of the real release configs."""
    fam = s["family"]
    dh = s.get("head_dim", s["D"] // s["H"])
    if fam == "llada":
        v_emb = s.get("V_emb", s["V"])
        return {
            # Field set of GSAI-ML/LLaDA-8B-Instruct config.json (OLMo-style, top level).
            "activation_type": "silu",
            "alibi": False,
            "alibi_bias_max": 8.0,
            "architectures": ["LLaDAModelLM"],
            "attention_dropout": 0.0,
            "attention_layer_norm": False,
            "attention_layer_norm_with_affine": True,
            "auto_map": {
                "AutoConfig": "configuration_llada.LLaDAConfig",
                "AutoModelForCausalLM": "modeling_llada.LLaDAModelLM",
                "AutoModel": "modeling_llada.LLaDAModelLM",
            },
            "bias_for_layer_norm": False,
            "block_group_size": 1,
            "block_type": "llama",
            "d_model": s["D"],
            "embedding_dropout": 0.0,
            "embedding_size": v_emb,
            "eos_token_id": s["eos"],
            # not a Hugging Face field: real LLaDA folders give <|eot_id|> through the
            # tokenizer; these tokenizer-less test models name it for unmask here
            "eot_token_id": s["eot"],
            "flash_attention": False,
            "include_bias": False,
            "include_qkv_bias": False,
            "init_cutoff_factor": None,
            "init_device": "meta",
            "init_fn": "mitchell",
            "init_std": 0.02,
            "input_emb_norm": False,
            "layer_norm_type": "rms",
            "layer_norm_with_affine": True,
            "mask_token_id": s["mask"],
            "max_sequence_length": 4096,
            "mlp_hidden_size": s["F"],
            "mlp_ratio": 4,
            "model_type": "llada",
            "multi_query_attention": None,
            "n_heads": s["H"],
            "n_kv_heads": s["Hkv"],
            "n_layers": s["L"],
            "pad_token_id": s["eos"],
            "precision": "amp_bf16",
            "residual_dropout": 0.0,
            "rms_norm_eps": s["eps"],
            "rope": True,
            "rope_full_precision": True,
            "rope_theta": s["theta"],
            "scale_logits": False,
            "torch_dtype": HF_DTYPE_NAME[s["dtype"]],
            "transformers_version": "4.46.3",
            "use_cache": False,
            "vocab_size": s["V"],
            "weight_tying": bool(s.get("tied", False)),
        }
    common = {
        "attention_dropout": 0.0,
        "hidden_act": "silu",
        "hidden_size": s["D"],
        "initializer_range": 0.02,
        "intermediate_size": s["F"],
        "max_position_embeddings": 4096,
        "num_attention_heads": s["H"],
        "num_hidden_layers": s["L"],
        "num_key_value_heads": s["Hkv"],
        "rms_norm_eps": s["eps"],
        "rope_scaling": None,
        "rope_theta": s["theta"],
        "tie_word_embeddings": bool(s.get("tied", False)),
        "torch_dtype": HF_DTYPE_NAME[s["dtype"]],
        "use_cache": True,
        "vocab_size": s["V"],
    }
    if fam == "dream":
        # Field set of Dream-org/Dream-v0-Instruct-7B config.json (Qwen2 fields + mask id).
        c = dict(common)
        c.update({
            "architectures": ["DreamModel"],
            "auto_map": {
                "AutoConfig": "configuration_dream.DreamConfig",
                "AutoModel": "modeling_dream.DreamModel",
            },
            "bos_token_id": s["eos"],
            "eos_token_id": s["eos"],
            "mask_token_id": s["mask"],
            "max_window_layers": s["L"],
            "model_type": "Dream",
            "pad_token_id": s["eos"],
            "sliding_window": None,
            "transformers_version": "4.46.2",
            "use_cache": False,
            "use_sliding_window": False,
        })
        return c
    if fam == "llama":
        c = dict(common)
        c.update({
            "architectures": ["LlamaForCausalLM"],
            "attention_bias": False,
            "bos_token_id": s["bos"],
            "eos_token_id": s["eos"],
            "head_dim": dh,
            "mlp_bias": False,
            "model_type": "llama",
            "pretraining_tp": 1,
            "transformers_version": "4.46.3",
        })
        return c
    if fam == "qwen2":
        c = dict(common)
        c.update({
            "architectures": ["Qwen2ForCausalLM"],
            "bos_token_id": s["bos"],
            "eos_token_id": s["eos"],
            "max_window_layers": s["L"],
            "model_type": "qwen2",
            "sliding_window": None,
            "transformers_version": "4.46.3",
            "use_sliding_window": False,
        })
        return c
    if fam == "sdar":
        # Field set of JetLM/SDAR-1.7B-Chat config.json (Qwen3 fields + block_size, mask id).
        c = dict(common)
        c.update({
            "architectures": ["SDARForCausalLM"],
            "auto_map": {
                "AutoConfig": "configuration_sdar.SDARConfig",
                "AutoModel": "modeling_sdar.SDARModel",
                "AutoModelForCausalLM": "modeling_sdar.SDARForCausalLM",
            },
            "attention_bias": False,
            "attn_implementation": "flex_attention",
            "block_size": s["block"],
            "bos_token_id": s["bos"],
            "debug": False,
            "eos_token_id": s["eos"],
            "ep_size": 1,
            "fuse_cross_entropy": True,
            "head_dim": dh,
            "mask_token_id": s["mask"],
            "max_window_layers": s["L"],
            "micro_forward": False,
            "model_type": "sdar",
            "skip_checkpoint": False,
            "sliding_window": None,
            "transformers_version": "4.52.4",
            "use_cache": False,
            "use_deepep": False,
            "use_sliding_window": False,
        })
        return c
    if fam == "fastdllm2":
        # Qwen2.5-Instruct config.json patched the way Fast-dLLM v2 checkpoints are
        # (architectures, model_type, auto_map, bd_size, layer_types).
        c = dict(common)
        c.update({
            "architectures": ["Fast_dLLM_QwenForCausalLM"],
            "auto_map": {
                "AutoConfig": "configuration.Fast_dLLM_QwenConfig",
                "AutoModel": "modeling.Fast_dLLM_QwenModel",
                "AutoModelForCausalLM": "modeling.Fast_dLLM_QwenForCausalLM",
            },
            "bd_size": s["block"],
            "bos_token_id": s["bos"],
            "eos_token_id": s["eos"],
            "layer_types": ["full_attention"] * s["L"],
            # not in the release config (its modeling code defaults to 151665)
            "mask_token_id": s["mask"],
            "max_window_layers": s["L"],
            "model_type": "Fast_dLLM_Qwen",
            "sliding_window": None,
            "transformers_version": "4.53.1",
            "use_sliding_window": False,
        })
        return c
    raise ValueError(fam)


# ------------------------------------------------------------------ normalised view

def arch_of(cfg):
    """Family-independent description of a config.json, read the way the engine reads it."""
    name = (cfg.get("architectures") or [cfg.get("model_type")])[0]
    if name in ("LLaDAModelLM", "llada"):
        D = cfg["d_model"]
        H = cfg["n_heads"]
        a = dict(family="llada", D=D, H=H, Hkv=cfg.get("n_kv_heads") or H, L=cfg["n_layers"],
                 F=cfg.get("mlp_hidden_size") or cfg.get("mlp_ratio", 4) * D,
                 V=cfg.get("embedding_size") or cfg["vocab_size"], Dh=D // H,
                 theta=float(cfg.get("rope_theta", 10000.0)),
                 eps=float(cfg.get("rms_norm_eps", 1e-5)),
                 tied=bool(cfg.get("weight_tying", False)), causal=False,
                 qkv_bias=bool(cfg.get("include_bias") or cfg.get("include_qkv_bias")),
                 mask=cfg.get("mask_token_id", 126336), eos=cfg.get("eos_token_id", 126081),
                 shift=False)
        return a
    fams = {"DreamModel": "dream", "Dream": "dream", "LlamaForCausalLM": "llama",
            "llama": "llama", "Qwen2ForCausalLM": "qwen2", "qwen2": "qwen2",
            "SDARForCausalLM": "sdar", "sdar": "sdar",
            "Fast_dLLM_QwenForCausalLM": "fastdllm2", "Fast_dLLM_Qwen": "fastdllm2"}
    fam = fams[name]
    D = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    if fam == "sdar" and cfg.get("attention_bias"):
        raise ValueError("SDAR with attention_bias (q/k/v/o biases) is not modelled")
    # block-causal attention: SDAR "block_size" (default 4), Fast-dLLM v2 "bd_size" (32)
    block = {"sdar": cfg.get("block_size", 4), "fastdllm2": cfg.get("bd_size", 32)}.get(fam, 0)
    return dict(family=fam, D=D, H=H, Hkv=cfg.get("num_key_value_heads") or H,
                L=cfg["num_hidden_layers"], F=cfg["intermediate_size"], V=cfg["vocab_size"],
                Dh=cfg.get("head_dim") or D // H, theta=float(cfg.get("rope_theta", 10000.0)),
                eps=float(cfg.get("rms_norm_eps", 1e-6)),
                tied=bool(cfg.get("tie_word_embeddings", False)),
                causal=fam in ("llama", "qwen2"),
                qkv_bias=fam in ("dream", "qwen2", "fastdllm2")
                or bool(cfg.get("attention_bias", False)),
                qk_norm=fam == "sdar", block=block,
                mask=cfg.get("mask_token_id"), eos=cfg.get("eos_token_id"),
                shift=fam in ("dream", "fastdllm2"))


def tensor_names(a):
    """Per-role tensor names: dict with 'emb', 'final_norm', 'head' (None if tied) and
    'layers': list of dicts with attn_norm, q, k, v, (qb, kb, vb), o, ffn_norm, gate, up, down."""
    if a["family"] == "llada":
        p = "model.transformer."
        layers = []
        for i in range(a["L"]):
            b = "%sblocks.%d." % (p, i)
            d = dict(attn_norm=b + "attn_norm.weight", q=b + "q_proj.weight",
                     k=b + "k_proj.weight", v=b + "v_proj.weight", o=b + "attn_out.weight",
                     ffn_norm=b + "ff_norm.weight", gate=b + "ff_proj.weight",
                     up=b + "up_proj.weight", down=b + "ff_out.weight")
            if a["qkv_bias"]:
                d.update(qb=b + "q_proj.bias", kb=b + "k_proj.bias", vb=b + "v_proj.bias")
            layers.append(d)
        return dict(emb=p + "wte.weight", final_norm=p + "ln_f.weight",
                    head=None if a["tied"] else p + "ff_out.weight", layers=layers)
    layers = []
    for i in range(a["L"]):
        b = "model.layers.%d." % i
        d = dict(attn_norm=b + "input_layernorm.weight", q=b + "self_attn.q_proj.weight",
                 k=b + "self_attn.k_proj.weight", v=b + "self_attn.v_proj.weight",
                 o=b + "self_attn.o_proj.weight", ffn_norm=b + "post_attention_layernorm.weight",
                 gate=b + "mlp.gate_proj.weight", up=b + "mlp.up_proj.weight",
                 down=b + "mlp.down_proj.weight")
        if a["qkv_bias"]:
            d.update(qb=b + "self_attn.q_proj.bias", kb=b + "self_attn.k_proj.bias",
                     vb=b + "self_attn.v_proj.bias")
        if a.get("qk_norm"):
            d.update(qn=b + "self_attn.q_norm.weight", kn=b + "self_attn.k_norm.weight")
        layers.append(d)
    return dict(emb="model.embed_tokens.weight", final_norm="model.norm.weight",
                head=None if a["tied"] else "lm_head.weight", layers=layers)


# ------------------------------------------------------------------ weights

def make_weights(cfg, seed, dtype, favour=()):
    """Random weights (name -> tensor in the storage dtype), in file order.

    Scales: embeddings std 1 (residual RMS ~1), q/k std 1.6/sqrt(D) (peaky attention),
    v/o/ffn ~1/sqrt(fan_in), norms 1 +- 0.1, biases std 0.2, head std 4.5/sqrt(D) so logits
    have std ~4-5 and argmax/top-k choices have clear margins.
    favour: [(token id, fraction)]: that head row is re-aimed (see _favour_rows) so the token
    is the argmax at about `fraction` of [MASK] positions, like EOS/EoT in a real LLaDA.
    """
    a = arch_of(cfg)
    g = torch.Generator().manual_seed(seed)
    D, H, Hkv, Dh, F, V = a["D"], a["H"], a["Hkv"], a["Dh"], a["F"], a["V"]

    def nrm(shape, std):
        return torch.randn(*shape, generator=g, dtype=torch.float32) * std

    def norm_w(n):
        return 1.0 + 0.1 * torch.randn(n, generator=g, dtype=torch.float32)

    names = tensor_names(a)
    w = {}
    head_std = 4.5 / math.sqrt(D)
    emb = nrm((V, D), head_std if a["tied"] else 1.0)
    if a["tied"] and a.get("mask") is not None:
        # Tied head: the mask row is also a head row, and the hidden state at a [MASK] carries
        # the mask embedding, so [MASK] would win at most mask positions (a trained model never
        # predicts it). A short mask row keeps its direction at the input (the layer RMSNorms
        # rescale it) but takes its logit down to ~0.
        emb[a["mask"]] *= 0.1
    w[names["emb"]] = emb
    for ln in names["layers"]:
        w[ln["attn_norm"]] = norm_w(D)
        w[ln["q"]] = nrm((H * Dh, D), 1.6 / math.sqrt(D))
        if "qb" in ln:
            w[ln["qb"]] = nrm((H * Dh,), 0.2)
        w[ln["k"]] = nrm((Hkv * Dh, D), 1.6 / math.sqrt(D))
        if "kb" in ln:
            w[ln["kb"]] = nrm((Hkv * Dh,), 0.2)
        w[ln["v"]] = nrm((Hkv * Dh, D), 1.0 / math.sqrt(D))
        if "vb" in ln:
            w[ln["vb"]] = nrm((Hkv * Dh,), 0.2)
        if "qn" in ln:
            w[ln["qn"]] = norm_w(Dh)
            w[ln["kn"]] = norm_w(Dh)
        w[ln["o"]] = nrm((D, H * Dh), 0.8 / math.sqrt(H * Dh))
        w[ln["ffn_norm"]] = norm_w(D)
        w[ln["gate"]] = nrm((F, D), 1.2 / math.sqrt(D))
        w[ln["up"]] = nrm((F, D), 1.2 / math.sqrt(D))
        w[ln["down"]] = nrm((D, F), 0.8 / math.sqrt(F))
    w[names["final_norm"]] = norm_w(D)
    if names["head"] is not None:
        w[names["head"]] = nrm((V, D), head_std)
    if favour:  # tied: the favoured rows are embedding rows too
        _favour_rows(cfg, w, names["head"] or names["emb"], favour, g)
    return {k: v.to(TORCH_DTYPE[dtype]) for k, v in w.items()}


def _favour_rows(cfg, w, head_name, favour, g):
    """Aim head rows at the mean final hidden state of [MASK] positions (which share the mask
    embedding, so they have a common component), scaled so the token wins at about the
    requested fraction of mask positions of random prompts. Deterministic given g."""
    a = arch_of(cfg)
    m = RefModel(cfg, w)
    mask = cfg.get("mask_token_id")
    hs = []
    for _ in range(8):
        P = int(torch.randint(3, 12, (1,), generator=g))
        ids = torch.randint(0, min(cfg["vocab_size"], a["V"]) - 40, (P,), generator=g).tolist()
        hs.append(m(ids + [mask] * 24, hidden=True)[P:])
    hid = torch.cat(hs)                                    # [N, D] float64
    base = hid @ m.w[head_name].T                          # [N, V]
    ids_f = [i for i, _ in favour]
    keep = torch.ones(base.shape[1], dtype=torch.bool)
    keep[ids_f] = False
    best_other = base[:, keep].max(dim=1).values           # [N]
    mean_dir = hid.mean(0)
    mean_dir = mean_dir / mean_dir.norm()
    for k, (tid, frac) in enumerate(favour):
        d = mean_dir + 0.35 * k * torch.randn(mean_dir.shape, generator=g, dtype=torch.float64)
        d = d / d.norm()
        proj = hid @ d                                      # [N]
        pos = proj > 0
        need = (best_other[pos] / proj[pos]).sort().values  # scale at which the token wins
        sc = float(need[min(len(need) - 1, int(frac * len(hid)))])
        w[head_name][tid] = (d * sc).to(torch.float32)


def write_model(folder, cfg, weights, shards=1):
    """Write config.json and the weights (one file, or `shards` files + index)."""
    os.makedirs(folder, exist_ok=True)
    for f in os.listdir(folder):
        if f.startswith("model") and (f.endswith(".safetensors") or f.endswith(".index.json")):
            os.remove(os.path.join(folder, f))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2, sort_keys=False)
        f.write("\n")
    if shards > 1:
        return write_sharded(folder, weights, shards)
    return write(os.path.join(folder, "model.safetensors"), weights)


def load_model(folder):
    """(config dict, name -> float32 tensor) read back from a model folder."""
    with open(os.path.join(folder, "config.json")) as f:
        cfg = json.load(f)
    t = read_model_folder(folder)
    return cfg, {k: v.to(torch.float32) for k, v in t.items()}


# ------------------------------------------------------------------ forward

def rope_cos_sin(T, Dh, theta):
    """cos, sin [T, Dh] as Hugging Face / modeling_llada compute them (float32)."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, Dh, 2, dtype=torch.int64).float() / Dh))
    ang = torch.arange(T, dtype=torch.float32)[:, None] * inv_freq[None, :]
    emb = torch.cat([ang, ang], dim=-1)
    return emb.cos(), emb.sin()


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class RefModel:
    """Reference forward for one model folder's config + tensors. __call__(tokens) -> f32 [T, V]."""

    def __init__(self, cfg, tensors, compute_dtype=torch.float64):
        self.cfg = cfg
        self.a = arch_of(cfg)
        self.names = tensor_names(self.a)
        self.cd = compute_dtype
        self.w = {k: v.to(compute_dtype) for k, v in tensors.items()}
        self._check_shapes()

    def _check_shapes(self):
        a, n, w = self.a, self.names, self.w
        D, H, Hkv, Dh, F, V = a["D"], a["H"], a["Hkv"], a["Dh"], a["F"], a["V"]
        exp = {n["emb"]: (V, D), n["final_norm"]: (D,)}
        if n["head"]:
            exp[n["head"]] = (V, D)
        for ln in n["layers"]:
            exp.update({ln["attn_norm"]: (D,), ln["q"]: (H * Dh, D), ln["k"]: (Hkv * Dh, D),
                        ln["v"]: (Hkv * Dh, D), ln["o"]: (D, H * Dh), ln["ffn_norm"]: (D,),
                        ln["gate"]: (F, D), ln["up"]: (F, D), ln["down"]: (D, F)})
            for b, m in (("qb", H), ("kb", Hkv), ("vb", Hkv)):
                if b in ln:
                    exp[ln[b]] = (m * Dh,)
            for b in ("qn", "kn"):
                if b in ln:
                    exp[ln[b]] = (Dh,)
        if set(exp) != set(w):
            raise ValueError("tensor set mismatch: missing %s, extra %s"
                             % (sorted(set(exp) - set(w)), sorted(set(w) - set(exp))))
        for k, s in exp.items():
            if tuple(w[k].shape) != s:
                raise ValueError("%s: shape %s, expected %s" % (k, tuple(w[k].shape), s))

    @torch.no_grad()
    def __call__(self, tokens, hidden=False):
        """float32 logits [T, V] of the whole canvas (hidden: the final-normed states)."""
        x, _ = self._forward(tokens)
        return x if hidden else self._head(x)

    @torch.no_grad()
    def fwd(self, tokens, s=0, e=None, cache=None, n_keys=None):
        """(float32 logits [e-s, V], kv) for rows [s, e) of `tokens` (default: all), the KV
        cache form of the forward: kv[l] = (K, V) [n_keys, Hkv, Dh] in the compute dtype, K
        after RoPE. The window's rows get fresh K/V at their absolute positions; keys
        [0, n_keys) are attended to, taken from cache[l] outside [s, e) (cache rows [0, s)
        and, if e < n_keys, [e, n_keys) must exist). The model's mask applies with absolute
        positions."""
        x, kv = self._forward(tokens, s, e, cache, n_keys)
        return self._head(x), kv

    def _head(self, x):
        n, w = self.names, self.w
        head = w[n["head"]] if n["head"] else w[n["emb"]]
        return (x @ head.T).to(torch.float32)

    def _forward(self, tokens, s=0, e=None, cache=None, n_keys=None):
        a, n, w = self.a, self.names, self.w
        H, Hkv, Dh, eps = a["H"], a["Hkv"], a["Dh"], a["eps"]
        tok = torch.as_tensor(tokens, dtype=torch.long).reshape(-1)
        T = tok.numel()
        e = T if e is None else e
        n_keys = T if n_keys is None else n_keys
        if cache is None:
            assert s == 0 and e == T == n_keys
        assert 0 <= s < e <= n_keys
        R = e - s
        x = w[n["emb"]][tok[s:e]]
        cos, sin = rope_cos_sin(max(T, n_keys), Dh, a["theta"])
        cos = cos[s:e].to(self.cd)[:, None, :]
        sin = sin[s:e].to(self.cd)[:, None, :]
        rep = H // Hkv
        mask = None  # True where a query (row) must not see a key (column)
        qpos, kpos = torch.arange(s, e), torch.arange(n_keys)
        if a["causal"]:
            mask = kpos[None, :] > qpos[:, None]
        elif a.get("block"):
            mask = (kpos // a["block"])[None, :] > (qpos // a["block"])[:, None]
        kv = []
        for li, ln in enumerate(n["layers"]):
            h = rms(x, w[ln["attn_norm"]], eps)
            q = h @ w[ln["q"]].T
            k = h @ w[ln["k"]].T
            v = h @ w[ln["v"]].T
            if "qb" in ln:
                q = q + w[ln["qb"]]
                k = k + w[ln["kb"]]
                v = v + w[ln["vb"]]
            q = q.view(R, H, Dh)
            k = k.view(R, Hkv, Dh)
            v = v.view(R, Hkv, Dh)
            if "qn" in ln:  # Qwen3 / SDAR: RMSNorm over each head's Dh, before RoPE
                q = rms(q, w[ln["qn"]], eps)
                k = rms(k, w[ln["kn"]], eps)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            if cache is not None:
                ck, cv = cache[li]
                k = torch.cat([ck[:s], k, ck[e:n_keys]], dim=0)
                v = torch.cat([cv[:s], v, cv[e:n_keys]], dim=0)
                assert k.shape[0] == n_keys
            kv.append((k, v))
            # query head j uses kv head j // rep (repeat_interleave / repeat_kv)
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            sc = torch.einsum("thd,shd->hts", q, k) / math.sqrt(Dh)
            if mask is not None:
                sc = sc.masked_fill(mask, float("-inf"))
            p = torch.softmax(sc, dim=-1)
            o = torch.einsum("hts,shd->thd", p, v).reshape(R, H * Dh)
            x = x + o @ w[ln["o"]].T
            h = rms(x, w[ln["ffn_norm"]], eps)
            ff = torch.nn.functional.silu(h @ w[ln["gate"]].T) * (h @ w[ln["up"]].T)
            x = x + ff @ w[ln["down"]].T
        return rms(x, w[n["final_norm"]], eps), kv

    def batch(self, x):
        """x: LongTensor [B, L] -> float32 logits [B, L, V] (rows computed independently).
        Rows are memoised (the sampling loops revisit canvases); the result is a fresh tensor
        the caller may modify."""
        cache = self.__dict__.setdefault("_memo", {})
        rows = []
        for row in x:
            key = tuple(row.tolist())
            r = cache.get(key)
            if r is None:
                if len(cache) >= 1024:
                    cache.clear()
                r = cache[key] = self(row)
            rows.append(r)
        return torch.stack(rows, dim=0)


# ------------------------------------------------------------------ building a variant

def build_variant(name, folder):
    """Write variant `name` into folder; return (cfg, spec)."""
    s = copy.deepcopy(VARIANTS[name])
    cfg = make_config(s)
    if s["family"] == "llada":
        favour = [(s["eos"], 0.35), (s["eot"], 0.15)]
    else:
        favour = [(s[k], f) for k, f in s.get("favour", ())]
    w = make_weights(cfg, s["seed"], s["dtype"], favour=favour)
    write_model(folder, cfg, w, shards=s.get("shards", 1))
    return cfg, s


def describe(cfg, tensors):
    """Short text description: family, dims, dtypes and tensor shapes."""
    a = arch_of(cfg)
    dts = sorted({str(t.dtype).replace("torch.", "") for t in tensors.values()})
    head = "%s D=%d H=%d Hkv=%d Dh=%d L=%d F=%d V=%d theta=%g eps=%g tied=%s causal=%s bias=%s" % (
        a["family"], a["D"], a["H"], a["Hkv"], a["Dh"], a["L"], a["F"], a["V"], a["theta"],
        a["eps"], a["tied"], a["causal"], a["qkv_bias"])
    if a.get("qk_norm"):
        head += " qk_norm"
    if a.get("block"):
        head += " block=%d" % a["block"]
    return head + " dtypes=" + ",".join(dts)


def copy_file(src, dst):
    shutil.copyfile(src, dst)


def special_ids(cfg, spec, cfg_keys=("pad_token_id", "mask_token_id")):
    """Token ids a random prompt must avoid: the variant's special tokens and the config
    fields named in cfg_keys."""
    return {i for i in [spec.get(k) for k in ("mask", "eos", "eot", "bos")] +
            [cfg.get(k) for k in cfg_keys] if i is not None}


def random_ids(gen, n, vocab, exclude):
    """n ids drawn uniformly from [0, vocab) with torch generator gen, skipping `exclude`."""
    out = []
    while len(out) < n:
        t = int(torch.randint(0, vocab, (1,), generator=gen))
        if t not in exclude:
            out.append(t)
    return out
