"""The claims' verdicts and the plain sentences of the findings, from the typed results of a
:class:`~ccattr.stats.comparison.Comparison`. :func:`ccattr.stats.run_comparison` publishes both in
``summary.json`` (``claims``, ``findings``); readers take them from there (:func:`findings`)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ccattr import power
from ccattr.fidelity import KINDS
from ccattr.metrics import QUALITY_LABELS
from ccattr.stats.labels import (
    CATEGORY_LABELS,
    CLAIM2_CATEGORIES,
    METRIC_DIRECTION,
    METRIC_LABELS,
    METRIC_SHORT,
    format_p,
    method_label,
    strategy_label,
)

if TYPE_CHECKING:
    from ccattr.stats.comparison import Comparison
    from ccattr.stats.focus import Divergence, PairTest, StrategyComparison
    from ccattr.stats.plateau import StrategyPlateau
    from ccattr.stats.scale import ScaleTrend

R_MEDIUM, RHO_MEDIUM = power.MEDIUM["rank-biserial r"], power.MEDIUM["Spearman rho"]


def _isnan(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def _z(v: float) -> float:
    """An undefined effect counts as none (neither direction)."""
    return 0.0 if _isnan(v) else v


def _num(v: float | None, fmt: str = ".2f") -> str:
    return "n/a" if _isnan(v) else format(v, fmt)


def _sig(p: float | None, alpha: float) -> bool:
    return not _isnan(p) and p < alpha


def _p_eq(p: float | None) -> str:
    s = format_p(p)
    return s if s.startswith("<") or s == "n/a" else f"= {s}"


def _power_range(mdes: list[float], ns: list[int]) -> dict[str, Any]:
    """The detectable effects and clause counts behind a claim's tests, for its sentence."""
    ok = [float(m) for m in mdes if not _isnan(m)]
    return {"mde_min": min(ok) if ok else None, "mde_max": max(ok) if ok else None,
            "n_min": min(ns) if ns else None, "n_max": max(ns) if ns else None}


# --------------------------------------------------------------------------- verdicts


def _claim1(c: Comparison) -> dict[str, Any]:
    """FFT more focused (entropy) AND a different pattern, vs LoRA / QLoRA."""
    others = [s for s in ("lora", "qlora") if s in c.strategies]
    comps = []
    for test in c.strategy_tests:
        for p in test.pairs if test.metric == "entropy" else ():
            pair = {p.a, p.b}
            if "fft" not in pair or not (pair - {"fft"}) <= set(others):
                continue
            # r is the rank-biserial of a - b in entropy; FFT lower entropy = more focused
            r_fft = _z(p.result.effect) * (1 if p.a == "fft" else -1)
            div = next((d for d in c.divergences if d.scale == test.scale
                        and {d.strategy_a, d.strategy_b} == pair), None)
            sig = _sig(p.p_holm, c.alpha)
            comps.append({"scale": test.scale, "label": c.labels.get(test.scale, test.scale),
                          "other": (pair - {"fft"}).pop(), "tested": not _isnan(p.p_holm),
                          "n": p.result.n, "more_focused": sig and r_fft < 0,
                          "less_focused": sig and r_fft > 0,
                          "different": div is not None and _sig(div.p_holm, c.alpha),
                          "focus_verdict": p.verdict, "focus_mde": p.mde,
                          "divergence_verdict": div.verdict if div is not None else None})
    tested = [x for x in comps if x["tested"]]
    if "fft" not in c.strategies or not others:
        return {"verdict": "not assessable", "reason": "needs FFT and LoRA or QLoRA"}
    if not tested:
        return {"verdict": "not assessable", "reason": "no FFT vs LoRA/QLoRA comparison could be tested"}
    n_focus = sum(x["more_focused"] for x in tested)
    n_less = sum(x["less_focused"] for x in tested)
    n_diff = sum(x["different"] for x in tested)
    both = sum(x["more_focused"] and x["different"] for x in tested)
    powered_null = any(x["focus_verdict"] == "no effect" or x["divergence_verdict"] == "no effect"
                       for x in tested)
    verdict = ("supported" if both == len(tested) else
               "partly supported" if n_focus or n_diff else
               "contradicted" if n_less else "not supported" if powered_null else "inconclusive")
    return {"verdict": verdict, "n_comparisons": len(tested),
            **_power_range([x["focus_mde"] for x in tested], [x["n"] for x in tested]),
            "n_scales": len({x["scale"] for x in tested}), "more_focused": n_focus,
            "less_focused": n_less, "different": n_diff, "both": both, "comparisons": comps}


def _claim2(c: Comparison) -> dict[str, Any]:
    """Numbers and rule identifiers rise with scale."""
    testable = [t for t in c.trends if t.category in CLAIM2_CATEGORIES and not _isnan(t.p_holm)]
    if not testable:
        return {"verdict": "not assessable",
                "reason": "Page's trend test needs >= 3 scales and >= 2 clauses"}
    rising = [t for t in testable if _sig(t.p_holm, c.alpha) and _z(t.spearman.statistic) > 0]
    falling = [t for t in testable if _sig(t.p_holm, c.alpha) and _z(t.spearman.statistic) < 0]
    verdict = ("supported" if len(rising) == len(testable) else
               "partly supported" if rising else
               "contradicted" if falling else
               "not supported" if any(t.verdict == "no effect" for t in testable) else "inconclusive")
    return {"verdict": verdict, "n_tests": len(testable),
            **_power_range([t.mde for t in testable], [t.n for t in testable]),
            "rising": [f"{t.strategy}:{t.category}" for t in rising],
            "falling": [f"{t.strategy}:{t.category}" for t in falling]}


def _claim3(c: Comparison) -> dict[str, Any]:
    """Quality gains plateau."""
    pl = [p for p in (c.plateau.strategies if c.plateau else ()) if p.n_scales >= 3]
    if not pl:
        return {"verdict": "not assessable", "reason": "needs >= 3 scales"}
    found = [p for p in pl if p.pattern == "plateau"]
    confirmed = [p for p in found if p.confirmed]
    # a plateau that the CIs cannot confirm (gains of plateau_gain per doubling not ruled
    # out) says as much about the sample size as about the models
    verdict = ("supported" if len(confirmed) == len(pl) else
               "partly supported" if confirmed else
               "inconclusive" if found or any(p.pattern == "flat" for p in pl) else "not supported")
    return {"verdict": verdict, "n_strategies": len(pl),
            "plateau": {p.strategy: p.plateau_scale for p in found},
            "confirmed": [p.strategy for p in confirmed],
            "flat": [p.strategy for p in pl if p.pattern == "flat"]}


def claims(c: Comparison) -> dict[str, Any]:
    """Verdict per claim (keys "1", "2", "3"): supported, partly supported, contradicted, not
    supported (no effect, and a medium one would have been seen), inconclusive or not assessable."""
    return {"1": _claim1(c), "2": _claim2(c), "3": _claim3(c)}


# --------------------------------------------------------------------------- sentences


def _claim_power(cl: dict[str, Any], unit: str, medium: float) -> str:
    """What the claim's tests could have detected: the difference between "inconclusive" and
    "not supported"."""
    lo, hi = cl.get("mde_min"), cl.get("mde_max")
    if lo is None:
        return " Its tests cannot detect any effect at these sample sizes: inconclusive." \
            if cl.get("verdict") == "inconclusive" else ""
    n = cl["n_min"] if cl["n_min"] == cl["n_max"] else f"{cl['n_min']}-{cl['n_max']}"
    span = f"{lo:.2f}" if abs(hi - lo) < 0.005 else f"{lo:.2f}-{hi:.2f}"
    if cl.get("verdict") == "inconclusive":
        return (f" With n = {n} clauses these tests detect only {unit} \u2265 {span} with 80% power "
                f"(medium: {medium}): no significant effect, but not evidence of none.")
    return f" At n = {n} clauses these tests detect {unit} \u2265 {span} with 80% power (medium: {medium})."


def _power_text(mde: float, verdict: str, n: int, unit: str) -> str:
    """``; inconclusive: with n = 6 this test detects only r >= 0.99`` and the like."""
    if verdict == "inconclusive":
        detect = "no effect at all" if _isnan(mde) else f"only {unit} \u2265 {mde:.3g}"
        return f"; inconclusive: with n = {n} this test detects {detect} with 80% power"
    if verdict == "no effect" and not _isnan(mde):
        return f"; it would have detected {unit} \u2265 {mde:.3g} with 80% power"
    return ""


def _claim_sentences(c: Comparison, cl: dict[str, Any]) -> list[str]:
    out = []
    c1, c2, c3 = cl["1"], cl["2"], cl["3"]
    claim1 = "Claim 1 (FFT attributions differ from and are more focused than LoRA/QLoRA)"
    if c1["verdict"] == "not assessable":
        out.append(f"{claim1} cannot be assessed: {c1['reason']}.")
    else:
        n, scales = c1["n_comparisons"], c1["n_scales"]
        out.append(f"{claim1}: {c1['verdict']}. FFT attributions were significantly more concentrated "
                   f"(lower entropy) in {c1['more_focused']} of {n} FFT-vs-LoRA/QLoRA comparisons "
                   f"over {scales} scale{'s' if scales != 1 else ''}"
                   + (f", significantly less concentrated in {c1['less_focused']}"
                      if c1["less_focused"] else "")
                   + f", and distributed attribution differently across word categories in "
                   f"{c1['different']} of {n}." + _claim_power(c1, "|r|", R_MEDIUM))
    claim2 = "Claim 2 (more weight on numbers and rule identifiers as scale grows)"
    if c2["verdict"] == "not assessable":
        out.append(f"{claim2} cannot be assessed: {c2['reason']}.")
    else:
        def _fmt(items: list[str]) -> str:
            return ", ".join(f"{strategy_label(s)} {CATEGORY_LABELS.get(cat, cat)}"
                             for s, cat in (i.split(":") for i in items)) or "none"
        out.append(f"{claim2}: {c2['verdict']} - significant rises in {len(c2['rising'])} of "
                   f"{c2['n_tests']} strategy x category tests ({_fmt(c2['rising'])})"
                   + (f"; significant falls: {_fmt(c2['falling'])}." if c2["falling"] else ".")
                   + _claim_power(c2, "a within-clause Spearman rho", RHO_MEDIUM))
    quality = QUALITY_LABELS.get(c.quality_metric or "similarity", "rule similarity")
    claim3 = f"Claim 3 ({quality} gains plateau beyond some scale)"
    if c3["verdict"] == "not assessable":
        out.append(f"{claim3} cannot be assessed: {c3['reason']}.")
    else:
        pl = ", ".join(f"{strategy_label(s)} after {c.labels.get(v, v)}"
                       for s, v in c3["plateau"].items()) or "none"
        flat = ", ".join(strategy_label(s) for s in c3["flat"])
        out.append(f"{claim3}: {c3['verdict']} - gains then a plateau for {len(c3['plateau'])} of "
                   f"{c3['n_strategies']} strategies ({pl}; confirmed by the stricter CI check for "
                   f"{len(c3['confirmed'])})"
                   + (f"; no detectable gain at any step for {flat}." if flat else ".")
                   + (" Unconfirmed plateaus leave gains of the threshold size possible: more test "
                      "clauses would tell." if c3["verdict"] == "inconclusive" else ""))
    return out


def _omnibus_sentence(t: StrategyComparison, where: str, alpha: float) -> str:
    o = t.omnibus
    names = ", ".join(strategy_label(s) for s in t.strategies)
    if _isnan(o.pvalue):
        return f"At {where}, attribution entropy could not be tested across {names} ({o.note or 'no test'})."
    stats_txt = (f"Friedman χ² = {_num(o.statistic, '.1f')}, p {_p_eq(o.pvalue)}, "
                 f"Kendall's W = {_num(o.effect)}, n = {o.n} clauses")
    if _sig(o.pvalue, alpha):
        return f"At {where}, attribution entropy differs across {names} ({stats_txt})."
    return f"At {where}, no significant difference in attribution entropy across {names} ({stats_txt})."


def _focus_sentence(t: StrategyComparison, p: PairTest, c: Comparison, where: str) -> str:
    r = p.result
    a, b = strategy_label(p.a), strategy_label(p.b)
    short = METRIC_SHORT.get(t.metric, t.metric)
    if _isnan(r.pvalue):
        return (f"At {where}, {a} and {b} could not be compared on attribution {short} "
                f"({r.note or 'no test'}; n = {r.n}).")
    stats_txt = (f"Wilcoxon p {_p_eq(p.p_holm)} Holm-adjusted, r = {_num(abs(r.effect))}, "
                 f"n = {r.n} clauses")
    if _sig(p.p_holm, c.alpha) and _z(r.effect):
        metric = METRIC_LABELS.get(t.metric, t.metric)
        if t.metric == "top_k_share" and c.top_k_fraction:
            metric = f"top-{c.top_k_fraction * 100:.0f}% share"
        sign = METRIC_DIRECTION.get(t.metric, 1) * (1 if r.effect > 0 else -1)
        (more, m_more), (less, m_less) = ((a, p.median_a), (b, p.median_b))[::1 if sign > 0 else -1]
        return (f"At {where}, {more} attributions are more concentrated than {less} "
                f"(median {metric} {_num(m_more)} vs {_num(m_less)}, {stats_txt}).")
    return (f"At {where}, no significant difference in attribution {short} between {a} and "
            f"{b} (median {_num(p.median_a)} vs {_num(p.median_b)}, {stats_txt}"
            f"{_power_text(p.mde, p.verdict, r.n, '|r|')}).")


def _divergence_sentence(d: Divergence, where: str, alpha: float) -> str:
    r = d.result
    a, b = strategy_label(d.strategy_a), strategy_label(d.strategy_b)
    jsd = (f"mean per-clause JSD {_num(r.effect, '.3f')} "
           f"[{_num(r.ci_low, '.3f')}, {_num(r.ci_high, '.3f')}], n = {r.n} clauses")
    if _isnan(r.pvalue):
        return (f"At {where}, the attribution patterns of {a} and {b} could not be "
                f"tested ({r.note or 'no test'}; {jsd}).")
    test = (f"category-profile JSD {_num(r.statistic, '.3f')}, permutation p {_p_eq(d.p_holm)} "
            f"Holm-adjusted; {jsd}")
    if _sig(d.p_holm, alpha):
        return f"At {where}, {a} and {b} distribute attribution differently across word categories ({test})."
    return (f"At {where}, no significant difference in how {a} and {b} distribute attribution "
            f"across word categories ({test}"
            f"{_power_text(d.mde, d.verdict, r.n, 'a category-profile JSD')}).")


def _trend_sentence(t: ScaleTrend, any_cross: bool, alpha: float) -> str:
    who = strategy_label(t.strategy)
    what = CATEGORY_LABELS.get(t.category, t.category)
    if t.cross_family:
        who += f" across model families ({t.model_family.replace('+', ', ')}: size and family confounded)"
    elif "+" not in (t.model_family or "+") and any_cross:
        who += f" within the {t.model_family} family"
    rho = t.spearman
    if _isnan(t.p_holm) and _isnan(rho.statistic):
        return (f"For {who}, the trend of the share of attribution on {what} could not be "
                f"tested ({t.note or 'no test'}).")
    shares = " → ".join(f"{v * 100:.0f}%" for v in t.mean_share)
    detail = (f"Spearman ρ = {_num(rho.statistic)} [{_num(rho.ci_low)}, {_num(rho.ci_high)}], "
              f"Page's test p {_p_eq(t.p_holm)} Holm-adjusted, n = {t.n} clauses, "
              f"{len(t.scales)} scales: {shares}")
    if _isnan(t.p_holm):
        return f"For {who}, the share of attribution on {what} was not trend-tested ({t.note}; {detail})."
    if _sig(t.p_holm, alpha):
        direction = "rises" if _z(rho.statistic) > 0 else "falls"
        return f"For {who}, the share of attribution on {what} {direction} with scale ({detail})."
    return (f"For {who}, no significant trend with scale in the share of attribution on {what} "
            f"({detail}{_power_text(t.mde, t.verdict, t.n, 'a within-clause Spearman rho')}).")


def _plateau_sentence(p: StrategyPlateau, c: Comparison, quality: str) -> str:
    who, labels, thr = strategy_label(p.strategy), c.labels, c.plateau_gain
    if p.n_scales < 2 or p.last is None:
        return f"{who}: {quality} was measured at one scale only; no plateau test."
    s = p.last
    last = (f"last step {labels.get(s.from_scale, s.from_scale)} → "
            f"{labels.get(s.to_scale, s.to_scale)}: {_num(s.result.effect, '+.3f')} "
            f"[{_num(s.result.ci_low, '+.3f')}, {_num(s.result.ci_high, '+.3f')}] per doubling")
    at = labels.get(p.plateau_scale, p.plateau_scale)
    if p.pattern == "flat":
        return (f"{who} {quality} shows no detectable gain from {at} on: every gain per doubling "
                f"is below {thr} with a CI covering zero ({last}).")
    if p.plateau_scale:
        conf = ("confirmed: every later CI lies below the threshold" if p.confirmed else
                f"not confirmed: gains of {thr} per doubling are not ruled out")
        return (f"{who} {quality} plateaus after {at}: every later gain per doubling is below "
                f"{thr} with a CI covering zero ({last}; {conf}).")
    return f"{who} {quality} shows no plateau up to {labels.get(s.to_scale, s.to_scale)} ({last})."


def _fidelity_sentences(c: Comparison) -> list[str]:
    """Per item kind: the rates by strategy and scale, then what the tests found."""
    f = c.fidelity
    if f is None or f.rates.empty:
        return []
    out = []
    for kind, metric in KINDS.items():
        rates = f.rates[f.rates["kind"] == kind]
        if rates.empty:
            continue
        by = "; ".join(f"{strategy_label(s)} " + " → ".join(f"{v * 100:.0f}%" for v in g["rate"])
                       + f" ({int(g['n_items'].sum())} items)"
                       for s, g in rates.groupby("strategy", sort=False))
        scales = " → ".join(c.labels.get(s, s) for s in dict.fromkeys(rates["scale"]))
        text = (f"{kind.capitalize()} fidelity (of the {kind}s a rule writes that its clause states, the "
                f"share whose most-attributed clause word states them), over {scales}: {by}.")
        tests = [t for t in f.strategy_tests if t.metric == metric]
        diff = [f"at {c.labels.get(t.scale, t.scale)} ({t.omnibus.test} p {_p_eq(t.omnibus.pvalue)}, "
                f"n = {t.n} clauses)" for t in tests if t.significant]
        trends = [t for t in f.trends if t.category == kind]
        moved = [f"{strategy_label(t.strategy)} {'rises' if _z(t.spearman.statistic) > 0 else 'falls'} "
                 f"(Page p {_p_eq(t.p_holm)} Holm-adjusted, n = {t.n})" for t in trends if _sig(t.p_holm, c.alpha)]
        ns = sorted({t.n for t in tests})
        span = f"{ns[0]}" if len(ns) == 1 else f"{ns[0]}-{ns[-1]}"
        text += (" Strategies differ " + ", ".join(diff) + "." if diff else
                 " No significant difference between strategies"
                 + (f" (n = {span} clauses per scale)." if ns else "."))
        if any(not _isnan(t.p_holm) for t in trends):
            text += (" With scale, " + "; ".join(moved) + "." if moved else " No significant trend with scale.")
        out.append(text)
    return out


def _method_sentences(c: Comparison) -> list[str]:
    """Per estimator checked: how alike it ranks clause words to exact, at what cost, and how
    many of the study's verdicts change with it."""
    m = c.methods
    if m is None:
        return []
    out = []
    for method, p in m.pooled.items():
        who = method_label(method, m.check.n_samples)
        over = f"over {p['attributions']} attributions of {p['clauses']} clauses"
        if _isnan(p["spearman"]):
            rank = f"{who} could not be compared with exact leave-one-out {over} (no clause ranked its words)"
        else:
            rank = (f"{who} ranks clause words like exact leave-one-out with mean Spearman "
                    f"{_num(p['spearman'])} [{_num(p['ci_low'])}, {_num(p['ci_high'])}] {over} "
                    f"(same top word in {p['top1_same']} of {p['top1_scored']})")
        cost = "" if _isnan(p["cost_ratio"]) else f", at {p['cost_ratio']:.2g}x its cost"
        if p["verdicts_compared"]:
            change = f"{p['verdicts_changed']} of {p['verdicts_compared']} verdicts change"
        else:
            change = "no test of the study can run on so few clauses, so no verdict is compared"
        out.append(f"{rank}{cost}; {change}.")
    return out


def sentences(c: Comparison, verdicts: dict[str, Any] | None = None) -> list[str]:
    """Plain sentences from the typed results.

    Order: the claim verdicts, then per scale the omnibus entropy test, FFT-vs-other (or every
    pair without FFT) entropy contrasts and category-pattern divergences; then the scale
    trends of the claim-2 categories (and of any other category with a significant trend);
    then the plateau per strategy; then number and identifier fidelity; then each cheaper estimator
    against exact leave-one-out. "Significant" is at ``alpha`` after Holm correction.
    """
    out = _claim_sentences(c, verdicts or claims(c))
    has_fft = "fft" in c.strategies
    for sc in c.labels:
        where = c.labels[sc]
        for t in c.strategy_tests:
            if t.scale == sc and t.metric == "entropy" and t.omnibus.test == "friedman":
                out.append(_omnibus_sentence(t, where, c.alpha))
        for t in c.strategy_tests:
            if t.scale == sc and t.metric == "entropy":
                out += [_focus_sentence(t, p, c, where) for p in t.pairs
                        if not has_fft or "fft" in (p.a, p.b)]
        out += [_divergence_sentence(d, where, c.alpha) for d in c.divergences
                if d.scale == sc and (not has_fft or "fft" in (d.strategy_a, d.strategy_b))]
    any_cross = any(t.cross_family for t in c.trends)
    out += [_trend_sentence(t, any_cross, c.alpha) for t in c.trends
            if t.category in CLAIM2_CATEGORIES or _sig(t.p_holm, c.alpha)]
    quality = QUALITY_LABELS.get(c.quality_metric or "similarity", "rule similarity")
    out += [_plateau_sentence(p, c, quality) for p in (c.plateau.strategies if c.plateau else ())]
    return out + _fidelity_sentences(c) + _method_sentences(c)


def findings(summary: dict[str, Any]) -> list[str]:
    """The findings sentences a :func:`~ccattr.stats.run_comparison` summary carries."""
    if not summary:
        return ["No comparison results are available."]
    if "findings" not in summary:
        return ["This comparison summary predates the published findings: rerun the compare stage."]
    return list(summary["findings"])


__all__ = ["claims", "findings", "sentences"]
