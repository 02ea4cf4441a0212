"""The study report: one self-contained HTML page for readers who never ran the pipeline.

:func:`build_report` reads the comparison (``results/compare``: tables + ``summary.json`` from
:func:`ccattr.stats.save_comparison`; recomputed from the attribution and evaluation tables when
missing), renders the figures with matplotlib (Agg) into ``<out_dir>/figures/*.png`` and writes
``<out_dir>/index.html`` with the same figures embedded as base64 PNGs, so the single HTML file
works on its own (mail it, attach it to a run). Every table row names the MLflow runs behind it,
linked when a tracking UI URL is given.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.cm import ScalarMappable  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from ccattr import lrml_fscore, stats  # noqa: E402
from ccattr.io import atomic_dir, atomic_write_text  # noqa: E402
from ccattr.metrics import QUALITY_LABELS  # noqa: E402

STRATEGY_COLORS = {"fft": "#0072B2", "lora": "#E69F00", "qlora": "#009E73", "hybrid": "#CC79A7"}
"""Okabe-Ito colours (colour-blind safe), one per strategy, in every figure."""
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
    ax.set_xticklabels([stats.human_count(s) for s in sizes], rotation=35 if crowded else 0,
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


# --------------------------------------------------------------------------- figures


def fig_focus(clause_df: pd.DataFrame, metric: str = "entropy") -> plt.Figure | None:
    """Box plots of a focus metric per strategy, one panel per scale (clauses as points)."""
    if clause_df.empty or metric not in clause_df.columns:
        return None
    scales = stats._scale_order(clause_df)
    strategies = stats._strategy_sort(clause_df["strategy"].dropna().unique())
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
        labels = [f"{stats.strategy_label(s)}\nn={len(v)}" for s, v in zip(strategies, data,
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
        ax.set_title(stats.scale_label(scale, stats._n_params(d, scale)), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    label = stats.METRIC_LABELS.get(metric, metric)
    hint = "lower = more focused" if stats.METRIC_DIRECTION.get(metric, 1) < 0 else \
        "higher = more focused"
    for ax in axes[:, 0]:
        ax.set_ylabel(f"{label}\n({hint})")
    fig.suptitle(f"Attribution focus per clause: {label} by fine-tuning strategy", fontsize=11)
    fig.tight_layout()
    return fig


def fig_category_shares(means: pd.DataFrame, categories: Sequence[str] = stats.KEY_CATEGORIES,
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
    strategies = stats._strategy_sort(means["strategy"].dropna().unique())
    for ax, cat in zip(axes.ravel(), cats, strict=False):
        m = means[means["category"] == cat].sort_values("n_params")
        for i, s in enumerate(strategies):
            g = m[(m["strategy"] == s) & m["mean"].notna()]
            if g.empty:
                continue
            x = _dodge(g["n_params"].to_numpy(dtype=float), i, len(strategies))
            y = g["mean"].to_numpy(dtype=float)
            err = np.vstack([y - g["ci_low"].to_numpy(dtype=float),
                             g["ci_high"].to_numpy(dtype=float) - y])
            ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker="o", ms=5,
                        capsize=3, color=_color(s), label=stats.strategy_label(s), lw=1.6)
        base = m.groupby("n_params")["unit_fraction"].mean()
        if base.notna().any():
            ax.plot(base.index.to_numpy(dtype=float), base.to_numpy(), ls="--", color="grey",
                    lw=1, label="uniform baseline\n(fraction of words)")
        _log_axis(ax, m["n_params"])
        ax.set_title(stats.CATEGORY_LABELS.get(cat, cat).capitalize(), fontsize=10)
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
    strategies = stats._strategy_sort(similarity["strategy"].dropna().unique())
    pl = plateau_summary.set_index("strategy") if plateau_summary is not None and len(
        plateau_summary) else pd.DataFrame()
    marked = False
    for i, s in enumerate(strategies):
        g = similarity[similarity["strategy"] == s].sort_values("n_params")
        x = _dodge(g["n_params"].to_numpy(dtype=float), i, len(strategies))
        y = g["similarity"].to_numpy(dtype=float)
        err = np.vstack([y - g["ci_low"].to_numpy(dtype=float),
                         g["ci_high"].to_numpy(dtype=float) - y])
        ax.errorbar(x, y, yerr=np.clip(np.nan_to_num(err), 0, None), marker="o", ms=5,
                    capsize=3, color=_color(s), label=stats.strategy_label(s), lw=1.6)
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
        steps = gains.assign(label=[f"{stats.human_count(a)}\u2192{stats.human_count(b)}"
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
                    label=stats.strategy_label(s))
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
        head = stats.strategy_label(s) + (f"  (normalized entropy {ent:.2f})"
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


def _png(fig: plt.Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    return buf.getvalue()


# --------------------------------------------------------------------------- heat map choice


def pick_heatmap_clauses(long_df: pd.DataFrame, n: int = 3) -> tuple[str | None, list[dict]]:
    """Clauses to show as word heat maps, at the largest scale attributed under >= 2 strategies:
    where the strategies disagree most, a typical (median) clause and where they agree most
    (mean pairwise unit-level JSD), so the examples are not all cherry-picked."""
    if long_df.empty:
        return None, []
    for scale in reversed(stats._scale_order(long_df)):
        d = long_df[long_df["scale"] == scale]
        strategies = stats._strategy_sort(d["strategy"].unique())
        if len(strategies) < 2:
            continue
        per = []
        for i, a in enumerate(strategies):
            for b in strategies[i + 1:]:
                res = stats.distribution_divergence(d, a, b, scale, n_permutations=100,
                                                    n_bootstrap=100)
                per.append(res.per_clause.set_index("clause_id")["jsd"])
        if not per:
            continue
        jsd = pd.concat(per, axis=1).mean(axis=1).dropna().sort_values(ascending=False)
        if jsd.empty:
            continue
        picks: list[tuple[str, str]] = [(jsd.index[0], "the strategies disagree most")]
        if n >= 2 and len(jsd) >= 3:
            picks.append((jsd.index[len(jsd) // 2], "a typical clause (median disagreement)"))
        if n >= 3 and len(jsd) >= 2:
            picks.append((jsd.index[-1], "the strategies agree most"))
        extra = [c for c in jsd.index if c not in {p[0] for p in picks}]
        picks += [(c, "") for c in extra[: max(0, n - len(picks))]]
        return scale, [{"clause_id": c, "why": why, "mean_jsd": float(jsd[c])}
                       for c, why in picks[:n]]
    return None, []


# --------------------------------------------------------------------------- HTML pieces


def _esc(v: Any) -> str:
    return html.escape("" if v is None else str(v))


def _txt(v: Any) -> str:
    """Escaped text; empty for None / NaN (empty CSV cells read back as NaN)."""
    return "" if _isnan(v) else _esc(v)


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA


def _f(v: Any, fmt: str = ".3f") -> str:
    if _isnan(v):
        return "\u2013"
    try:
        return format(float(v), fmt)
    except (TypeError, ValueError):
        return _esc(v)


def _ci(row: Any, lo: str = "ci_low", hi: str = "ci_high", fmt: str = ".3f") -> str:
    a, b = row.get(lo), row.get(hi)
    if _isnan(a) and _isnan(b):
        return ""
    return f" <span class='ci'>[{_f(a, fmt)}, {_f(b, fmt)}]</span>"


def _p(v: Any, alpha: float) -> str:
    if _isnan(v):
        return "\u2013"
    cls = " class='sig'" if float(v) < alpha else ""
    return f"<span{cls}>{_esc(stats.format_p(float(v)))}</span>"


class RunLinker:
    """Renders ``run_ids`` cells: each run as its model name plus a short id, linked to the
    MLflow UI when ``ui_url`` is set: ``{ui}/#/experiments/{exp_id}/runs/{run_id}`` when
    ``run_links`` maps the run id to its experiment id, else MLflow's direct run route
    ``{ui}/#/runs/{run_id}``. A ``run_links`` value that is a URL is used as is."""

    def __init__(self, run_links: dict[str, str] | None, ui_url: str | None) -> None:
        self.links = {str(k): str(v) for k, v in (run_links or {}).items()}
        self.ui = ui_url.rstrip("/") if ui_url else None

    def url(self, run_id: str) -> str | None:
        v = self.links.get(run_id)
        if v and v.startswith(("http://", "https://", "/")):
            return v
        if not self.ui:
            return None
        if v:
            return f"{self.ui}/#/experiments/{v}/runs/{run_id}"
        return f"{self.ui}/#/runs/{run_id}"

    def cell(self, value: Any) -> str:
        parts = []
        for name, rid in stats.parse_run_ids(value):
            label = f"{_esc(name)}&nbsp;<code>{_esc(rid[:8])}</code>"
            url = self.url(rid)
            body = f"<a href='{_esc(url)}' title='{_esc(rid)}'>{label}</a>" if url else \
                f"<span title='{_esc(rid)}'>{label}</span>"
            parts.append(f"<span class='run' data-run-id='{_esc(rid)}'>{body}</span>")
        return "<br>".join(parts) or "\u2013"


Column = tuple[str, Callable[[dict[str, Any]], str]]


def _table(df: pd.DataFrame | None, columns: Sequence[Column], empty: str = "No data.") -> str:
    if df is None or df.empty:
        return f"<p class='muted'>{_esc(empty)}</p>"
    head = "".join(f"<th>{h}</th>" for h, _ in columns)
    rows = []
    for rec in df.to_dict(orient="records"):
        rows.append("<tr>" + "".join(f"<td>{fn(rec)}</td>" for _, fn in columns) + "</tr>")
    return (f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>"
            f"{''.join(rows)}</tbody></table></div>")


def _details(summary_text: str, body: str) -> str:
    return f"<details><summary>{_esc(summary_text)}</summary>{body}</details>"


def _render_value(v: Any) -> str:
    """Generic rendering of the corpus validation summary (dicts, lists of dicts, scalars)."""
    if isinstance(v, bool):
        return "<span class='ok'>passed</span>" if v else "<span class='bad'>failed</span>"
    if isinstance(v, dict):
        if v and all(isinstance(x, dict) for x in v.values()):       # name -> record
            return _render_value([{"name": k, **x} for k, x in v.items()])
        rows = "".join(f"<tr><th>{_esc(k)}</th><td>{_render_value(x)}</td></tr>"
                       for k, x in v.items())
        return f"<table class='kv'>{rows}</table>"
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            keys = list(dict.fromkeys(k for x in v for k in x))
            head = "".join(f"<th>{_esc(k)}</th>" for k in keys)
            body = "".join("<tr>" + "".join(f"<td>{_render_value(x.get(k))}</td>"
                                            for k in keys) + "</tr>" for x in v)
            return f"<div class='tw'><table><thead><tr>{head}</tr></thead><tbody>{body}" \
                   "</tbody></table></div>"
        return _esc(", ".join(str(x) for x in v))
    if isinstance(v, float):
        return _f(v, ".4g")
    return _esc(v)


def _expectation_records(v: Any) -> list[dict[str, Any]]:
    """Expectations of a validation summary as records with a boolean ``success``: the
    ``expectations`` entry (a name -> record mapping or a list of records) when present."""
    exp = v.get("expectations") if isinstance(v, dict) else None
    if isinstance(exp, dict):
        exp = [{"name": k, **x} if isinstance(x, dict) else {"name": k, "success": x}
               for k, x in exp.items()]
    if not isinstance(exp, list):
        return []
    out = []
    for x in exp:
        if isinstance(x, dict):
            flag = next((x[k] for k in ("success", "passed", "ok") if isinstance(x.get(k), bool)),
                        None)
            if flag is not None:
                out.append({**x, "success": flag})
    return out


def _corpus_section(validation_summary: dict[str, Any] | None) -> str:
    if not validation_summary:
        return ("<p class='muted'>No corpus validation summary was given to the report "
                "builder.</p>")
    records = _expectation_records(validation_summary)
    parts = []
    if isinstance(validation_summary.get("success"), bool):
        ok = validation_summary["success"]
        parts.append(f"<p class='{'ok' if ok else 'bad'}'><b>Corpus validation "
                     f"{'passed' if ok else 'FAILED'}.</b></p>")
    if records:
        failed = [r for r in records if not r["success"]]
        cls = "ok" if not failed else "bad"
        parts.append(f"<p class='{cls}'><b>Data expectations: {len(records) - len(failed)} "
                     f"passed, {len(failed)} failed.</b></p>")
        if failed:
            parts.append("<h3>Failed expectations</h3>" + _render_value(failed))
    scalars = {k: v for k, v in validation_summary.items()
               if k != "expectations" and not isinstance(v, (dict, list, tuple))}
    nested = {k: v for k, v in validation_summary.items()  # empty ones (no unknown names) say nothing
              if k != "expectations" and isinstance(v, (dict, list, tuple)) and v}
    if scalars:
        parts.append("<h3>Counts and split</h3>" + _render_value(scalars))
    for k, v in nested.items():
        parts.append(f"<h3>{_esc(k)}</h3>" + _render_value(v))
    if "expectations" in validation_summary:
        parts.append(_details(f"All {len(records) or ''} expectations".replace("  ", " "),
                              _render_value(validation_summary["expectations"])))
    return "".join(parts)


# --------------------------------------------------------------------------- the page

_PAGE = Template("""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ccattr report</title>
<style>
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d1d1f;
max-width:1180px;margin:0 auto;padding:24px 28px 80px;line-height:1.5;font-size:15px}
h1{font-size:26px;margin-bottom:4px}h2{font-size:20px;margin-top:42px;border-bottom:2px solid #ddd;
padding-bottom:4px}h3{font-size:16px;margin-top:26px}
.muted{color:#666}.sub{color:#555;margin-top:0}
nav a{margin-right:14px}
ul.findings li{margin:6px 0}ul.findings li.claim{font-weight:600;list-style:square}
figure{margin:16px 0 26px}figure img{max-width:100%;border:1px solid #e4e4e4}
figcaption{color:#444;font-size:13px;margin-top:4px}
.tw{overflow-x:auto;margin:8px 0 18px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f3f5f8;position:sticky;top:0}
tbody tr:nth-child(even){background:#fafafa}
table.kv th{background:#f7f7f7;font-weight:600}
.ci{color:#666;white-space:nowrap}.sig{font-weight:700;color:#b00020}
.ok{color:#1b7f3b}.bad{color:#b00020}
code{font-size:12px;background:#f2f2f2;padding:0 3px;border-radius:3px}
.run{white-space:nowrap}.rule{font-family:monospace;font-size:12.5px;white-space:pre-wrap}
details{margin:8px 0 16px}summary{cursor:pointer;color:#0b57d0}
dl dt{font-weight:600;margin-top:8px}dl dd{margin-left:18px}
</style></head><body>
<h1>Attribution of building-regulation clauses across fine-tuning strategies and scales</h1>
<p class="sub">ccattr report &middot; generated $generated &middot; $setup</p>
<nav>$nav</nav>
$body
</body></html>
""")


def _fig_html(name: str, png: bytes | None, caption: str) -> str:
    if png is None:
        return f"<p class='muted'>No data for figure <code>{_esc(name)}</code>.</p>"
    data = base64.b64encode(png).decode("ascii")
    return (f"<figure id='fig-{_esc(name)}'><img src='data:image/png;base64,{data}' "
            f"alt='{_esc(caption)}' data-file='figures/{_esc(name)}.png'>"
            f"<figcaption>{caption} <span class='muted'>(also saved as "
            f"<code>figures/{_esc(name)}.png</code>)</span></figcaption></figure>")


def _methods(summary: dict[str, Any]) -> str:
    alpha = summary.get("alpha", 0.05)
    return f"""<dl>
<dt>Attribution</dt><dd>Each word (unit) of a clause is perturbed and the drop in the
log-probability of the model's generated rule is measured; <code>norm_score</code> is the word's
share of the clause's total absolute drop (it sums to 1 over the clause).</dd>
<dt>Focus</dt><dd><i>Normalized entropy</i> of a clause's attribution (0: all weight on one
word, 1: spread evenly; lower = more focused), the <i>Gini coefficient</i> and the
<i>top-k share</i> (weight on the top fraction of words; higher = more focused).</dd>
<dt>Strategy tests</dt><dd>The same test clauses are attributed under every strategy, so tests
are paired by clause: Friedman's test across strategies (effect size Kendall's W, 0 = no
consistent ranking, 1 = the same ranking on every clause) and pairwise Wilcoxon signed-rank
tests, Holm-corrected within each scale and metric, with the matched-pairs rank-biserial
correlation <i>r</i> (signed: r &gt; 0 means the first strategy has the higher value; the
findings quote |r|).</dd>
<dt>Pattern divergence</dt><dd>Jensen-Shannon divergence (base 2; 0 = identical, 1 = disjoint)
between two strategies' attributions of the same clause, averaged over clauses. Whether the
strategies differ <i>systematically</i> is tested on their average category profiles
(share of attribution on numbers, rule identifiers, ...) with a permutation test that swaps the
two strategies' labels within clauses.</dd>
<dt>Scale trends</dt><dd>Page's trend test (clauses as blocks, scales in ascending order) and
Spearman's rho of the category share against log(parameters), with a bootstrap CI over clauses.
Holm correction within the claim-2 family (numbers and rule identifiers) and, separately,
within the exploratory rest.</dd>
<dt>Rule quality</dt><dd>Cosine similarity of sentence embeddings (all-MiniLM-L6-v2), exact
match of the canonical forms in the rule notation, normalized edit distance, parse rate in the
notation, the LRML F-score of Fuchs et al. (element-wise precision and recall of the rule's
terms and their words, entities weighted twice; the corpus F is the harmonic mean of the mean
precision and mean recall) and corpus BLEU (sacrebleu).</dd>
<dt>Plateau</dt><dd>Gain in mean {QUALITY_LABELS.get(summary.get('quality_metric') or 'similarity')}
per doubling of parameters between
consecutive scales, with bootstrap CIs. The plateau scale is the first scale after which every
step's gain is below {summary.get('plateau_gain')} and its CI covers zero. Such a plateau is
<i>confirmed</i> only if every later CI's upper bound is also below the threshold (a small test
set can look flat for lack of precision).</dd>
<dt>Power</dt><dd>Beside each test, the smallest effect it detects with 80% power at its n, in the
unit of its effect size, by simulation under the same scipy test (<code>ccattr.power</code>; Holm
families at alpha / family size). A non-significant test whose detectable effect exceeds a medium
one (rank-biserial r 0.5, Kendall's W 0.3, within-clause Spearman rho 0.5, moving 10 points of
attribution between two categories) is <i>inconclusive</i>; one that could have seen a medium effect
is <i>no effect</i>.</dd>
<dt>Conventions</dt><dd>Significance at alpha = {alpha}; confidence intervals are
{(1 - alpha) * 100:.0f}% percentile bootstraps resampling clauses
({summary.get('n_bootstrap')} resamples; {summary.get('n_permutations')} permutations).
<span class='sig'>Red bold</span> p-values are below alpha. n counts clauses.</dd>
</dl>"""


def build_report(compare_dir: str | Path = "results/compare",
                 attributions_dir: str | Path = "results/attributions",
                 eval_dir: str | Path = "results/eval", out_dir: str | Path = "reports",
                 validation_summary: dict[str, Any] | None = None,
                 run_links: dict[str, str] | None = None, tracking_ui_url: str | None = None,
                 *, statistics: Any = None, top_k_fraction: float | None = None,
                 n_heatmaps: int = 3) -> Path:
    """Write ``<out_dir>/index.html`` (self-contained) and ``<out_dir>/figures/*.png``.

    Parameters
    ----------
    compare_dir : output of the compare stage (tables + ``summary.json``); when it holds no
        summary, the comparison is computed here from the attribution and evaluation tables
        with ``statistics`` (:class:`ccattr.config.StatisticsParams`, defaults when None).
    attributions_dir, eval_dir : ``results/attributions`` and ``results/eval`` (for the
        figures: per-clause focus, word heat maps, generated rules).
    validation_summary : the corpus validation summary (counts, split sizes, expectations),
        shown as the corpus section when given.
    run_links : ``{run_id: experiment_id}`` (or ``{run_id: url}``) for linking runs.
    tracking_ui_url : base URL of the MLflow UI; without it run ids are shown unlinked.

    Returns the path of ``index.html``.
    """
    out = Path(out_dir)
    long_df, clause_df = stats.load_attributions(attributions_dir)
    eval_df = stats.load_eval(eval_dir)
    tables, summary = stats.load_comparison(compare_dir)
    if not summary:
        tables, summary = stats.run_comparison(long_df, clause_df, eval_df, statistics,
                                               top_k_fraction)
    alpha = summary.get("alpha", 0.05)
    labels = {s["scale"]: s["label"] for s in summary.get("scales", [])}
    linker = RunLinker(run_links, tracking_ui_url)

    def t(name: str) -> pd.DataFrame:
        df = tables.get(name)
        return df if df is not None else pd.DataFrame()

    # ---- figures
    pngs: dict[str, bytes | None] = {}
    pngs["focus_by_strategy"] = _maybe(fig_focus(clause_df, "entropy"))
    shares_means = t("category_shares")
    if shares_means.empty and not long_df.empty:
        shares_means = stats.category_shares(long_df, n_bootstrap=200).means
    pngs["category_share_vs_scale"] = _maybe(fig_category_shares(
        shares_means, confidence=1 - alpha))
    quality = QUALITY_LABELS.get(summary.get("quality_metric") or "similarity", "rule similarity")
    pngs["similarity_vs_scale"] = _maybe(fig_similarity(
        t("plateau_by_scale"), t("plateau"), t("plateau_gains"), summary.get("plateau_gain"),
        confidence=1 - alpha, label=quality))
    heat_scale, picks = pick_heatmap_clauses(long_df, n_heatmaps)
    heat_html = []
    for k, pick in enumerate(picks, start=1):
        cid = pick["clause_id"]
        strategies = stats._strategy_sort(
            long_df.loc[long_df["scale"] == heat_scale, "strategy"].unique())
        ent = {}
        if not clause_df.empty:
            c = clause_df[(clause_df["clause_id"] == cid) & (clause_df["scale"] == heat_scale)]
            ent = dict(zip(c["strategy"], pd.to_numeric(c["entropy"], errors="coerce"),
                           strict=True)) if "entropy" in c.columns else {}
        title = f"Clause {cid} at {labels.get(heat_scale, heat_scale)}"
        name = f"heatmap_{k}"
        pngs[name] = _maybe(fig_clause_heatmap(long_df, cid, heat_scale, strategies, title,
                                               ent))
        caption = (f"Word attributions for clause <code>{_esc(cid)}</code> at "
                   f"{_esc(labels.get(heat_scale, heat_scale))}, one block per strategy: "
                   f"{_esc(pick['why'] or 'example')} (mean pairwise JSD "
                   f"{pick['mean_jsd']:.3f}). Darker = larger share of the clause's attribution "
                   "(magnitude; the sign of the effect is not shown).")
        heat_html.append(_fig_html(name, pngs[name], caption) + _rules_html(eval_df, cid,
                                                                           heat_scale))

    with atomic_dir(out / "figures") as tmp:
        tmp.chmod(0o755)                  # mkdtemp makes 0700; the report is meant to be served
        for name, png in pngs.items():
            if png is not None:
                (tmp / f"{name}.png").write_bytes(png)

    # ---- HTML
    runs_col: Column = ("MLflow runs", lambda r: linker.cell(r.get("run_ids")))

    def lab(r: dict) -> str:
        return _esc(labels.get(str(r.get("scale")), stats.scale_label(str(r.get("scale")),
                                                                      r.get("n_params"))))

    def strat(key: str = "strategy") -> Callable[[dict], str]:
        return lambda r: _esc(stats.strategy_label(str(r.get(key))))

    sim_cols: list[Column] = [
        ("Strategy", strat()), ("Scale", lab), ("n", lambda r: _f(r.get("n"), ".0f")),
        ("Mean similarity [CI]", lambda r: _f(r.get("similarity")) + _ci(r)),
        ("Median", lambda r: _f(r.get("median")))]
    for c, h, fmt in (("exact_match", "Exact match", ".3f"), ("edit_distance", "Edit distance", ".3f"),
                      ("parses", "Parse rate", ".3f"), ("lrml_precision", "LRML P", ".1f"),
                      ("lrml_recall", "LRML R", ".1f"), ("lrml_f_score", "LRML F", ".1f"),
                      ("corpus_bleu", "BLEU", ".1f")):
        if c in t("similarity").columns:
            sim_cols.append((h, lambda r, c=c, fmt=fmt: _f(r.get(c), fmt)))
    sim_cols.append(runs_col)
    published = ""
    if "lrml_f_score" in t("similarity").columns:
        published = ("<h3>Published LRML F-scores on the NZBC data, for comparison</h3>"
                     + _table(pd.DataFrame(lrml_fscore.PUBLISHED), [
                         ("System", lambda r: _esc(r["system"])), ("Split", lambda r: _esc(r["split"])),
                         ("LRML F", lambda r: _esc(r["f"]))])
                     + "<p class='muted'>Fuchs et al. (T5 baselines: three runs each; GPT-4 with "
                       "retrieved examples). LRML F here is computed as their scorer computes it "
                       "(<code>ccattr.lrml_fscore</code>), on the rules as the corpus writes them; "
                       "their models were scored on a spaced form of the rules, so compare with "
                       "care. Comparable only on their data and split (profile "
                       "<code>profiles/nzbc-lrml.yaml</code>).</p>")

    plateau_cols: list[Column] = [
        ("Strategy", strat()), ("Scales", lambda r: _f(r.get("n_scales"), ".0f")),
        ("Pattern", lambda r: _txt(r.get("pattern"))),
        ("Plateau after", lambda r: _esc(labels.get(r.get("plateau_scale"), r.get(
            "plateau_scale"))) if isinstance(r.get("plateau_scale"), str) else "\u2013"),
        ("Confirmed (CI below threshold)", lambda r: "yes" if r.get("confirmed") in (
            True, "True") else "no"),
        ("Last step gain / doubling [CI]", lambda r: _f(r.get("last_gain"), "+.4f")
         + _ci(r, "last_ci_low", "last_ci_high", "+.4f")),
        ("Note", lambda r: _txt(r.get("note"))), runs_col]
    gains_cols: list[Column] = [
        ("Strategy", strat()),
        ("Step", lambda r: _esc(f"{labels.get(r.get('from_scale'), r.get('from_scale'))} "
                                f"\u2192 {labels.get(r.get('to_scale'), r.get('to_scale'))}")),
        ("Doublings", lambda r: _f(r.get("doublings"), ".2f")),
        ("Gain", lambda r: _f(r.get("gain"), "+.4f")),
        ("Gain / doubling [CI]", lambda r: _f(r.get("gain_per_doubling"), "+.4f")
         + _ci(r, fmt="+.4f")),
        ("Below threshold", lambda r: "yes" if r.get("below_threshold") in (True, "True")
         else "no"),
        ("CI covers 0", lambda r: "yes" if r.get("ci_covers_zero") in (True, "True") else "no"),
        ("Detectable gain at 80% power", lambda r: _f(r.get("mde"), ".4f"))]

    power_cols: list[Column] = [
        ("Detectable at 80% power", lambda r: ("\u2265 " + _f(r.get("mde"), ".3g")) if not _isnan(r.get("mde"))
         else "\u2013"),
        ("Verdict", lambda r: _txt(r.get("verdict")))]

    def medians(r: dict) -> str:
        names = _txt(r.get("strategies")).split(",")
        return ", ".join(f"{_esc(stats.strategy_label(s))} {_f(r.get(f'median_{s}'), '.3f')}"
                         for s in names if s)

    omni_cols: list[Column] = [
        ("Scale", lab), ("Metric", lambda r: _esc(stats.METRIC_LABELS.get(r.get("metric"),
                                                                          r.get("metric")))),
        ("Test", lambda r: _txt(r.get("test"))), ("n", lambda r: _f(r.get("n"), ".0f")),
        ("Statistic", lambda r: _f(r.get("statistic"), ".2f")),
        ("p", lambda r: _p(r.get("p"), alpha)),
        ("Effect [CI]", lambda r: f"{_txt(r.get('effect_name'))} "
         f"{_f(r.get('effect_size'))}{_ci(r)}"),
        ("Medians", medians), *power_cols, ("Note", lambda r: _txt(r.get("note"))), runs_col]
    pair_cols: list[Column] = [
        ("Scale", lab), ("Metric", lambda r: _esc(stats.METRIC_LABELS.get(r.get("metric"),
                                                                          r.get("metric")))),
        ("A vs B", lambda r: _esc(f"{stats.strategy_label(str(r.get('a')))} vs "
                                  f"{stats.strategy_label(str(r.get('b')))}")),
        ("n", lambda r: _f(r.get("n"), ".0f")),
        ("Median A", lambda r: _f(r.get("median_a"))), ("Median B", lambda r: _f(r.get(
            "median_b"))),
        ("Wilcoxon W", lambda r: _f(r.get("statistic"), ".1f")),
        ("p", lambda r: _p(r.get("p"), alpha)), ("p (Holm)", lambda r: _p(r.get("p_holm"),
                                                                          alpha)),
        ("r (A \u2212 B) [CI]", lambda r: _f(r.get("r"), "+.2f") + _ci(r, fmt="+.2f")),
        *power_cols, ("Note", lambda r: _txt(r.get("note"))), runs_col]
    div_cols: list[Column] = [
        ("Scale", lab),
        ("A vs B", lambda r: _esc(f"{stats.strategy_label(str(r.get('a')))} vs "
                                  f"{stats.strategy_label(str(r.get('b')))}")),
        ("n", lambda r: _f(r.get("n"), ".0f")),
        ("Mean per-clause JSD [CI]", lambda r: _f(r.get("mean_jsd")) + _ci(r)),
        ("Category-profile JSD", lambda r: _f(r.get("category_jsd"), ".4f")),
        ("p (permutation)", lambda r: _p(r.get("p"), alpha)),
        ("p (Holm)", lambda r: _p(r.get("p_holm"), alpha)),
        *power_cols, ("Note", lambda r: _txt(r.get("note"))), runs_col]

    def shares_by_scale(r: dict) -> str:
        sc = ("" if _isnan(r.get("scales")) else str(r.get("scales"))).split(",")
        sh = ("" if _isnan(r.get("mean_share")) else str(r.get("mean_share"))).split(",")
        return "<br>".join(f"{_esc(labels.get(a, a))}: {float(b) * 100:.1f}%"
                           for a, b in zip(sc, sh, strict=False) if a and b)

    trend_cols: list[Column] = [
        ("Strategy", strat()),
        ("Category", lambda r: _esc(stats.CATEGORY_LABELS.get(r.get("category"),
                                                               r.get("category")))),
        ("Holm family", lambda r: _txt(r.get("family"))),
        ("Model family", lambda r: _txt(r.get("model_family")) + (" (across families: size and family confounded)"
                                                             if r.get("cross_family") in (True, "True") else "")),
        ("n", lambda r: _f(r.get("n"), ".0f")), ("Mean share by scale", shares_by_scale),
        ("Spearman rho [CI]", lambda r: _f(r.get("rho"), "+.2f") + _ci(r, fmt="+.2f")),
        ("p (Spearman)", lambda r: _p(r.get("p_spearman"), alpha)),
        ("Page L", lambda r: _f(r.get("page_L"), ".0f")),
        ("p (Page, rising)", lambda r: _p(r.get("p_page_increasing"), alpha)),
        ("p (Page, two-sided)", lambda r: _p(r.get("p_page"), alpha)),
        ("p (Holm)", lambda r: _p(r.get("p_holm"), alpha)),
        *power_cols, ("Note", lambda r: _txt(r.get("note"))), runs_col]
    share_cols: list[Column] = [
        ("Strategy", strat()), ("Scale", lab),
        ("Category", lambda r: _esc(stats.CATEGORY_LABELS.get(r.get("category"),
                                                               r.get("category")))),
        ("n (clauses with it)", lambda r: _f(r.get("n"), ".0f")),
        ("Mean share [CI]", lambda r: _f(r.get("mean")) + _ci(r)),
        ("Uniform baseline", lambda r: _f(r.get("unit_fraction"))),
        ("Mean over all clauses", lambda r: _f(r.get("mean_all"))), runs_col]

    sentences = stats.findings(summary)
    claims = "".join(f"<li class='claim'>{_esc(s)}</li>" for s in sentences
                     if s.startswith("Claim"))
    details = "".join(f"<li>{_esc(s)}</li>" for s in sentences if not s.startswith("Claim"))
    items = claims + (f"</ul><h3>Details</h3><ul class='findings'>{details}" if details else "")
    pair_df = t("pairwise")
    pair_entropy = pair_df[pair_df["metric"] == "entropy"] if "metric" in pair_df else pair_df
    pair_other = pair_df[pair_df["metric"] != "entropy"] if "metric" in pair_df else pd.DataFrame()
    trends_df = t("trends")
    trend_key = trends_df[trends_df["family"] == "claim2"] if "family" in trends_df else trends_df
    trend_rest = trends_df[trends_df["family"] != "claim2"] if "family" in trends_df else \
        pd.DataFrame()

    sections = [
        ("findings", "Findings", f"<ul class='findings'>{items}</ul><p class='muted'>Sentences "
         "are generated from the numbers below; \u201csignificant\u201d means below alpha = "
         f"{alpha} after Holm correction. Claim verdicts: <i>supported</i> (every test "
         "agrees), <i>partly supported</i>, <i>not supported</i> (no significant effect), "
         "<i>contradicted</i> (significant in the opposite direction), <i>inconclusive</i> (no "
         "significant effect, but the tests could not have detected a medium one: more clauses "
         "needed; <code>ccattr plan clauses</code> says how many).</p>"),
        ("corpus", "Corpus", _corpus_section(validation_summary)),
        ("similarity", "Rule quality and the plateau (claim 3)",
         _fig_html("similarity_vs_scale", pngs["similarity_vs_scale"],
                   (f"Left: mean {_esc(quality)} between generated and reference rules per "
                    "strategy and scale (<code>statistics.quality_metric</code>); the star marks "
                    "where a plateau starts. Right: gain per doubling of parameters between "
                    "consecutive scales; the dashed line is the plateau threshold."
                    if len(summary.get("scales") or []) > 1 else
                    f"Mean {_esc(quality)} between generated and reference rules per strategy "
                    "(<code>statistics.quality_metric</code>); one scale, so no gains or plateau."))
         + f"<h3>Rule quality per strategy and scale</h3><p class='muted'>Rules in the "
         f"<b>{_esc(summary.get('notation') or 'ccattr')}</b> notation; similarity, exact match, "
         "edit distance and parse rate are means over clauses; LRML P/R/F and BLEU are "
         "corpus-level, &times; 100, as published.</p>"
         + _table(t("similarity"), sim_cols) + published
         + "<h3>Plateau per strategy</h3>" + _table(t("plateau"), plateau_cols)
         + _details("Gain per doubling, step by step", _table(t("plateau_gains"), gains_cols))),
        ("focus", "Attribution focus by strategy (claim 1)",
         _fig_html("focus_by_strategy", pngs["focus_by_strategy"],
                   "Normalized entropy of each clause's attribution (one point per clause) per "
                   "strategy, one panel per scale; lower = attribution concentrated on fewer "
                   "words.")
         + "<h3>Omnibus tests across strategies</h3>" + _table(t("strategy_tests"), omni_cols)
         + "<h3>Pairwise tests (entropy)</h3>" + _table(pair_entropy, pair_cols)
         + _details("Pairwise tests for the Gini coefficient and top-k share",
                    _table(pair_other, pair_cols))
         + "<h3>Do the strategies attend to different words?</h3>"
         + _table(t("divergence"), div_cols)),
        ("scale", "What the models attend to as they grow (claim 2)",
         _fig_html("category_share_vs_scale", pngs["category_share_vs_scale"],
                   "Share of each clause's attribution on numbers, rule identifiers, units and "
                   "deontic words, per strategy and scale; the dashed line is the share a "
                   "model attributing uniformly would give (the fraction of such words).")
         + "<h3>Trend tests: numbers and rule identifiers</h3>" + _table(trend_key, trend_cols)
         + _details("Trend tests for the other categories (exploratory)",
                    _table(trend_rest, trend_cols))
         + _details("Category shares per strategy and scale", _table(shares_means,
                                                                     share_cols))),
        ("examples", "Example clauses: word heat maps",
         "".join(heat_html) or "<p class='muted'>No attributions to show.</p>"),
        ("methods", "How to read this report", _methods(summary)),
    ]
    body = "".join(f"<section id='{sid}'><h2>{_esc(title)}</h2>{content}</section>"
                   for sid, title, content in sections)
    nav = "".join(f"<a href='#{sid}'>{_esc(title.split(' (')[0])}</a>"
                  for sid, title, _ in sections)
    n_clauses = clause_df["clause_id"].nunique() if not clause_df.empty else 0
    n_eval = eval_df["clause_id"].nunique() if not eval_df.empty else 0
    setup = (f"strategies: {', '.join(stats.strategy_label(s) for s in summary.get('strategies', []))}"
             f" &middot; scales: {', '.join(_esc(s['label']) for s in summary.get('scales', []))}"
             f" &middot; {n_eval} evaluated clauses, {n_clauses} attributed clauses"
             f" &middot; rule notation: {_esc(summary.get('notation') or 'ccattr')}")
    page = _PAGE.substitute(generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
                            setup=setup, nav=nav, body=body)
    path = out / "index.html"
    atomic_write_text(path, page)
    return path


def _maybe(fig: plt.Figure | None) -> bytes | None:
    return None if fig is None else _png(fig)


def _rules_html(eval_df: pd.DataFrame, clause_id: str, scale: str | None) -> str:
    """The clause text, its reference rule and each strategy's generated rule (when evaluated)."""
    if eval_df.empty or "clause_id" not in eval_df.columns:
        return ""
    e = eval_df[(eval_df["clause_id"] == clause_id) & (eval_df["scale"] == scale)]
    if e.empty:
        return ""
    first = e.iloc[0]
    rows = []
    if "clause" in e.columns:
        rows.append(f"<tr><th>Clause</th><td class='rule'>{_esc(first['clause'])}</td></tr>")
    if "reference" in e.columns:
        rows.append(f"<tr><th>Reference rule</th><td class='rule'>{_esc(first['reference'])}"
                    "</td></tr>")
    if "prediction" in e.columns:
        for _, r in e.sort_values("strategy", key=lambda s: s.map(
                {k: i for i, k in enumerate(stats.STRATEGY_ORDER)})).iterrows():
            sim = f" <span class='muted'>(similarity {_f(r.get('similarity'), '.2f')})</span>"
            rows.append(f"<tr><th>{_esc(stats.strategy_label(r['strategy']))}</th>"
                        f"<td class='rule'>{_esc(r['prediction'])}{sim}</td></tr>")
    return _details("Clause text and generated rules",
                    f"<table class='kv'>{''.join(rows)}</table>") if rows else ""


__all__ = ["RunLinker", "build_report", "fig_category_shares", "fig_clause_heatmap",
           "fig_focus", "fig_similarity", "pick_heatmap_clauses"]
