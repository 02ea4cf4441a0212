"""The report's tables: which columns of each published table are shown, how each cell reads
(numbers, CIs, p-values marked below alpha, the runs behind the row). Cells are data
(:class:`Cell`); the template turns them into HTML, escaping every text."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ccattr.report.links import RunIndex, RunLink
from ccattr.stats.labels import (
    CATEGORY_LABELS,
    FIDELITY_KIND_LABELS,
    METRIC_LABELS,
    format_p,
    method_label,
    scale_label,
    strategy_label,
)

DASH = "\u2013"


@dataclass(frozen=True)
class Cell:
    """One table cell: ``text`` (with ``ci`` as ``[low, high]`` after it, in bold red when
    ``sig``), or ``lines`` (one per line), or ``runs`` (links to the MLflow runs)."""

    text: str = DASH
    ci: tuple[str, str] | None = None
    sig: bool = False
    lines: tuple[str, ...] = ()
    runs: tuple[RunLink, ...] = ()


@dataclass(frozen=True)
class Table:
    headers: list[str]
    rows: list[list[Cell]]


Row = Mapping[str, Any]
Column = tuple[str, Callable[[Row], Cell]]


def isnan(v: Any) -> bool:
    return v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v))


def num(v: Any, fmt: str = ".3f") -> str:
    if isnan(v):
        return DASH
    try:
        return format(float(v), fmt)
    except (TypeError, ValueError):
        return str(v)


def text(v: Any) -> str:
    """The value as text; empty for None / NaN (an empty CSV cell reads back as NaN)."""
    return "" if isnan(v) else str(v)


def yes(v: Any) -> str:
    return "yes" if v in (True, "True", "true") else "no"


def table(df: pd.DataFrame, columns: Sequence[Column]) -> Table:
    rows = [[fn(r) for _, fn in columns] for r in df.to_dict(orient="records")] if len(df) else []
    return Table([h for h, _ in columns], rows)


class Columns:
    """The column lists of the published tables, for one comparison (its alpha and scale labels)
    and its runs (``runs.csv`` joined to each row)."""

    def __init__(self, alpha: float, scale_labels: Mapping[str, str], runs: RunIndex) -> None:
        self.alpha, self.labels, self.runs = alpha, scale_labels, runs

    # ---- cells shared by several tables

    def value(self, key: str, fmt: str = ".3f", lo: str | None = "ci_low",
              hi: str = "ci_high") -> Callable[[Row], Cell]:
        """``key`` formatted, with the CI ``[lo, hi]`` behind it when the row has one."""
        def cell(r: Row) -> Cell:
            ci = None if lo is None or (isnan(r.get(lo)) and isnan(r.get(hi))) else (
                num(r.get(lo), fmt), num(r.get(hi), fmt))
            return Cell(num(r.get(key), fmt), ci)
        return cell

    def plain(self, key: str, fmt: str = ".3f") -> Callable[[Row], Cell]:
        return self.value(key, fmt, lo=None)

    def p(self, key: str) -> Callable[[Row], Cell]:
        def cell(r: Row) -> Cell:
            v = r.get(key)
            return Cell(DASH) if isnan(v) else Cell(format_p(float(v)), sig=float(v) < self.alpha)
        return cell

    def scale(self, r: Row) -> Cell:
        sc = str(r.get("scale"))
        return Cell(self.labels.get(sc, scale_label(sc, r.get("n_params"))))

    def scale_name(self, sc: Any) -> str:
        return self.labels.get(str(sc), str(sc))

    @staticmethod
    def strategy(r: Row) -> Cell:
        return Cell(strategy_label(str(r.get("strategy"))))

    @staticmethod
    def pair(r: Row) -> Cell:
        return Cell(f"{strategy_label(str(r.get('a')))} vs {strategy_label(str(r.get('b')))}")

    @staticmethod
    def metric(r: Row) -> Cell:
        m = r.get("metric")
        return Cell(METRIC_LABELS.get(m) or text(m))

    @staticmethod
    def category(r: Row) -> Cell:
        return Cell(CATEGORY_LABELS.get(r.get("category"), text(r.get("category"))))

    @staticmethod
    def kind(r: Row) -> Cell:
        """A fidelity kind (``number``, ``identifier``) in words."""
        k = r.get("kind", r.get("category"))
        return Cell(FIDELITY_KIND_LABELS.get(k, text(k)))

    @staticmethod
    def txt(key: str) -> Callable[[Row], Cell]:
        return lambda r: Cell(text(r.get(key)))

    def run_links(self, r: Row) -> Cell:
        return Cell(runs=tuple(self.runs.for_row(r)))

    def power(self) -> list[Column]:
        return [("Detectable at 80% power", lambda r: Cell(
                    DASH if isnan(r.get("mde")) else "\u2265 " + num(r.get("mde"), ".3g"))),
                ("Verdict", self.txt("verdict"))]

    def tail(self) -> list[Column]:
        """Power, note and runs: the last columns of every test table."""
        return [*self.power(), ("Note", self.txt("note")), ("MLflow runs", self.run_links)]

    # ---- the tables

    def similarity(self, df: pd.DataFrame) -> list[Column]:
        cols: list[Column] = [
            ("Strategy", self.strategy), ("Scale", self.scale), ("n", self.plain("n", ".0f")),
            ("Mean similarity [CI]", self.value("similarity")), ("Median", self.plain("median"))]
        for key, head, fmt in (("exact_match", "Exact match", ".3f"),
                               ("edit_distance", "Edit distance", ".3f"),
                               ("parses", "Parse rate", ".3f"), ("lrml_precision", "LRML P", ".1f"),
                               ("lrml_recall", "LRML R", ".1f"), ("lrml_f_score", "LRML F", ".1f"),
                               ("corpus_bleu", "BLEU", ".1f")):
            if key in df.columns:
                cols.append((head, self.plain(key, fmt)))
        return [*cols, ("MLflow runs", self.run_links)]

    def plateau(self) -> list[Column]:
        def after(r: Row) -> Cell:
            v = r.get("plateau_scale")
            return Cell(self.scale_name(v) if isinstance(v, str) and v else DASH)
        return [("Strategy", self.strategy), ("Scales", self.plain("n_scales", ".0f")),
                ("Pattern", self.txt("pattern")), ("Plateau after", after),
                ("Confirmed (CI below threshold)", lambda r: Cell(yes(r.get("confirmed")))),
                ("Last step gain / doubling [CI]", self.value("last_gain", "+.4f", "last_ci_low",
                                                              "last_ci_high")),
                ("Note", self.txt("note")), ("MLflow runs", self.run_links)]

    def plateau_gains(self) -> list[Column]:
        return [("Strategy", self.strategy),
                ("Step", lambda r: Cell(f"{self.scale_name(r.get('from_scale'))} \u2192 "
                                        f"{self.scale_name(r.get('to_scale'))}")),
                ("Doublings", self.plain("doublings", ".2f")), ("Gain", self.plain("gain", "+.4f")),
                ("Gain / doubling [CI]", self.value("gain_per_doubling", "+.4f")),
                ("Below threshold", lambda r: Cell(yes(r.get("below_threshold")))),
                ("CI covers 0", lambda r: Cell(yes(r.get("ci_covers_zero")))),
                ("Detectable gain at 80% power", self.plain("mde", ".4f"))]

    def strategy_tests(self) -> list[Column]:
        def medians(r: Row) -> Cell:
            names = [s for s in text(r.get("strategies")).split(",") if s]
            return Cell(", ".join(f"{strategy_label(s)} {num(r.get(f'median_{s}'))}" for s in names))

        return [("Scale", self.scale), ("Metric", self.metric), ("Test", self.txt("test")),
                ("n", self.plain("n", ".0f")), ("Statistic", self.plain("statistic", ".2f")),
                ("p", self.p("p")),
                ("Effect [CI]", lambda r: Cell(f"{text(r.get('effect_name'))} "
                                               f"{num(r.get('effect_size'))}",
                                               self.value("effect_size")(r).ci)),
                ("Medians", medians), *self.tail()]

    def pairwise(self) -> list[Column]:
        return [("Scale", self.scale), ("Metric", self.metric), ("A vs B", self.pair),
                ("n", self.plain("n", ".0f")), ("Median A", self.plain("median_a")),
                ("Median B", self.plain("median_b")),
                ("Wilcoxon W", self.plain("statistic", ".1f")), ("p", self.p("p")),
                ("p (Holm)", self.p("p_holm")), ("r (A \u2212 B) [CI]", self.value("r", "+.2f")),
                *self.tail()]

    def divergence(self) -> list[Column]:
        return [("Scale", self.scale), ("A vs B", self.pair), ("n", self.plain("n", ".0f")),
                ("Mean per-clause JSD [CI]", self.value("mean_jsd")),
                ("Category-profile JSD", self.plain("category_jsd", ".4f")),
                ("p (permutation)", self.p("p")), ("p (Holm)", self.p("p_holm")), *self.tail()]

    def trends(self, values: str = "Mean share by scale", fidelity: bool = False) -> list[Column]:
        """The trend tests; ``fidelity``: of ``fidelity_trends.csv``, whose ``category`` is a
        fidelity kind and whose ``mean_share`` is the mean per-clause fidelity rate (header
        ``values``)."""
        def percent(v: str) -> str:
            try:
                return DASH if isnan(float(v)) else f"{float(v) * 100:.1f}%"
            except ValueError:
                return v

        def shares(r: Row) -> Cell:
            scales, values = text(r.get("scales")).split(","), text(r.get("mean_share")).split(",")
            return Cell(lines=tuple(f"{self.scale_name(a)}: {percent(b)}"
                                    for a, b in zip(scales, values, strict=False) if a and b))

        def family(r: Row) -> Cell:
            cross = " (across families: size and family confounded)" \
                if r.get("cross_family") in (True, "True") else ""
            return Cell(text(r.get("model_family")) + cross)

        return [("Strategy", self.strategy),
                ("Kind", self.kind) if fidelity else ("Category", self.category),
                ("Holm family", self.txt("family")), ("Model family", family),
                ("n", self.plain("n", ".0f")), (values, shares),
                ("Spearman rho [CI]", self.value("rho", "+.2f")),
                ("p (Spearman)", self.p("p_spearman")), ("Page L", self.plain("page_L", ".0f")),
                ("p (Page, rising)", self.p("p_page_increasing")),
                ("p (Page, two-sided)", self.p("p_page")), ("p (Holm)", self.p("p_holm")),
                *self.tail()]

    def category_shares(self) -> list[Column]:
        return [("Strategy", self.strategy), ("Scale", self.scale), ("Category", self.category),
                ("n (clauses with it)", self.plain("n", ".0f")),
                ("Mean share [CI]", self.value("mean")),
                ("Uniform baseline", self.plain("unit_fraction")),
                ("Mean over all clauses", self.plain("mean_all")), ("MLflow runs", self.run_links)]


    def fidelity(self) -> list[Column]:
        return [("Strategy", self.strategy), ("Scale", self.scale), ("Kind", self.kind),
                ("Clauses", self.plain("n_clauses", ".0f")), ("Items", self.plain("n_items", ".0f")),
                ("Fidelity rate [CI]", self.value("rate")), ("MLflow runs", self.run_links)]


    def method_agreement(self, top_k_fraction: float | None) -> list[Column]:
        """``method_agreement.csv``: each estimator against exact leave-one-out, per model."""
        top_k = f"Top-{top_k_fraction * 100:.0f}% overlap" if top_k_fraction else "Top-k overlap"

        def ratio(r: Row) -> Cell:
            v = r.get("cost_ratio")
            return Cell(DASH if isnan(v) else f"{float(v):.2g}\u00d7")

        return [("Method", lambda r: Cell(method_label(str(r.get("method")), r.get("n_samples")))),
                ("Strategy", self.strategy), ("Scale", self.scale), ("Clauses", self.plain("clauses", ".0f")),
                ("Mean Spearman with exact [CI]", self.value("spearman", "+.2f")),
                (top_k, self.plain("top_k_overlap", ".2f")), ("Same top word", self.plain("top1_same", ".2f")),
                ("s / clause", self.plain("s_per_clause", ".2f")),
                ("Exact s / clause", self.plain("exact_s_per_clause", ".2f")),
                ("Cost (\u00d7 exact)", ratio), ("MLflow runs", self.run_links)]

    def method_verdicts(self) -> list[Column]:
        """``method_verdicts.csv``: a verdict of the study with exact's scores and with an estimator's."""
        def test(r: Row) -> Cell:
            kind = text(r.get("kind"))
            if kind == "claim":
                return Cell(f"claim {text(r.get('claim'))}")
            if kind == "trend":
                return Cell(f"share on {CATEGORY_LABELS.get(r.get('category'), text(r.get('category')))} vs scale, "
                            f"{strategy_label(text(r.get('strategy')))}")
            what = METRIC_LABELS.get(r.get("metric"), text(r.get("metric"))) if kind == "pairwise" \
                else "category profile"
            return Cell(f"{what}: {self.pair(r).text}")

        def where(r: Row) -> Cell:
            return self.scale(r) if text(r.get("scale")) else Cell(DASH)

        def n(r: Row) -> Cell:
            a, b = num(r.get("n"), ".0f"), num(r.get("n_method"), ".0f")
            return Cell(a if a == b else f"{a} / {b}")

        return [("Method", lambda r: Cell(method_label(str(r.get("method"))))), ("Test", test), ("Scale", where),
                ("n (clauses)", n), ("Exact", self.txt("exact")), ("Estimator", self.txt("verdict")),
                ("Changed", lambda r: Cell(yes(r.get("changed")), sig=yes(r.get("changed")) == "yes")),
                ("MLflow runs", self.run_links)]


PUBLISHED_LRML: list[Column] = [("System", lambda r: Cell(str(r["system"]))),
                                ("Split", lambda r: Cell(str(r["split"]))),
                                ("LRML F", lambda r: Cell(str(r["f"])))]
"""Columns of :data:`ccattr.lrml_fscore.PUBLISHED`."""
