"""Greedy rule generation for held-out clauses, batched with left padding.

    >>> rules = generate_rules(model, template, ["4.2.3 The clear width ..."])  # doctest: +SKIP
    >>> out = generate(model, template, clauses); out[0].text, out[0].stopped   # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import torch

from ccattr.precision import FP32, Precision
from ccattr.prompts import PromptTemplate


def is_oom(err: BaseException) -> bool:
    """Out of memory: ``torch.OutOfMemoryError``, or the ``RuntimeError`` other backends raise."""
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and "out of memory" in str(err).lower())


T = TypeVar("T")


def halve_on_oom(run: Callable[[list[T]], None], batch: list[T],
                 on_split: Callable[[int], None] | None = None) -> None:
    """``run(batch)``; if it runs out of memory (:func:`is_oom`), run each half instead, halving
    again as needed down to one item, which re-raises. ``on_split(half)`` is told each split's
    half size (to start later batches smaller). Any other error propagates."""
    try:
        run(batch)
        return
    except (torch.OutOfMemoryError, RuntimeError) as err:
        if not is_oom(err) or len(batch) == 1:
            raise
    # Retried outside the except block: the failed batch's traceback, and the tensors its frames
    # hold, are freed before the cache is emptied and the halves run.
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    half = len(batch) // 2
    if on_split is not None:
        on_split(half)
    halve_on_oom(run, batch[:half], on_split)
    halve_on_oom(run, batch[half:], on_split)


@dataclass(frozen=True)
class Generated:
    """One generated rule: its text, verbatim, and whether the model ended it (``stopped``)
    rather than running into ``max_new_tokens`` (a cut rule)."""

    text: str
    stopped: bool


def generate_rules(model, template: PromptTemplate, clauses: Sequence[str], max_new_tokens: int = 96,
                   batch_size: int = 16, min_new_tokens: int = 0, precision: Precision = FP32) -> list[str]:
    """Greedy-decode one rule per clause (:func:`generate`, texts only)."""
    return [g.text for g in generate(model, template, clauses, max_new_tokens, batch_size, min_new_tokens,
                                     precision)]


@torch.inference_mode()
def generate(model, template: PromptTemplate, clauses: Sequence[str], max_new_tokens: int = 96,
             batch_size: int = 16, min_new_tokens: int = 0, precision: Precision = FP32) -> list[Generated]:
    """Greedy-decode one rule per clause, under ``precision`` (bf16 autocast for ``bf16-mixed``).
    A batch that runs out of memory is split and retried."""
    tok = template.tokenizer
    pad_id = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
    end_ids = sorted({template.end_token_id, tok.eos_token_id} - {None})
    # A rule never contains chat-control tokens (<|im_start|>, <|endoftext|>...): forbid them, so
    # an undertrained model cannot "write" a rule that decodes to nothing.
    suppress = sorted(set(tok.all_special_ids) - set(end_ids)) or None
    device = next(model.parameters()).device
    model.eval()
    prompts = [template.encode_prompt(c) for c in clauses]
    # Sort by length so that batches hold similar lengths; restore the order at the end.
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    out: dict[int, Generated] = {}

    def run(idx: list[int]) -> None:
        width = max(len(prompts[i]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for row, i in enumerate(idx):
            p = prompts[i]
            ids[row, width - len(p):] = torch.tensor(p)
            mask[row, width - len(p):] = 1
        with precision.autocast(model):
            gen = model.generate(input_ids=ids.to(device), attention_mask=mask.to(device), do_sample=False,
                                 max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens or None,
                                 eos_token_id=end_ids, pad_token_id=pad_id, suppress_tokens=suppress)
        for row, i in enumerate(idx):
            new = gen[row, width:].tolist()
            cut = next((k for k, t in enumerate(new) if t in end_ids), len(new))
            # Kept verbatim: attribution teacher-forces exactly what the model wrote.
            out[i] = Generated(tok.decode(new[:cut], skip_special_tokens=True), cut < len(new))

    for start in range(0, len(order), batch_size):
        halve_on_oom(run, order[start:start + batch_size])
    return [out[i] for i in range(len(clauses))]
