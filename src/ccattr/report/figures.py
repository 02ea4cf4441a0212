"""The report's figures (matplotlib, Agg): each function takes published tables or the attribute
stage's tables and returns a figure, or None when there is nothing to draw; :func:`png` turns
one into the PNG bytes the page embeds and ``reports/figures/`` keeps."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from ccattr.config import STRATEGIES  # noqa: E402
from ccattr.report.rule_parts import TokenGroups  # noqa: E402
from ccattr.stats.labels import (  # noqa: E402
    CATEGORY_LABELS,
    FIDELITY_KIND_LABELS,
    KEY_CATEGORIES,
    METRIC_DIRECTION,
    METRIC_LABELS,
    human_count,
    method_label,
    method_sort,
    n_params_of,
    scale_label,
    scale_order,
    strategy_label,
    strategy_sort,
)

STRATEGY_COLORS = dict(zip(STRATEGIES, ("#0072B2", "#E69F00", "#009E73", "#CC79A7"), strict=True))
"""Okabe-Ito colours (colour-blind safe), one per strategy in the order of the strategy set, in every figure."""
HEAT_CMAP = "OrRd"
DPI = 110


def _color(strategy: str) -> str:
    extra = ["#56B4E9", "#D55E00", "#F0E442", "#000000"]
    return STRATEGY_COLORS.get(strategy, extra[sum(map(ord, strategy)) % len(extra)])


def _log_axis(ax: Any, sizes: Iterable[float]) -> None:
    sizes = sorted({float(s) for s in sizes if pd.notna(s)})
    ax.set_xscale("log")
    ax.set_xticks(sizes)
    crowded = len(sizes) > 1 and min(b / a for a, b in zip(sizes, sizes[1:], strict=False)) < 1.8
    ax.set_xticklabels([human_count(s) for s in sizes], rotation=35 if crowded else 0,
                       ha="right" if crowded else "center")
    ax.minorticks_off()
    if len(sizes) == 1:
        ax.set_xlim(sizes[0] / 2, sizes[0] * 2)
    elif sizes:
        ax.set_xlim(sizes[0] / 1.4, sizes[-1] * 1.4)
    ax.set_xlabel("parameters (log scale)")


def _dodge(x: np.ndarray, i: int, k: int) -> np.ndarray:
    """Shift series ``i`` of ``k`` slightly along a log axis so error bars do not overlap."""
    return x * 2 ** (0.07 * (i - (k - 1) / 2))


def _strategy_lines(ax: Any, df: pd.DataFrame, value: str, strategies: Sequence[str]
                    ) -> dict[str, tuple[pd.DataFrame, np.ndarray, np.ndarray]]:
    """One line per strategy: ``df[value]`` against ``n_params`` with its ``ci_low``/``ci_high``
    as error bars, the series dodged apart; returns each strategy's ``(rows, x, y)`` as drawn."""
    drawn = {}
    for i, s in enumerate(strategies):
        g = df[(df["strategy"] == s) & pd.to_numeric(df[value], errors="coerce").notna()].sort_values("n_params")
        if g.empty:
            continue
        x = _dodge(g["n_params"].to_numpy(dtype=float), i, len(strategies))
        y = g[value].to_numpy(dtype=float)
        err = np.vstack([y - g["ci_low"].to_numpy(dtype=float), g["ci_high"].to_numpy(dtype=float) - y])
        ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker="o", ms=5,
                    capsize=3, color=_color(s), label=strategy_label(s), lw=1.6)
        drawn[s] = (g, x, y)
    return drawn


# --------------------------------------------------------------------------- figures


def fig_focus(clause_df: pd.DataFrame, metric: str = "entropy") -> plt.Figure | None:
    """Box plots of a focus metric per strategy, one panel per scale (clauses as points)."""
    if clause_df.empty or metric not in clause_df.columns:
        return None
    scales = scale_order(clause_df)
    strategies = strategy_sort(clause_df["strategy"].dropna().unique())
    ncols = min(4, len(scales))
    nrows = math.ceil(len(scales) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(max(4.5, 3.3 * ncols), 3.6 * nrows),
                             sharey=True, squeeze=False, dpi=DPI)
    rng = np.random.default_rng(0)
    for ax in axes.ravel()[len(scales):]:
        ax.set_visible(False)
    for ax, scale in zip(axes.ravel(), scales, strict=False):
        d = clause_df[clause_df["scale"] == scale]
        data = [pd.to_numeric(d.loc[d["strategy"] == s, metric], errors="coerce").dropna()
                for s in strategies]
        labels = [f"{strategy_label(s)}\nn={len(v)}" for s, v in zip(strategies, data,
                                                                           strict=True)]
        bp = ax.boxplot([v.to_numpy() if len(v) else [np.nan] for v in data], tick_labels=labels,
                        widths=0.55, showfliers=False, patch_artist=True,
                        medianprops={"color": "black", "linewidth": 1.5})
        for patch, s in zip(bp["boxes"], strategies, strict=True):
            patch.set_facecolor(_color(s))
            patch.set_alpha(0.35)
        for i, (v, s) in enumerate(zip(data, strategies, strict=True)):
            ax.scatter(i + 1 + rng.uniform(-0.15, 0.15, len(v)), v, s=12, color=_color(s),
                       alpha=0.8, zorder=3, linewidths=0)
        ax.set_title(scale_label(scale, n_params_of(d, scale)), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    label = METRIC_LABELS.get(metric, metric)
    hint = "lower = more focused" if METRIC_DIRECTION.get(metric, 1) < 0 else \
        "higher = more focused"
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{label}\n({hint})")
    fig.suptitle(f"Attribution focus per clause: {label} by fine-tuning strategy", fontsize=11)
    fig.tight_layout()
    return fig


def fig_category_shares(means: pd.DataFrame, categories: Sequence[str] = KEY_CATEGORIES,
                        confidence: float = 0.95) -> plt.Figure | None:
    """Share of attribution vs scale, one panel per key category, one line per strategy."""
    if means is None or means.empty:
        return None
    cats = [c for c in categories if c in set(means["category"])]
    if not cats:
        return None
    ncols = min(2, len(cats))
    nrows = math.ceil(len(cats) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.7 * nrows), squeeze=False,
                             dpi=DPI)
    for ax in axes.ravel()[len(cats):]:
        ax.set_visible(False)
    strategies = strategy_sort(means["strategy"].dropna().unique())
    for ax, cat in zip(axes.ravel(), cats, strict=False):
        m = means[means["category"] == cat].sort_values("n_params")
        _strategy_lines(ax, m, "mean", strategies)
        base = m.groupby("n_params")["unit_fraction"].mean()
        if base.notna().any():
            ax.plot(base.index.to_numpy(dtype=float), base.to_numpy(), ls="--", color="grey",
                    lw=1, label="uniform baseline\n(fraction of words)")
        _log_axis(ax, m["n_params"])
        ax.set_title(CATEGORY_LABELS.get(cat, cat).capitalize(), fontsize=10)
        ax.set_ylabel("share of attribution")
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle("Share of attribution per word category vs model scale "
                 f"(mean over clauses containing the category, {confidence:.0%} CI)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08 if nrows == 1 else 0.05, 1, 1))
    return fig




def fig_fidelity(rates: pd.DataFrame, confidence: float = 0.95) -> plt.Figure | None:
    """Number / identifier fidelity (share of a rule's numbers or identifiers whose most
    attributed clause word states them) vs scale, one panel per kind, one line per strategy.
    ``rates``: the ``fidelity`` table; None when it has no rate (rules without numbers)."""
    if rates is None or rates.empty or "rate" not in rates.columns:
        return None
    rates = rates[pd.to_numeric(rates["rate"], errors="coerce").notna()]
    kinds = [k for k in FIDELITY_KIND_LABELS if k in set(rates["kind"])]
    kinds += sorted(set(rates["kind"].dropna()) - set(kinds))
    if not kinds:
        return None
    fig, axes = plt.subplots(1, len(kinds), figsize=(5.2 * len(kinds), 3.7), squeeze=False,
                             sharey=True, dpi=DPI)
    strategies = strategy_sort(rates["strategy"].dropna().unique())
    for ax, kind in zip(axes.ravel(), kinds, strict=True):
        m = rates[rates["kind"] == kind]
        _strategy_lines(ax, m, "rate", strategies)
        _log_axis(ax, rates["n_params"])
        items = int(pd.to_numeric(m["n_items"], errors="coerce").sum()) if "n_items" in m else 0
        ax.set_title(f"{FIDELITY_KIND_LABELS.get(kind, kind).capitalize()} ({items} items over all models)",
                     fontsize=10)
        ax.set_ylim(0, 1.04)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("share of items faithful")
    _shared_legend(fig, axes)
    fig.suptitle("Number and identifier fidelity vs model scale "
                 f"(pooled over items, {confidence:.0%} CI resampling clauses)", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def _shared_legend(fig: plt.Figure, axes: np.ndarray) -> None:
    """One legend under all panels, each label once (panels repeat the strategies' lines)."""
    legend = {lab: h for ax in axes.ravel() for h, lab in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(list(legend.values()), list(legend), loc="lower center", ncol=max(1, len(legend)),
               fontsize=9, frameon=False, bbox_to_anchor=(0.5, 0.0))


def fig_method_agreement(agreement: pd.DataFrame, confidence: float = 0.95) -> plt.Figure | None:
    """Each cheaper estimator's mean Spearman with exact leave-one-out (word scores, per clause) vs
    scale, one panel per method, one line per strategy, with CIs. ``agreement``: the
    ``method_agreement`` table; None when it has no Spearman (no method checked)."""
    if agreement is None or agreement.empty:
        return None
    agreement = agreement[pd.to_numeric(agreement["spearman"], errors="coerce").notna()]
    methods = method_sort(agreement["method"].dropna().unique())
    if not methods:
        return None
    fig, axes = plt.subplots(1, len(methods), figsize=(max(5.2, 4.4 * len(methods)), 3.7), squeeze=False,
                             sharey=True, dpi=DPI)
    strategies = strategy_sort(agreement["strategy"].dropna().unique())
    for ax, method in zip(axes.ravel(), methods, strict=True):
        m = agreement[agreement["method"] == method]
        ax.axhline(1, color="grey", ls="--", lw=1, label="exact leave-one-out")
        ax.axhline(0, color="black", lw=0.6)
        _strategy_lines(ax, m, "spearman", strategies)
        _log_axis(ax, agreement["n_params"])
        budget = m["n_samples"].dropna()
        ax.set_title(method_label(method, budget.iloc[0] if len(budget) else None), fontsize=10)
        ax.set_ylim(-1.05, 1.05)
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("mean Spearman with exact")
    _shared_legend(fig, axes)
    fig.suptitle("Cheaper estimators vs exact leave-one-out: word-rank agreement per clause "
                 f"(mean, {confidence:.0%} CI resampling clauses)", fontsize=11)
    fig.tight_layout(rect=(0, 0.1, 1, 1))
    return fig


def fig_similarity(by_scale: pd.DataFrame, plateau_summary: pd.DataFrame | None,
                   gains: pd.DataFrame | None, gain_threshold: float | None,
                   confidence: float = 0.95, label: str = "rule similarity") -> plt.Figure | None:
    """Mean rule quality (the plateau analysis' metric, ``label``) vs scale per strategy with
    CIs and the plateau marked; right panel: the gain per doubling of parameters between
    consecutive scales, with the threshold. ``by_scale``: the ``plateau_by_scale`` table."""
    if by_scale is None or by_scale.empty:
        return None
    similarity = by_scale.rename(columns={"mean": "similarity"})
    has_gains = gains is not None and not gains.empty
    fig, axes = plt.subplots(1, 2 if has_gains else 1, figsize=(11 if has_gains else 6, 4),
                             squeeze=False, dpi=DPI)
    ax = axes[0, 0]
    strategies = strategy_sort(similarity["strategy"].dropna().unique())
    pl = plateau_summary.set_index("strategy") if plateau_summary is not None and len(
        plateau_summary) else pd.DataFrame()
    marked = False
    for s, (g, x, y) in _strategy_lines(ax, similarity, "similarity", strategies).items():
        if s in pl.index and isinstance(pl.loc[s, "plateau_scale"], str):
            at = g["scale"].tolist().index(pl.loc[s, "plateau_scale"]) \
                if pl.loc[s, "plateau_scale"] in g["scale"].tolist() else None
            if at is not None:
                ax.scatter([x[at]], [y[at]], marker="*", s=260, color=_color(s),
                           edgecolor="black", zorder=5)
                marked = True
    _log_axis(ax, similarity["n_params"])
    if marked:
        ax.scatter([], [], marker="*", s=160, color="white", edgecolor="black",
                   label="plateau starts")
    ax.set_ylabel(f"mean {label}")
    ax.set_title(f"{label[0].upper() + label[1:]} vs scale ({confidence:.0%} CI)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    if has_gains:
        ax2 = axes[0, 1]
        steps = gains.assign(label=[f"{human_count(a)}\u2192{human_count(b)}"
                                    for a, b in zip(gains["from_n_params"], gains["to_n_params"],
                                                    strict=True)])
        order = list(dict.fromkeys(steps.sort_values("to_n_params")["label"]))
        width = 0.8 / max(1, len(strategies))
        for i, s in enumerate(strategies):
            g = steps[steps["strategy"] == s]
            pos = np.array([order.index(lab) for lab in g["label"]]) + (i - (len(strategies) - 1)
                                                                         / 2) * width
            y = g["gain_per_doubling"].to_numpy(dtype=float)
            err = np.vstack([y - g["ci_low"].to_numpy(dtype=float),
                             g["ci_high"].to_numpy(dtype=float) - y])
            ax2.bar(pos, y, width=width * 0.9, color=_color(s), alpha=0.75,
                    label=strategy_label(s))
            ax2.errorbar(pos, y, yerr=np.clip(np.nan_to_num(err), 0, None), fmt="none",
                         ecolor="black", capsize=2, lw=1)
        ax2.axhline(0, color="black", lw=0.8)
        if gain_threshold is not None:
            ax2.axhline(gain_threshold, color="grey", ls="--", lw=1,
                        label=f"plateau threshold ({gain_threshold:g})")
        ax2.set_xticks(range(len(order)))
        ax2.set_xticklabels(order)
        ax2.set_xlabel("step between consecutive scales")
        ax2.set_ylabel(f"{label} gain per doubling")
        ax2.set_title("Marginal gain per doubling of parameters", fontsize=10)
        ax2.grid(axis="y", alpha=0.3)
        ax2.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


def _text_widths(words: Sequence[str], fontsize: float) -> list[float]:
    """Rendered width of each word in inches (measured with the Agg renderer)."""
    fig = plt.figure(figsize=(4, 1), dpi=DPI)
    renderer = fig.canvas.get_renderer()
    out = []
    for w in words:
        t = fig.text(0, 0, w, fontsize=fontsize)
        out.append(t.get_window_extent(renderer).width / DPI)
        t.remove()
    plt.close(fig)
    return out


def fig_clause_heatmap(long_df: pd.DataFrame, clause_id: str, scale: str,
                       strategies: Sequence[str], title: str = "",
                       entropy: dict[str, float] | None = None) -> plt.Figure | None:
    """The clause's words coloured by each strategy's ``norm_score`` (one block per strategy,
    one shared colour scale), so the strategies' attributions can be compared word by word."""
    d = long_df[(long_df["clause_id"] == clause_id) & (long_df["scale"] == scale)
                & long_df["strategy"].isin(strategies)]
    if d.empty:
        return None
    strategies = [s for s in strategies if (d["strategy"] == s).any()]
    units = d.drop_duplicates("unit_index").sort_values("unit_index")
    texts = (units["text"].astype(str) if "text" in units.columns else
             units["unit_index"].map(lambda i: f"u{i}")).tolist()
    # pandas' string dtype keeps a missing text missing through astype(str): show it as a blank.
    texts = [t if isinstance(t, str) and t.strip() else "\u2423" for t in texts]
    index = units["unit_index"].tolist()
    scores = {s: d[d["strategy"] == s].groupby("unit_index")["norm_score"].sum()
              .reindex(index) for s in strategies}
    vmax = max(float(np.nanmax(v.to_numpy(dtype=float))) if v.notna().any() else 0.0
               for v in scores.values()) or 1.0
    norm, cmap = Normalize(0, vmax), plt.get_cmap(HEAT_CMAP)

    fontsize, width_in, margin, gap = 11.0, 10.0, 0.25, 0.05
    pad_in = 0.25 * fontsize / 72
    widths = _text_widths(texts, fontsize)
    avail = width_in - 2 * margin
    pos, line, x = [], 0, 0.0
    for w in widths:
        adv = w + 2 * pad_in + gap
        if x > 0 and x + adv > avail:
            line, x = line + 1, 0.0
        pos.append((line, x))
        x += adv
    n_lines = line + 1
    line_h = fontsize * 2.1 / 72
    header_h, block_gap, title_h, cbar_h = 0.32, 0.18, 0.45 if title else 0.1, 0.75
    block_h = header_h + n_lines * line_h + block_gap
    height = title_h + len(strategies) * block_h + cbar_h
    fig = plt.figure(figsize=(width_in, height), dpi=DPI)

    def fx(x_in: float) -> float:
        return x_in / width_in

    def fy(y_in: float) -> float:
        return 1 - y_in / height

    if title:
        fig.text(fx(margin), fy(0.28), title, fontsize=11, weight="bold", va="center")
    for b, s in enumerate(strategies):
        top = title_h + b * block_h
        ent = (entropy or {}).get(s)
        head = strategy_label(s) + (f"  (normalized entropy {ent:.2f})"
                                    if ent is not None and not math.isnan(ent) else "")
        fig.text(fx(margin), fy(top + header_h / 2), head, fontsize=10, weight="bold",
                 color=_color(s), va="center")
        for (ln, x0), word, u in zip(pos, texts, index, strict=True):
            v = scores[s].get(u, np.nan)
            face = (0.85, 0.85, 0.85, 1) if pd.isna(v) else cmap(norm(v))
            lum = 0.299 * face[0] + 0.587 * face[1] + 0.114 * face[2]
            fig.text(fx(margin + pad_in + x0), fy(top + header_h + (ln + 0.5) * line_h), word,
                     fontsize=fontsize, va="center", ha="left",
                     color="white" if lum < 0.5 else "black",
                     bbox={"boxstyle": f"square,pad={pad_in * 72 / fontsize:.3f}", "fc": face,
                           "ec": "none"})
    used = max(x0 + w + 2 * pad_in for (_, x0), w in zip(pos, widths, strict=True))
    cbar_w = min(4.0, max(2.5, used))
    cax = fig.add_axes((fx(margin), (cbar_h - 0.42) / height, cbar_w / width_in, 0.14 / height))
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), cax=cax, orientation="horizontal")
    cb.set_label("share of the clause's attribution (norm_score)", fontsize=9)
    cb.ax.tick_params(labelsize=8)
    return fig


MARK_COLORS = {"number": "#0072B2", "identifier": "#CC79A7"}
"""Colour of the rule-token labels that spell a number or a rule identifier in the map."""


def _short(text: str, n: int = 30) -> str:
    text = " ".join(str(text).split()) or "\u2423"
    return text if len(text) <= n else text[: n - 1] + "\u2026"


def fig_rule_map(cells: pd.DataFrame, units: Sequence[str], tokens: Sequence[str],
                 groups: TokenGroups, title: str = "") -> plt.Figure | None:
    """One model's clause-unit x rule-token map: ``delta`` (log p(token | clause) - log p(token
    | unit perturbed): > 0 where the unit supports writing the token) for every clause unit
    (rows, ``units`` by unit index) and rule token (columns, ``tokens`` by token index), the
    tokens grouped into the rule's parts (``groups``) and those spelling a number or a rule
    identifier coloured (:data:`MARK_COLORS`). ``cells``: the map table's rows of the clause."""
    if cells.empty or not len(units) or not len(tokens):
        return None
    m = (cells.pivot_table(index="unit_index", columns="token_index", values="delta", aggfunc="sum")
         .reindex(index=range(len(units)), columns=range(len(tokens))).to_numpy(dtype=float))
    lim = float(np.nanmax(np.abs(m))) if np.isfinite(m).any() else 0.0
    norm = Normalize(-(lim or 1.0), lim or 1.0)

    # sizes in inches: columns narrow enough that a typical rule fits the page (10.5 in), but
    # never below a readable 0.14 in (a long rule makes a wide figure, not an unreadable one)
    labels = [_short(u) for u in units]
    left, right, top, bottom = 0.3 + 0.07 * max(map(len, labels)), 1.3, 0.55 + (0.35 if title else 0), 1.25
    col = min(0.2, max(0.14, (10.5 - left - right) / len(tokens)))
    row = 0.2
    width, height = left + col * len(tokens) + right, top + row * len(units) + bottom
    fig = plt.figure(figsize=(width, height), dpi=DPI)
    ax = fig.add_axes((left / width, bottom / height, col * len(tokens) / width,
                       row * len(units) / height))
    ax.imshow(m, cmap="RdBu_r", norm=norm, aspect="auto", interpolation="nearest")
    ax.set_yticks(range(len(units)), labels, fontsize=8)
    ax.set_xticks(range(len(tokens)), [_short(t, 14) for t in tokens], fontsize=7, rotation=90)
    for label, mark in zip(ax.get_xticklabels(), groups.marks, strict=False):
        if mark:
            label.set_color(MARK_COLORS[mark])
            label.set_fontweight("bold")
    ax.tick_params(length=0)
    for _, first, _ in groups.parts[1:]:
        ax.axvline(first - 0.5, color="black", lw=1.2)
    if groups.note:
        ax.text(0, 1.05, f"tokens not grouped: {groups.note.split(' (')[0].split(': tokens')[0]}",
                transform=ax.transAxes, ha="left", va="bottom", fontsize=9, style="italic", color="#555")
    else:
        for name, first, stop in groups.parts:
            ax.annotate("", xy=(first - 0.4, 1.02), xytext=(stop - 0.6, 1.02),
                        xycoords=("data", "axes fraction"),
                        arrowprops={"arrowstyle": "|-|,widthA=0.3,widthB=0.3", "lw": 1})
            ax.text((first + stop - 1) / 2, 1.05, name, transform=ax.get_xaxis_transform(),
                    ha="center", va="bottom", fontsize=9, weight="bold")
    if title:
        fig.text(0.1 / width, 1 - 0.3 / height, title, fontsize=11, weight="bold", va="center")
    cax = fig.add_axes(((width - right + 0.25) / width, bottom / height, 0.14 / width,
                        max(row * len(units), 1.2) / height))
    cb = fig.colorbar(ScalarMappable(norm=norm, cmap="RdBu_r"), cax=cax)
    cb.set_label("drop in the rule token's log-probability\nwhen the clause unit is perturbed",
                 fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return fig


def png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes (and closed)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()




@dataclass(frozen=True)
class Figure:
    """A figure as the page embeds it: ``name`` (its file is ``figures/<name>.png``), the PNG as
    base64 ``data``, the image's ``alt`` text and its ``width`` in pixels."""

    name: str
    data: str
    alt: str
    width: int


@dataclass
class Figures:
    """The figures drawn for the page, by name: embedded in it and saved beside it."""

    pngs: dict[str, bytes] = field(default_factory=dict)

    def add(self, name: str, fig: plt.Figure | None, alt: str) -> Figure | None:
        """Keep ``fig`` as ``name`` (None when there is nothing to draw)."""
        if fig is None:
            return None
        data = self.pngs[name] = png(fig)
        width = int.from_bytes(data[16:20], "big")          # the PNG header (IHDR) holds it
        return Figure(name, base64.b64encode(data).decode("ascii"), alt, width)
