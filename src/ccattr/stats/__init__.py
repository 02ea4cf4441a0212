"""Statistics behind the study's three claims, computed on whatever corpus was run.

The claims, each supported or refuted by the numbers, never assumed:

1. **Focus** (:mod:`.focus`) - full fine-tuning (FFT) gives attribution patterns that *differ*
   from LoRA / QLoRA (:func:`distribution_divergence`) and are *more focused*
   (:func:`compare_strategies` on the per-clause entropy, Gini and top-k share).
2. **Scale** (:mod:`.scale`) - as models grow, more attribution goes to numeric constraints and
   rule identifiers (:func:`category_shares`, :func:`scale_trend`); and, in :mod:`.fidelity`,
   whether the number (identifier) a rule writes is tied by attribution to the same number in
   the clause (:func:`compare_fidelity`).
3. **Plateau** (:mod:`.plateau`) - rule-quality gains flatten beyond some scale (:func:`plateau`).

Beside them, :mod:`.methods` measures the cheaper attribution estimators against exact
leave-one-out (:func:`compare_methods`): word-rank agreement, cost, and whether the verdicts change.

:func:`run_comparison` (:mod:`.comparison`) runs all of them over the pipeline's tables and
returns tables plus a JSON-able summary that carries the claims' verdicts and the plain sentences
(:mod:`.findings`); :mod:`.labels` holds the orders, labels and number formats the report shares.

Conventions (as in :mod:`scipy.stats`): every test returns a :class:`TestResult` - its
statistic, p-value, the number of independent units it used (``n``: clauses), an effect size and
a confidence interval for it. Confidence intervals are percentile bootstraps
(:func:`scipy.stats.bootstrap`) that resample *clauses* (the independent unit: every model sees
the same test clauses), at level ``1 - alpha``. Inputs too small or degenerate to test give NaN
with a ``note`` saying why, never an exception.
"""

from ccattr.stats.comparison import (
    Comparison,
    heatmap_examples,
    load_attributions,
    load_comparison,
    load_eval,
    load_fidelity,
    load_method_check,
    plot_tables,
    run_comparison,
    runs_table,
    save_comparison,
)
from ccattr.stats.fidelity import Fidelity, compare_fidelity, fidelity_rates
from ccattr.stats.findings import claims, findings, sentences
from ccattr.stats.focus import (
    Divergence,
    PairTest,
    StrategyComparison,
    compare_strategies,
    distribution_divergence,
    divergences,
    rank_biserial,
)
from ccattr.stats.labels import (
    CATEGORIES,
    CATEGORY_LABELS,
    CLAIM2_CATEGORIES,
    KEY_CATEGORIES,
    METHOD_LABELS,
    METRIC_DIRECTION,
    METRIC_LABELS,
    METRIC_SHORT,
    METRICS,
    STRATEGY_LABELS,
    STRATEGY_ORDER,
    category_sort,
    format_p,
    human_count,
    method_label,
    n_params_of,
    scale_label,
    scale_order,
    strategy_label,
    strategy_sort,
)
from ccattr.stats.methods import (
    MethodCheck,
    MethodComparison,
    agreement_table,
    compare_methods,
    method_metrics,
    verdict_table,
)
from ccattr.stats.plateau import Plateau, PlateauStep, StrategyPlateau, plateau
from ccattr.stats.results import TestResult, bootstrap_ci, holm
from ccattr.stats.scale import CategoryShares, ScaleTrend, category_shares, scale_trend, scale_trends

__all__ = [
    "CATEGORIES", "CATEGORY_LABELS", "CLAIM2_CATEGORIES", "KEY_CATEGORIES", "METHOD_LABELS", "METRICS",
    "METRIC_DIRECTION", "METRIC_LABELS", "METRIC_SHORT", "STRATEGY_LABELS", "STRATEGY_ORDER", "CategoryShares",
    "Comparison", "Divergence", "Fidelity", "MethodCheck", "MethodComparison", "PairTest", "Plateau", "PlateauStep",
    "ScaleTrend", "StrategyComparison", "StrategyPlateau", "TestResult", "agreement_table", "bootstrap_ci",
    "category_shares", "category_sort", "claims", "compare_methods", "compare_strategies",
    "distribution_divergence", "divergences", "compare_fidelity", "fidelity_rates", "findings", "format_p",
    "heatmap_examples", "holm", "human_count", "load_attributions", "load_comparison", "load_eval",
    "load_fidelity", "load_method_check", "method_label", "method_metrics", "n_params_of", "plateau",
    "plot_tables", "rank_biserial", "run_comparison", "runs_table", "save_comparison", "scale_label",
    "scale_order", "scale_trend", "scale_trends", "sentences", "strategy_label", "strategy_sort",
    "verdict_table",
]
