"""The LRML F-score of Fuchs et al., computed the way their published scorer computes it, so
that a figure here is comparable with theirs (written from the scorer's behaviour as stated in
the project's issue; the tests check hand-computed examples).

The scorer reads a rule as a bracket structure, not with a grammar, and keeps its quirks on
purpose:

* characters are read left to right; ``(`` opens a term named by the text gathered since the
  last bracket; ``)`` closes the innermost term and gives it the gathered text (stripped) as
  leaf words; a term named ``then`` first closes every open term;
* commas are skipped without separating anything: ``is(gutter.type,internal)`` has the text
  ``gutter.typeinternal``, and in ``f(a,g(b))`` the inner term is named ``ag``;
* a rule is cut after its first ``:`` plus one character when that ``:`` comes before
  position 30 (meant for a ``Target: `` prefix); with no ``:`` at all this drops the first
  character, so ``if`` reads as ``f`` -- on both sides, so it cancels out;
* elements are every term below the root (name, words of its subtree, leaf or not) and, once
  more, every leaf as an *entity* with an empty name; entities weigh twice.

Recall walks the reference elements and greedily matches each to the first predicted element
of the same name with the largest word overlap; precision swaps the roles. The corpus figure
is the harmonic mean of the mean precision and the mean recall over pairs, times 100.

    >>> score_pair("if(is(gutter.type,internal)),then(obligation(has(gutter,outlet)))",
    ...            "if(is(gutter.type,internal)),then(obligation(has(gutter,outlet)))")
    (1.0, 1.0)
    >>> corpus_score(["if(a(b)),then(c(d))"], ["if(a(b)),then(c(e))"]).f
    50.0

Published figures for comparison (:data:`PUBLISHED`): T5-based models reached F 56.2-57.4 on
the document split (three runs) and about 76 on a random split; GPT-4 with retrieved examples
57.4 on a document test set. Those models were trained and scored on the authors' spaced form
of the rules (a space after each comma, camelCase names spelled out), where leaf words do not
glue across commas; scored on the compact ``lrml`` column, as here, the same predictions can
score differently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ENTITY_WEIGHT", "PUBLISHED", "Element", "LrmlScore", "corpus_score", "elements",
           "score_pair", "words"]

#: Weight of an entity (a leaf matched as such) in precision and recall, as published.
ENTITY_WEIGHT = 2

#: Published LRML F-scores on the NZBC v8 data (Fuchs et al.): what the report shows beside ours.
PUBLISHED: tuple[dict[str, object], ...] = (
    {"system": "T5-based, fine-tuned (3 runs)", "split": "document", "f": "56.2-57.4"},
    {"system": "T5-based, fine-tuned", "split": "random", "f": "about 76"},
    {"system": "GPT-4, retrieved in-context examples", "split": "document (test)", "f": "57.4"},
)


@dataclass
class _Term:
    name: str
    children: list[_Term] = field(default_factory=list)
    words: list[str] = field(default_factory=list)  # own leaf words, then every descendant's


@dataclass(frozen=True)
class Element:
    """One scored element: a term's name and the words of its subtree, or a leaf's entity."""

    name: str
    words: tuple[str, ...]
    leaf: bool
    entity: bool = False


def words(text: str) -> list[str]:
    """The words of a leaf's text, as the scorer splits them.

    ``_`` and commas become spaces; split where a lower-case letter or digit meets an upper-case
    letter or ``%`` and where a digit meets a letter; lower-cased; ``k n`` (from ``kN``) joined
    back; a dot between two letters becomes a space; then split on single spaces (so a leading
    ``_`` yields an empty word, as published).

    >>> words("nzbc_e2as1_t7"), words("greaterThanEqual"), words("0.2 kN load"), words("40%")
    (['nzbc', 'e2', 'as1', 't7'], ['greater', 'than', 'equal'], ['0.2', 'kn', 'load'], ['40', '%'])
    >>> words("gutter.typeinternal"), words("x0.slope")
    (['gutter', 'typeinternal'], ['x0.slope'])
    """
    text = text.replace("_", " _ ").replace(",", " , ")
    text = " ".join(re.split(r"((?<=[a-z0-9])(?=[A-Z%]))", text)).lower().replace("  ", " ")
    text = " ".join(re.split(r"((?<=[0-9])(?=[a-z]))", text)).lower().replace("  ", " ")
    text = text.replace(" k n ", " kn ")
    text = re.sub(r"(?<=[a-z])\.(?=[a-z])", " ", text)
    return text.replace(" _ ", " ").split(" ")


def _strip_clue(rule: str) -> str:
    colon = rule.find(":")
    return rule[colon + 2:] if colon < 30 else rule


def _close(stack: list[_Term]) -> None:
    term = stack.pop()
    stack[-1].children.append(term)
    stack[-1].words.extend(term.words)


def _read(rule: str) -> _Term:
    """The rule as the scorer reads it (see the module docstring); returns the root."""
    root = _Term("")
    stack = [root]
    gathered = ""
    for ch in _strip_clue(rule):
        if ch == "(":
            if gathered == "then":
                while len(stack) > 1:
                    _close(stack)
            stack.append(_Term(gathered))
            gathered = ""
        elif ch == ")":
            if len(stack) > 1:  # a surplus ")" is ignored, and so is its gathered text
                gathered = gathered.strip()
                if gathered:
                    stack[-1].words.extend(words(gathered))
                    gathered = ""
                _close(stack)
        elif ch != ",":
            gathered += ch
    while len(stack) > 1:
        _close(stack)
    return root


def elements(rule: str, *, drop_empty: bool = False) -> list[Element]:
    """Every term below the root in document order, then each leaf term again as an entity.
    ``drop_empty`` (the prediction side) drops elements with an empty name and no words."""
    out: list[Element] = []

    def walk(terms: Sequence[_Term]) -> None:
        for t in terms:
            out.append(Element(t.name, tuple(t.words), leaf=not t.children))
            walk(t.children)

    walk(_read(rule).children)
    out += [Element("", e.words, leaf=True, entity=True) for e in list(out) if e.leaf]
    if drop_empty:
        out = [e for e in out if e.name.strip() or e.words]
    return out


def _overlap(a: Sequence[str], b: Sequence[str]) -> int:
    return sum((Counter(a) & Counter(b)).values())


def _match(side: list[Element], pool: list[Element]) -> float:
    """Greedy one-to-one matching of ``side`` into ``pool``: recall when ``side`` is the
    reference, precision when it is the prediction."""
    pool = list(pool)
    score = 0.0
    for e in side:
        best, best_count = None, 0
        for cand in pool:
            if cand.name == e.name:
                count = _overlap(e.words, cand.words)
                if count > best_count:  # strictly larger: ties keep the first
                    best, best_count = cand, count
        if best is not None:
            score += best_count / len(e.words) * (ENTITY_WEIGHT if best.entity else 1)
            pool.remove(best)
    total = len(side) + sum(e.entity for e in side) * (ENTITY_WEIGHT - 1)
    return score / total if total else 0.0


def score_pair(prediction: str, reference: str) -> tuple[float, float]:
    """``(precision, recall)`` of one prediction against its reference, each in [0, 1]."""
    pred = elements(prediction, drop_empty=True)
    ref = elements(reference)
    return _match(pred, ref), _match(ref, pred)


@dataclass(frozen=True)
class LrmlScore:
    """Corpus-level LRML scores (x 100) and the per-pair figures behind them (in [0, 1])."""

    precision: float
    recall: float
    f: float
    pair_precision: tuple[float, ...]
    pair_recall: tuple[float, ...]


def corpus_score(predictions: Sequence[str], references: Sequence[str]) -> LrmlScore:
    """Mean precision and mean recall over pairs, F their harmonic mean; all times 100."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions vs {len(references)} references")
    if not references:
        raise ValueError("no pairs to score")
    pairs = [score_pair(p, r) for p, r in zip(predictions, references, strict=True)]
    p = sum(x for x, _ in pairs) / len(pairs)
    r = sum(y for _, y in pairs) / len(pairs)
    f = 0.0 if p == 0 or r == 0 else 2 * p * r / (p + r)
    return LrmlScore(p * 100, r * 100, f * 100, tuple(x for x, _ in pairs), tuple(y for _, y in pairs))
