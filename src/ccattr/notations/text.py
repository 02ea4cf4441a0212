"""The ``text`` notation: rules are free text (no grammar). Any non-empty text is valid, so a
parse rate says nothing and only the text metrics (similarity, BLEU, edit distance, exact
match) apply. Numbers and rule identifiers are read as the categorizer reads a clause."""

from __future__ import annotations

from functools import lru_cache

from ccattr.notations.base import Notation, RuleNode


class TextNotation(Notation):
    name = "text"
    description = "free text (no grammar; text metrics only)"
    has_grammar = False
    numbers_severity = "warning"

    def _parse(self, rule: str) -> RuleNode:
        return _parsed(rule)

    def canonical(self, rule: str) -> str:
        return " ".join(rule.split())


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> RuleNode:
    from ccattr.categories import segment

    kinds = {"number": "number", "rule_id": "identifier"}
    leaves = tuple(RuleNode(kinds[u.category], u.text, u.start, u.end)
                   for u in segment(rule, "span") if u.category in kinds)
    return RuleNode("text", rule, 0, len(rule), leaves)
