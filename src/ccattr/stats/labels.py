"""Orders, labels and number formatting shared by the statistics, the findings and the report.

The strategy order comes from :data:`ccattr.config.STRATEGIES` and the category order from
:data:`ccattr.categories.CATEGORIES`: tables, plots and sentences list them the same way.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import get_args

import pandas as pd

from ccattr.categories import CATEGORIES
from ccattr.config import STRATEGIES, AttributionMethod

STRATEGY_ORDER: tuple[str, ...] = STRATEGIES
STRATEGY_LABELS = {"fft": "FFT", "lora": "LoRA", "qlora": "QLoRA", "hybrid": "Hybrid"}
METRICS = ("entropy", "gini", "top_k_share")
METRIC_LABELS = {"entropy": "normalized entropy", "gini": "Gini coefficient",
                 "top_k_share": "top-k share", "number_fidelity": "number fidelity",
                 "identifier_fidelity": "identifier fidelity"}
#: The item kinds of number / identifier fidelity (:data:`ccattr.fidelity.KINDS`), in words.
FIDELITY_KIND_LABELS = {"number": "numbers", "identifier": "rule identifiers"}
METRIC_SHORT = {"entropy": "entropy", "gini": "Gini coefficient", "top_k_share": "top-k share"}
METRIC_DIRECTION = {"entropy": -1, "gini": 1, "top_k_share": 1}
"""Sign of a change that means *more concentrated* attribution (lower entropy = more focused)."""
KEY_CATEGORIES = ("number", "rule_id", "unit", "deontic")
CLAIM2_CATEGORIES = ("number", "rule_id")
CATEGORY_LABELS = {"number": "numbers", "unit": "units of measure", "rule_id": "rule identifiers",
                   "deontic": "deontic words (shall, must, may)", "comparator": "comparators",
                   "negation": "negations", "entity": "entities", "function": "function words",
                   "punct": "punctuation"}
#: Attribution methods (:data:`ccattr.config.AttributionMethod`, exact first) in words, and
#: what each estimator's budget (``n_samples``) counts.
METHOD_ORDER: tuple[str, ...] = get_args(AttributionMethod)
METHOD_LABELS = {"exact": "exact leave-one-out", "shapley": "Shapley sampling", "kernel_shap": "KernelSHAP",
                 "lime": "LIME", "layer_ig": "layer integrated gradients"}
METHOD_BUDGETS = {"shapley": "permutations", "kernel_shap": "coalitions", "lime": "coalitions",
                  "layer_ig": "integration steps"}


def human_count(n: float | int | None) -> str:
    """Parameter count in human form.

    >>> human_count(63_000_000), human_count(1_711_376_384), human_count(None)
    ('63M', '1.71B', '?')
    """
    if n is None or (isinstance(n, float) and math.isnan(n)):
        return "?"
    n = float(n)
    for div, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        if n >= div:
            v = n / div
            return (f"{v:.3g}" if v < 100 else f"{v:.0f}") + suffix
    return f"{n:.0f}"


def scale_label(scale: str, n_params: float | int | None) -> str:
    """``'smollm2-l8 (63M)'``: the scale's name plus its parameter count."""
    return f"{scale} ({human_count(n_params)})"


def strategy_label(strategy: str) -> str:
    return STRATEGY_LABELS.get(strategy, strategy)


def method_label(method: str, n_samples: float | int | None = None) -> str:
    """An attribution method in words, with its budget when given.

    >>> method_label("kernel_shap", 25), method_label("exact"), method_label("layer_ig", 8)
    ('KernelSHAP (25 coalitions)', 'exact leave-one-out', 'layer integrated gradients (8 integration steps)')
    """
    label = METHOD_LABELS.get(method, method)
    budget = None if n_samples is None or (isinstance(n_samples, float) and math.isnan(n_samples)) else int(n_samples)
    if method in METHOD_BUDGETS and budget is not None:
        label += f" ({budget} {METHOD_BUDGETS[method]})"
    return label


def method_sort(names: Iterable[str]) -> list[str]:
    """Distinct methods in the config's order (exact first), unknown ones last by name."""
    names = set(names)
    return [m for m in METHOD_ORDER if m in names] + sorted(names - set(METHOD_ORDER))


def format_p(p: float | None) -> str:
    """A p-value as the report prints it: 3 significant digits below 0.1, so 0.0496 never
    reads 0.05.

    >>> format_p(0.0004), format_p(0.0496), format_p(0.412), format_p(None)
    ('< 0.001', '0.0496', '0.41', 'n/a')
    """
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "n/a"
    if p < 0.001:
        return "< 0.001"
    if p < 0.1:
        return f"{p:.3g}"
    return f"{p:.2f}"


def strategy_sort(names: Iterable[str]) -> list[str]:
    """Distinct strategies in the canonical order, unknown ones last by name.

    >>> strategy_sort(["qlora", "zz", "fft", "qlora"])
    ['fft', 'qlora', 'zz']
    """
    names = set(names)
    return [s for s in STRATEGY_ORDER if s in names] + sorted(names - set(STRATEGY_ORDER))


def category_sort(names: Iterable[str]) -> list[str]:
    """Distinct categories in the categorizer's order, unknown ones last by name."""
    return sorted(set(names), key=lambda c: (CATEGORIES.index(c) if c in CATEGORIES else 99, c))


def scale_order(df: pd.DataFrame) -> list[str]:
    """Scales of ``df`` (``scale``, ``n_params`` columns) ascending by parameter count, ties by name."""
    sizes = df.groupby("scale", dropna=False)["n_params"].first()
    return sorted(sizes.index, key=lambda s: (float(sizes[s]), s))


def n_params_of(df: pd.DataFrame, scale: str) -> int | None:
    """Parameter count of ``scale`` in ``df``; None when unknown."""
    v = df.loc[df["scale"] == scale, "n_params"]
    return int(v.iloc[0]) if len(v) and pd.notna(v.iloc[0]) else None


__all__ = ["CATEGORIES", "CATEGORY_LABELS", "CLAIM2_CATEGORIES", "FIDELITY_KIND_LABELS", "KEY_CATEGORIES",
           "METHOD_BUDGETS", "METHOD_LABELS", "METHOD_ORDER", "METRICS", "METRIC_DIRECTION", "METRIC_LABELS",
           "METRIC_SHORT", "STRATEGY_LABELS", "STRATEGY_ORDER", "category_sort", "format_p", "human_count",
           "method_label", "method_sort", "n_params_of", "scale_label", "scale_order", "strategy_label",
           "strategy_sort"]
