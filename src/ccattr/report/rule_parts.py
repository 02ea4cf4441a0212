"""The rule tokens of an attribution map grouped into the parts of the rule (condition, deontic
part, ...), from the notation's parse tree (:class:`ccattr.notations.base.RuleNode`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ccattr import notations
from ccattr.notations.base import RuleNode, RuleSyntaxError

#: Node kinds whose tokens the map marks (the items number/identifier fidelity checks).
MARKED_KINDS = ("number", "identifier")
_CLOSING = ")]}, \t\n"


@dataclass(frozen=True)
class TokenGroups:
    """``parts``: ``(name, first, stop)`` token ranges in order, together covering every token;
    ``marks``: per token, the kind of the :data:`MARKED_KINDS` node it spells (else None);
    ``note``: why the tokens are not grouped (the rule does not parse, ...), else None."""

    parts: list[tuple[str, int, int]]
    marks: list[str | None]
    note: str | None = None


def _part_names(root: RuleNode, parts: Sequence[RuleNode]) -> list[str]:
    """``if(A),then(B)`` reads as condition / consequence in every notation: the ``ccattr``
    notation's ``implication`` node has the two formulas as children, ``lrml`` has ``if`` and
    ``then`` terms. Other parts are named by their node's label."""
    names = []
    for i, node in enumerate(parts):
        if node.label == "if" or (root.label == "implication" and i == 0):
            names.append("condition")
        elif root.label == "implication":
            names.append(f"then: {node.label}")
        elif node.label == "then":
            inner = node.children[0].label if len(node.children) == 1 else ""
            names.append(f"then: {inner}" if inner else "consequence")
        else:
            names.append(node.label or node.kind)
    return names


def group_rule_tokens(rule: str, spans: Sequence[tuple[int, int]], notation: str | None) -> TokenGroups:
    """Group the tokens at character ``spans`` of ``rule`` by the top-level children of its
    parse tree (a root with one child is one part: ``obligation(...)``). A token belongs to the
    part it overlaps most; syntax between parts goes with the part before when it only closes
    (``)``, ``,``), else with the part that follows (``then(``), so the parts stay contiguous.
    A rule that does not parse, an unknown notation or missing offsets give one part ``rule``
    and a ``note``."""
    n = len(spans)

    def ungrouped(note: str) -> TokenGroups:
        return TokenGroups([("rule", 0, n)] if n else [], [None] * n, note)

    if notation not in notations.NOTATIONS:
        return ungrouped(f"unknown rule notation {notation!r}: tokens not grouped")
    if any(a < 0 or b < a for a, b in spans):
        return ungrouped("the tokenizer gave no character offsets: tokens not grouped")
    try:
        root = notations.get(notation).parse(rule)
    except RuleSyntaxError as err:
        return ungrouped(f"the rule does not parse in the {notation} notation ({err.reason}): "
                         "tokens not grouped")
    parts = list(root.children) if len(root.children) > 1 else [root]
    owner = []
    for a, b in spans:
        overlap = [min(b, p.end) - max(a, p.start) for p in parts]
        best = max(range(len(parts)), key=overlap.__getitem__)
        if overlap[best] <= 0:   # syntax between parts (or around them)
            following = next((i for i, p in enumerate(parts) if p.start >= b), len(parts))
            closes = not rule[a:b].strip(_CLOSING)
            best = min(len(parts) - 1, max(0, following - 1) if closes else following)
        owner.append(max(best, owner[-1]) if owner else best)
    names = _part_names(root, parts)
    ranges = [(names[i], owner.index(i), n - owner[::-1].index(i)) for i in sorted(set(owner))]
    marked = [node for node in root.walk() if node.kind in MARKED_KINDS]
    marks = [next((m.kind for m in marked if a < m.end and b > m.start), None) for a, b in spans]
    return TokenGroups(ranges, marks)
