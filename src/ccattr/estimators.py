"""Cheaper attribution estimators, through Captum, on the exact engine's word features.

The exact engine (:class:`ccattr.attribution.Attributor`) perturbs each clause unit once:
leave-one-out. Captum offers estimators that look at units together; they are used here as
Captum ships them (not rewritten), over the same units, the same baseline (the attributor's
replacement text) and the same target (the log-probability of the teacher-forced rule):

* ``shapley``: :class:`captum.attr.ShapleyValueSampling` (``n_samples`` random permutations,
  ``n_units + 1`` forwards each);
* ``kernel_shap``: :class:`captum.attr.KernelShap` (``n_samples`` coalitions);
* ``lime``: :class:`captum.attr.Lime` (``n_samples`` coalitions, Captum's default Lasso
  surrogate);
* ``layer_ig``: :class:`captum.attr.LayerIntegratedGradients` on the input embeddings through
  :class:`captum.attr.LLMGradientAttribution` (``n_samples`` integration steps per rule token;
  the token scores of a unit are summed, as Captum sums a sequence's token scores).

Each returns one raw score per unit, in the exact engine's orientation (positive: the unit
raises the rule's log-probability), so the focus metrics, categories and statistics downstream
apply unchanged. ``benchmarks/estimators_vs_exact.py`` measures their time and their agreement
with leave-one-out.
"""

from __future__ import annotations

from typing import Any, get_args

import numpy as np
import torch

from ccattr.config import AttributionMethod

#: ``attribution.method`` values; ``exact`` is leave-one-out (the attributor itself).
METHODS: tuple[str, ...] = get_args(AttributionMethod)
#: Captum's perturbation estimators by method name (imported lazily: Captum loads sklearn).
_PERTURBATION = {"shapley": "ShapleyValueSampling", "kernel_shap": "KernelShap", "lime": "Lime"}


def _perturbation_scores(attributor: Any, clause: str, target: str, method: str, n_samples: int,
                         seed: int) -> np.ndarray:
    import captum.attr as ca

    units = attributor.units(clause)
    if not units:
        return np.zeros(0)
    llm = ca.LLMAttribution(getattr(ca, _PERTURBATION[method])(attributor.model), attributor.tokenizer)
    # Captum draws its permutations and coalitions from torch's global generator.
    torch.manual_seed(seed)
    # Forwards only: without gradients the autocast weight casts are paid once, as in leave-one-out.
    with torch.no_grad(), attributor.precision.autocast(attributor.model):
        res = llm.attribute(attributor.captum_input(clause, units), target=target, forward_in_tokens=False,
                            n_samples=n_samples)
    return res.seq_attr.float().cpu().numpy().astype(np.float64)


def _layer_ig_scores(attributor: Any, clause: str, target: str, n_steps: int) -> np.ndarray:
    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    units = attributor.units(clause)
    if not units:
        return np.zeros(0)
    tok, model = attributor.tokenizer, attributor.model
    prompt = attributor.prompts([clause])[0]
    prefix, _ = attributor.template.split(clause)
    enc = tok(prompt, add_special_tokens=False, return_offsets_mapping=True)
    inp = TextTokenInput(prompt, tok)
    if inp.to_model_input().shape[-1] != len(enc["input_ids"]):
        raise ValueError("layer_ig: the tokenizer adds special tokens to the prompt; its token scores "
                         "cannot be mapped to the clause's units")
    pad = tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)
    lig = LLMGradientAttribution(LayerIntegratedGradients(model, model.get_input_embeddings()), tok)
    with torch.enable_grad(), attributor.precision.autocast():
        res = lig.attribute(inp, target=target, n_steps=n_steps, baselines=pad)
    token_scores = res.seq_attr.float().cpu().numpy().astype(np.float64)
    # A unit's score is the sum over the prompt tokens that overlap its characters.
    scores = np.zeros(len(units))
    off = len(prefix)
    for (a, b), s in zip(enc["offset_mapping"], token_scores, strict=True):
        for i, u in enumerate(units):
            if a < off + u.end and b > off + u.start:
                scores[i] += s
    return scores


def unit_scores(attributor: Any, clause: str, target: str, method: str, n_samples: int,
                seed: int = 0) -> np.ndarray:
    """Raw score per unit of ``clause`` for ``target`` by ``method`` (:data:`METHODS`).

    ``exact`` is the attributor's own leave-one-out. ``n_samples`` is the estimator's budget
    (permutations, coalitions or integration steps); ``seed`` seeds Captum's sampling.
    """
    if method == "exact":
        return attributor.leave_one_out(clause, target)[1]
    if method in _PERTURBATION:
        return _perturbation_scores(attributor, clause, target, method, n_samples, seed)
    if method == "layer_ig":
        return _layer_ig_scores(attributor, clause, target, n_samples)
    raise ValueError(f"unknown attribution method {method!r}; expected one of {', '.join(METHODS)}")
