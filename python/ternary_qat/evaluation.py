"""The engine's perplexity protocol, for any model in Python."""
from __future__ import annotations

import math
from typing import Callable

import torch


def chunked_perplexity(logits_of: Callable[[list[int]], torch.Tensor], ids: list[int], ctx: int) -> tuple[float, int]:
    """Non-overlapping chunks of `ctx` tokens (a trailing partial chunk is dropped); every position
    after the first in each chunk is scored; ppl = exp(mean NLL). `logits_of(chunk)` returns
    (ctx, vocab) logits. Returns (ppl, predictions)."""
    nll = []
    with torch.no_grad():
        for c in range(len(ids) // ctx):
            chunk = ids[c * ctx:(c + 1) * ctx]
            logp = torch.log_softmax(logits_of(chunk).double(), dim=-1)
            nll.append(-logp[torch.arange(ctx - 1), torch.tensor(chunk[1:])])
    nll = torch.cat(nll)
    return math.exp(nll.mean().item()), nll.numel()


def hf_logits(model) -> Callable[[list[int]], torch.Tensor]:
    """`logits_of` for a Hugging Face causal LM."""
    return lambda chunk: model(torch.tensor([chunk])).logits[0]
