"""What the template renders: the published comparison turned into sections, tables (cells as
data), figures and example clauses. Everything here is read from the compare stage's output or
drawn from the attribute stage's tables; nothing is recomputed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pandas as pd

from ccattr import lrml_fscore
from ccattr.metrics import QUALITY_LABELS
from ccattr.report import figures as figs
from ccattr.report.columns import PUBLISHED_LRML, Columns, table
from ccattr.report.examples import examples_context
from ccattr.report.figures import Figures
from ccattr.report.inputs import Attributions, Published
from ccattr.report.links import RunIndex, RunLinker
from ccattr.stats.labels import method_label, strategy_label

SECTIONS = [("findings", "Findings"), ("corpus", "Corpus"),
            ("similarity", "Rule quality and the plateau (claim 3)"),
            ("focus", "Attribution focus by strategy (claim 1)"),
            ("scale", "What the models attend to as they grow (claim 2)"),
            ("examples", "Example clauses: word heat maps and rule maps"),
            ("method_check", "Cheaper estimators vs exact"),
            ("methods", "How to read this report")]
#: The section that tests each claim (the verdict chips link there).
CLAIM_SECTIONS = {"1": "focus", "2": "scale", "3": "similarity"}


# --------------------------------------------------------------------------- findings


def claims_context(summary: dict[str, Any]) -> tuple[list[dict[str, str]], list[str]]:
    """``(claims, details)``: each claim's verdict (``summary["claims"]``) with its sentence
    from ``summary["findings"]``, then the other sentences in their order."""
    sentences = list(summary["findings"])
    claims = []
    for number, verdict in sorted((summary["claims"] or {}).items()):
        sentence = next((s for s in sentences if s.startswith(f"Claim {number} ")), "")
        claims.append({"number": number, "verdict": verdict.get("verdict", "?"),
                       "section": CLAIM_SECTIONS.get(number, "findings"),
                       "sentence": sentence or verdict.get("reason", "")})
    shown = {c["sentence"] for c in claims}
    return claims, [s for s in sentences if s not in shown]


# --------------------------------------------------------------------------- corpus


def _value(v: Any) -> dict[str, Any]:
    """A validation summary value as a tree the template's ``value`` macro renders: ``flag``,
    ``kv`` (name -> value), ``table`` (a list of records) or ``text``."""
    if isinstance(v, bool):
        return {"kind": "flag", "ok": v}
    if isinstance(v, dict):
        if v and all(isinstance(x, dict) for x in v.values()):       # name -> record
            return _value([{"name": k, **x} for k, x in v.items()])
        return {"kind": "kv", "rows": [(str(k), _value(x)) for k, x in v.items()]}
    if isinstance(v, (list, tuple)):
        if v and all(isinstance(x, dict) for x in v):
            keys = list(dict.fromkeys(k for x in v for k in x))
            return {"kind": "table", "head": keys, "rows": [[_value(x.get(k)) for k in keys] for x in v]}
        return {"kind": "text", "text": ", ".join(str(x) for x in v)}
    if isinstance(v, float):
        return {"kind": "text", "text": format(v, ".4g")}
    return {"kind": "text", "text": "" if v is None else str(v)}


def _expectations(v: dict[str, Any]) -> list[dict[str, Any]]:
    """The ``expectations`` of a validation summary (a name -> record mapping or a list of
    records) as records with a boolean ``success``."""
    exp = v.get("expectations")
    if isinstance(exp, dict):
        exp = [{"name": k, **x} if isinstance(x, dict) else {"name": k, "success": x}
               for k, x in exp.items()]
    out = []
    for x in exp if isinstance(exp, list) else []:
        flag = next((x[k] for k in ("success", "passed", "ok") if isinstance(x.get(k), bool)), None) \
            if isinstance(x, dict) else None
        if flag is not None:
            out.append({**x, "success": flag})
    return out


def corpus_context(summary: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The corpus section as blocks: ``status`` lines, titled ``block`` values, ``details``."""
    if not summary:
        return []
    blocks: list[dict[str, Any]] = []
    if isinstance(summary.get("success"), bool):
        ok = summary["success"]
        blocks.append({"kind": "status", "ok": ok,
                       "text": f"Corpus validation {'passed' if ok else 'FAILED'}."})
    records = _expectations(summary)
    if records:
        failed = [r for r in records if not r["success"]]
        blocks.append({"kind": "status", "ok": not failed, "text": f"Data expectations: "
                       f"{len(records) - len(failed)} passed, {len(failed)} failed."})
        if failed:
            blocks.append({"kind": "block", "title": "Failed expectations", "value": _value(failed)})
    rest = {k: v for k, v in summary.items() if k != "expectations"}
    scalars = {k: v for k, v in rest.items() if not isinstance(v, (dict, list, tuple))}
    if scalars:
        blocks.append({"kind": "block", "title": "Counts and split", "value": _value(scalars)})
    for k, v in rest.items():      # empty ones (no unknown names, say) say nothing
        if isinstance(v, (dict, list, tuple)) and v:
            blocks.append({"kind": "block", "title": str(k), "value": _value(v)})
    if "expectations" in summary:
        title = f"All {len(records)} expectations" if records else "All expectations"
        blocks.append({"kind": "details", "title": title, "value": _value(summary["expectations"])})
    return blocks


# --------------------------------------------------------------------------- cheaper estimators


#: Verdict tables longer than this are folded (a row per test, method and scale adds up).
FOLD_ROWS = 12


def method_check_context(mc: dict[str, Any] | None) -> dict[str, Any]:
    """The check's settings as ``summary.json`` records them (``method_check``): the methods in
    words with their budget, the clauses per model; no methods: the section says so."""
    mc = mc or {}
    return {"methods": [method_label(m, mc.get("n_samples")) for m in mc.get("methods") or []],
            "clauses": mc.get("clauses"), "fold_rows": FOLD_ROWS}


# --------------------------------------------------------------------------- the page


def _split(df: pd.DataFrame, column: str, value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows where ``column == value`` and the rest (all rows and none without the column)."""
    if column not in df.columns:
        return df, df.iloc[0:0]
    mask = df[column] == value
    return df[mask], df[~mask]


def report_context(published: Published, attributions: Attributions, predictions: pd.DataFrame,
                   figures: Figures, validation_summary: dict[str, Any] | None,
                   linker: RunLinker) -> dict[str, Any]:
    """Everything the template renders; draws the figures into ``figures``."""
    summary, t, alpha = published.summary, published.tables, published.alpha
    cols = Columns(alpha, published.scale_labels, RunIndex(t["runs"], linker))
    quality = QUALITY_LABELS.get(summary.get("quality_metric") or "similarity", "rule similarity")
    confidence = 1 - alpha

    drawn = {
        "similarity_vs_scale": figures.add("similarity_vs_scale", figs.fig_similarity(
            t["plateau_by_scale"], t["plateau"], t["plateau_gains"], summary.get("plateau_gain"),
            confidence=confidence, label=quality), f"{quality} vs scale"),
        "focus_by_strategy": figures.add("focus_by_strategy", figs.fig_focus(
            attributions.clauses, "entropy"), "attribution entropy by strategy"),
        "category_share_vs_scale": figures.add("category_share_vs_scale", figs.fig_category_shares(
            t["category_shares"], confidence=confidence), "share of attribution per category vs scale"),
        "fidelity_vs_scale": figures.add("fidelity_vs_scale", figs.fig_fidelity(
            t["fidelity"], confidence=confidence), "number and identifier fidelity vs scale"),
        "method_agreement": figures.add("method_agreement", figs.fig_method_agreement(
            t["method_agreement"], confidence=confidence), "cheaper estimators' agreement with exact vs scale"),
    }
    pair_entropy, pair_other = _split(t["pairwise"], "metric", "entropy")
    trends_key, trends_rest = _split(t["trends"], "family", "claim2")
    sim = t["similarity"]
    tables = {
        "similarity": table(sim, cols.similarity(sim)),
        "published": table(pd.DataFrame(lrml_fscore.PUBLISHED), PUBLISHED_LRML)
        if "lrml_f_score" in sim.columns else None,
        "plateau": table(t["plateau"], cols.plateau()),
        "plateau_gains": table(t["plateau_gains"], cols.plateau_gains()),
        "strategy_tests": table(t["strategy_tests"], cols.strategy_tests()),
        "pairwise_entropy": table(pair_entropy, cols.pairwise()),
        "pairwise_other": table(pair_other, cols.pairwise()),
        "divergence": table(t["divergence"], cols.divergence()),
        "trends_key": table(trends_key, cols.trends()),
        "trends_rest": table(trends_rest, cols.trends()),
        "category_shares": table(t["category_shares"], cols.category_shares()),
        "fidelity": table(t["fidelity"], cols.fidelity()),
        "fidelity_tests": table(t["fidelity_tests"], cols.strategy_tests()),
        "fidelity_pairwise": table(t["fidelity_pairwise"], cols.pairwise()),
        "fidelity_trends": table(t["fidelity_trends"], cols.trends("Mean fidelity by scale",
                                                                   fidelity=True)),
        "method_agreement": table(t["method_agreement"], cols.method_agreement(summary.get("top_k_fraction"))),
        "method_verdicts": table(t["method_verdicts"], cols.method_verdicts()),
    }
    claims, details = claims_context(summary)
    clauses = attributions.clauses
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "setup": {"strategies": [strategy_label(s) for s in summary.get("strategies") or []],
                  "scales": [s["label"] for s in summary.get("scales") or []],
                  "n_eval": predictions["clause_id"].nunique() if len(predictions) else 0,
                  "n_attributed": clauses["clause_id"].nunique() if len(clauses) else 0,
                  "notation": summary.get("notation") or "ccattr"},
        "sections": SECTIONS, "alpha": alpha, "quality": quality,
        "summary": {k: summary.get(k) for k in ("plateau_gain", "n_bootstrap", "n_permutations")},
        "single_scale": len(summary.get("scales") or []) <= 1,
        "claims": claims, "details": details,
        "corpus": corpus_context(validation_summary),
        "method_check": method_check_context(summary["method_check"]),
        "figures": drawn, "tables": tables,
        "examples": examples_context(t["examples"], attributions, predictions, figures,
                                     published.scale_labels, summary.get("notation")),
    }
