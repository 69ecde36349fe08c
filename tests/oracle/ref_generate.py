"""ref_generate.py: the published LLaDA and Dream sampling loops, re-stated in plain PyTorch,
instrumented to measure how robust each decision is.

Sources read (written here in our own words, same dtypes and operation order):
- ML-GSAI/LLaDA generate.py: generate(), get_num_transfer_tokens(), add_gumbel_noise()
  (current version with attention_mask, logits_eos_inf, confidence_eos_eot_inf).
- DreamLM/Dream generation_utils.py: DreamGenerationMixin._sample(), sample_tokens(),
  top_p_logits(), top_k_logits().

Only temperature 0 is exercised by the oracle (deterministic). The temperature > 0 paths are
written out for completeness (LLaDA's Gumbel noise in float64, Dream's categorical draw) but
their random streams are torch's and cannot be matched by another engine.

model_fn(x: LongTensor [B, L]) -> float32 logits [B, L, V].
"""
import torch
import torch.nn.functional as F

NEG_INF = float("-inf")


# ------------------------------------------------------------------ LLaDA

def llada_add_gumbel_noise(logits, temperature):
    """Gumbel-max in float64: exp(logits) / (-log u)^temperature. At temperature 0 the input
    tensor itself is returned (the same object, which matters for confidence_eos_eot_inf)."""
    if temperature == 0:
        return logits
    logits = logits.to(torch.float64)
    noise = torch.rand_like(logits, dtype=torch.float64)
    gumbel_noise = (-torch.log(noise)) ** temperature
    return logits.exp() / gumbel_noise


def llada_num_transfer_tokens(mask_index, steps):
    """[B, steps] int64: floor(m / steps) each step, the first (m % steps) steps get one more."""
    mask_num = mask_index.sum(dim=1, keepdim=True)
    base = mask_num // steps
    remainder = mask_num % steps
    out = torch.zeros(mask_num.size(0), steps, dtype=torch.int64) + base
    for i in range(mask_num.size(0)):
        out[i, :remainder[i]] += 1
    return out


def _top2_gap(row):
    v = torch.topk(row.to(torch.float64), 2).values
    return float(v[0] - v[1])


@torch.no_grad()
def llada_generate(model_fn, prompt, *, gen_length, steps, block_length, temperature=0.0,
                   cfg_scale=0.0, remasking="low_confidence", mask_id, eos_id=None, eot_id=None,
                   logits_eos_inf=False, confidence_eos_eot_inf=False):
    """Returns (generated ids [gen_length], stats). Batch of one, no padding.

    confidence_eos_eot_inf, exactly as the reference does it: after x0 = argmax(noised logits),
    it runs `logits_with_noise[:, :, EOS] = logits[:, :, EoT] = -inf` (a chained assignment).
    At temperature 0 add_gumbel_noise returns `logits` itself, so BOTH the EOS and the EoT
    columns of `logits` become -inf; at temperature > 0 the noised tensor is a separate float64
    copy, so only the EoT column of `logits` is affected. Since x0 was already chosen, the
    effect is on the confidence only: softmax(logits) is renormalised over the other columns,
    and a position whose x0 is EOS/EoT gets confidence p = 0 (not -inf: it can still be
    committed, after every position with p > 0 in the block).
    """
    P = len(prompt)
    x = torch.full((1, P + gen_length), mask_id, dtype=torch.long)
    x[0, :P] = torch.as_tensor(prompt, dtype=torch.long)
    prompt_index = x != mask_id
    assert gen_length % block_length == 0
    num_blocks = gen_length // block_length
    assert steps % num_blocks == 0
    steps_per_block = steps // num_blocks

    stats = dict(conf_gaps=[], logit_gaps=[], transfer=[])
    for nb in range(num_blocks):
        lo = P + nb * block_length
        hi = lo + block_length
        block_mask_index = x[:, lo:hi] == mask_id
        ntt = llada_num_transfer_tokens(block_mask_index, steps_per_block)
        for i in range(steps_per_block):
            mask_index = x == mask_id
            if cfg_scale > 0.0:
                un_x = x.clone()
                un_x[prompt_index] = mask_id
                both = model_fn(torch.cat([x, un_x], dim=0))
                logits, un_logits = torch.chunk(both, 2, dim=0)
                logits = un_logits + (cfg_scale + 1) * (logits - un_logits)
            else:
                logits = model_fn(x)
            if logits_eos_inf:
                logits[:, :, eos_id] = NEG_INF
            logits_with_noise = llada_add_gumbel_noise(logits, temperature)
            x0 = torch.argmax(logits_with_noise, dim=-1)
            argmax_src = logits_with_noise.clone()  # for the margin statistics only
            if confidence_eos_eot_inf:
                logits_with_noise[:, :, eos_id] = NEG_INF
                logits[:, :, eot_id] = NEG_INF
            if remasking == "low_confidence":
                p = F.softmax(logits, dim=-1)
                x0_p = torch.squeeze(torch.gather(p, dim=-1, index=torch.unsqueeze(x0, -1)), -1)
            elif remasking == "random":
                x0_p = torch.rand((x0.shape[0], x0.shape[1]))
            else:
                raise NotImplementedError(remasking)
            x0_p[:, hi:] = NEG_INF
            x0 = torch.where(mask_index, x0, x)
            confidence = torch.where(mask_index, x0_p, torch.tensor(NEG_INF, dtype=x0_p.dtype))
            k = int(ntt[0, i])
            stats["transfer"].append(k)
            if k == 0:
                continue
            _, select_index = torch.topk(confidence[0], k=k)
            # robustness: gap between the k-th and (k+1)-th confidence (if that one is finite)
            srt = torch.sort(confidence[0].to(torch.float64), descending=True).values
            if k < srt.numel() and torch.isfinite(srt[k]):
                stats["conf_gaps"].append(float(srt[k - 1] - srt[k]))
            for j in select_index.tolist():
                stats["logit_gaps"].append(_top2_gap(argmax_src[0, j]))
            x[0, select_index] = x0[0, select_index]
    return x[0, P:].tolist(), stats


# ------------------------------------------------------------------ Dream

def dream_top_p_logits(logits, top_p):
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
    remove = cumulative_probs > top_p
    remove[..., 1:] = remove[..., :-1].clone()   # keep the first token above the threshold
    remove[..., 0] = 0
    mask = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, sorted_indices, remove)
    return logits.masked_fill(mask, torch.finfo(logits.dtype).min)


def dream_top_k_logits(logits, top_k):
    top_k = min(top_k, logits.size(-1))
    remove = logits < torch.topk(logits, top_k)[0][..., -1, None]
    return logits.masked_fill(remove, torch.finfo(logits.dtype).min)


def dream_sample_tokens(logits, temperature=0.0, top_p=None, top_k=None,
                        margin_confidence=False, neg_entropy=False):
    """(confidence [N], x0 [N]) for mask rows logits [N, V]."""
    if temperature > 0:
        logits = logits / temperature
    if top_p is not None and top_p < 1:
        logits = dream_top_p_logits(logits, top_p)
    if top_k is not None:
        logits = dream_top_k_logits(logits, top_k)
    probs = torch.softmax(logits, dim=-1)
    if temperature > 0:
        try:
            x0 = torch.distributions.Categorical(probs=probs).sample()
            confidence = torch.gather(probs, -1, x0.unsqueeze(-1)).squeeze(-1)
        except Exception:
            confidence, x0 = probs.max(dim=-1)
    else:
        confidence, x0 = probs.max(dim=-1)
    if margin_confidence:
        sorted_probs, _ = torch.sort(probs, dim=-1, descending=True)
        confidence = sorted_probs[:, 0] - sorted_probs[:, 1]
    if neg_entropy:
        epsilon = 1e-10
        log_probs = torch.log(probs + epsilon)
        confidence = torch.sum(probs * log_probs, dim=-1)
    return confidence, x0


@torch.no_grad()
def dream_generate(model_fn, prompt, *, gen_length, steps, alg, mask_id, eps=1e-3,
                   temperature=0.0, top_p=None, top_k=None, alg_temp=None):
    """Returns (generated ids [gen_length], stats). Batch of one, no padding (attention "full").

    Each step: logits of the whole canvas, shifted right by one (row i predicts token i from
    the output at i-1; row 0 repeats row 0); confidence per masked position by `alg`;
    number_transfer_tokens = int(num_mask * (1 - s / t)) with float32 tensors (t, s from
    torch.linspace(1, eps, steps + 1) in float32), and all remaining masks at the last step;
    the top-`number_transfer_tokens` confident masked positions are committed.
    """
    P = len(prompt)
    x = torch.full((1, P + gen_length), mask_id, dtype=torch.long)
    x[0, :P] = torch.as_tensor(prompt, dtype=torch.long)
    timesteps = torch.linspace(1, eps, steps + 1)
    stats = dict(conf_gaps=[], logit_gaps=[], transfer=[], schedule_margin=[],
                 timesteps=[float(v) for v in timesteps])
    for i in range(steps):
        mask_index = x == mask_id
        logits = model_fn(x)
        logits = torch.cat([logits[:, :1], logits[:, :-1]], dim=1)
        mask_logits = logits[mask_index]
        t = timesteps[i]
        s = timesteps[i + 1]
        if alg == "maskgit_plus":
            confidence, x0 = dream_sample_tokens(mask_logits, temperature, top_p, top_k)
        elif alg == "topk_margin":
            confidence, x0 = dream_sample_tokens(mask_logits, temperature, top_p, top_k,
                                                 margin_confidence=True)
        elif alg == "entropy":
            confidence, x0 = dream_sample_tokens(mask_logits, temperature, top_p, top_k,
                                                 neg_entropy=True)
        else:
            raise NotImplementedError(alg)  # 'origin' is random by construction
        num_mask_token = mask_index.sum() / mask_index.shape[0]
        if i < steps - 1:
            prod = num_mask_token * (1 - s / t)
            ntt = int(prod)
            stats["schedule_margin"].append(min(float(prod) - ntt, ntt + 1 - float(prod)))
        else:
            ntt = int(num_mask_token)
        stats["transfer"].append(ntt)
        full_confidence = torch.full_like(x, NEG_INF, dtype=logits.dtype)
        full_confidence[mask_index] = confidence
        if ntt > 0:
            if alg_temp is None or alg_temp == 0:
                _, transfer_index = torch.topk(full_confidence, ntt)
            else:
                fc = F.softmax(full_confidence / alg_temp, dim=-1)
                transfer_index = torch.multinomial(fc, num_samples=ntt)
            srt = torch.sort(full_confidence[0].to(torch.float64), descending=True).values
            if ntt < srt.numel() and torch.isfinite(srt[ntt]):
                stats["conf_gaps"].append(float(srt[ntt - 1] - srt[ntt]))
            x_ = torch.zeros_like(x, dtype=torch.long) + mask_id
            x_[mask_index] = x0.clone()
            for j in transfer_index[0].tolist():
                stats["logit_gaps"].append(_top2_gap(logits[0, j]))
            row_indices = torch.arange(x.size(0)).unsqueeze(1).expand_as(transfer_index)
            x[row_indices, transfer_index] = x_[row_indices, transfer_index]
    return x[0, P:].tolist(), stats


def summarize(stats):
    cg = min(stats["conf_gaps"]) if stats["conf_gaps"] else float("inf")
    lg = min(stats["logit_gaps"]) if stats["logit_gaps"] else float("inf")
    return cg, lg, min(cg, lg)


__all__ = ["llada_generate", "dream_generate", "llada_num_transfer_tokens",
           "dream_sample_tokens", "summarize"]
