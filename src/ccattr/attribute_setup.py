"""What the attribute stage attributes, and with what: shared with the check_methods stage, so that
the estimators are measured on the attribute stage's own clauses, model and settings.

    >>> rows, empty = attributed_rows(read_jsonl(predictions), params.attribution)   # doctest: +SKIP
    >>> loaded = load_model(params, "lora", "smollm2-l30")                             # doctest: +SKIP
    >>> exact = make_attributor(params, loaded)                                        # doctest: +SKIP
    >>> lime = make_attributor(params, loaded, method="lime", faithfulness=False)      # doctest: +SKIP
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from ccattr.attribution import Attributor
from ccattr.config import AttributionParams, Params
from ccattr.metrics import Embedder
from ccattr.models import load_finetuned, pick_device
from ccattr.precision import Precision, resolve
from ccattr.prompts import PromptTemplate
from ccattr.runtime import BASE_DIR, FINETUNED_DIR


def attributed_rows(rows: list[dict[str, Any]], ap: AttributionParams) -> tuple[list[dict[str, Any]], list[str]]:
    """The evaluate stage's prediction rows the attribute stage attributes (in order, the first
    ``ap.max_clauses``), and the ids it skips.

    An empty generated rule has no log-probability to attribute (every score would be 0); with
    target ``generated`` such clauses are skipped and counted rather than reported as "perfectly
    unfocused".

    >>> rows = [{"id": "a", "prediction": ""}, {"id": "b", "prediction": "r"}, {"id": "c", "prediction": "s"}]
    >>> kept, empty = attributed_rows(rows, AttributionParams(max_clauses=1))
    >>> [r["id"] for r in kept], empty
    (['b'], ['a'])
    """
    empty = [r["id"] for r in rows if not r["prediction"]] if ap.target == "generated" else []
    skip = set(empty)
    return [r for r in rows if r["id"] not in skip][: ap.max_clauses], empty


class LoadedModel(NamedTuple):
    """A fine-tuned model ready to attribute: weights, tokenizer, prompt template, precision."""

    model: torch.nn.Module
    tokenizer: Any
    template: PromptTemplate
    precision: Precision


def load_model(params: Params, strategy: str, scale: str) -> LoadedModel:
    """``models/finetuned/<strategy>-<scale>`` on the best device, at ``attribution.precision``."""
    device = pick_device()
    precision = resolve(params.attribution.precision, device)
    model, tok = load_finetuned(strategy, params.strategies[strategy], BASE_DIR / scale,
                                FINETUNED_DIR / f"{strategy}-{scale}", precision, device)
    return LoadedModel(model, tok, PromptTemplate(tok, params.prompt.system, params.prompt.instruction), precision)


def make_attributor(params: Params, loaded: LoadedModel, **overrides: Any) -> Attributor:
    """The attribute stage's :class:`~ccattr.attribution.Attributor` (``params.attribution``) over
    ``loaded``; ``overrides`` replace its keyword arguments (check_methods: ``method``,
    ``n_samples``, ``faithfulness``)."""
    ap = params.attribution
    embed_fn = Embedder(params.evaluation.embedder_package) if ap.target == "semantic" else None
    kwargs = dict(unit=ap.unit, perturbation=ap.perturbation, target=ap.target, batch_size=ap.batch_size,
                  top_k_fraction=ap.top_k_fraction, embed_fn=embed_fn, precision=loaded.precision,
                  method=ap.method, n_samples=ap.n_samples, shortlist=ap.shortlist)
    return Attributor(loaded.model, loaded.tokenizer, loaded.template, **{**kwargs, **overrides})
