"""The interface every rule notation implements, and what the notations share.

A notation says how the rules of a corpus are written: :class:`Notation` parses a rule into a
:class:`RuleNode` tree (character spans into the rule text), tells whether a rule is valid,
which numbers and which rule identifiers / cross-references it uses, and gives the canonical
form that exact match compares. Validation (``rules.parse``, ``consistency.numbers``),
evaluation (parse rate, exact match) and the report only talk to this interface; the
notations themselves are registered in :mod:`ccattr.notations`.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

from ccattr.notations.numbers import missing_values

__all__ = ["Notation", "RuleNode", "RuleSyntaxError", "Severity", "caret_snippet"]

Severity = Literal["error", "warning"]


class RuleSyntaxError(ValueError):
    """A rule that does not conform to its notation.

    ``str(err)`` is a one-line reason followed by a snippet of the offending line with a caret.
    Attributes: ``reason`` (the one-line message), ``pos`` (0-based offset into the text),
    ``line`` and ``column`` (1-based), ``expected`` (sorted tuple of what would have been
    accepted there, may be empty) and ``snippet``.
    """

    def __init__(self, reason: str, text: str, pos: int, expected: tuple[str, ...] = ()):
        pos = max(0, min(pos, len(text)))
        line_start = text.rfind("\n", 0, pos) + 1
        line_end = text.find("\n", pos)
        line_end = len(text) if line_end == -1 else line_end
        self.reason = reason
        self.pos = pos
        self.line = text.count("\n", 0, pos) + 1
        self.column = pos - line_start + 1
        self.expected = expected
        self.snippet = caret_snippet(text[line_start:line_end], self.column - 1)
        super().__init__(f"{reason}\n{self.snippet}")


def caret_snippet(line: str, col0: int, width: int = 60) -> str:
    """Two lines: (a window of) ``line`` and a caret under 0-based ``col0``."""
    line = "".join(c if c.isprintable() else "\ufffd" for c in line)
    lo = 0 if len(line) <= width else max(0, min(col0 - width // 2, len(line) - width))
    hi = min(len(line), lo + width)
    prefix = "..." if lo > 0 else ""
    suffix = "..." if hi < len(line) else ""
    return f"  {prefix}{line[lo:hi]}{suffix}\n  {' ' * (len(prefix) + col0 - lo)}^"


def column_of(text: str, pos: int) -> int:
    """1-based column of offset ``pos`` in its line."""
    return pos - (text.rfind("\n", 0, pos) + 1) + 1


@dataclass(frozen=True)
class RuleNode:
    """One node of a parsed rule, notation-independent: ``text[start:end]`` is what it covers.

    ``kind`` is ``term`` (an operator or function applied to children), ``number``,
    ``identifier`` (a rule identifier or cross-reference), ``name`` (any other leaf: a
    variable, a path, a value), ``expression`` (quoted arithmetic) or ``text`` (a whole rule
    without structure); ``label`` is the term's name or the leaf's text.
    """

    kind: str
    label: str
    start: int
    end: int
    children: tuple[RuleNode, ...] = ()

    def walk(self) -> Iterator[RuleNode]:
        """This node and every descendant, in document order (pre-order)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


class Notation(ABC):
    """How the rules of a corpus are written.

    Subclasses set the class attributes and implement :meth:`_parse`; the rest has defaults
    that read the tree. ``name`` is the value of ``corpus.notation``; ``has_grammar`` is False for free text (no
    parse rate); ``term_based`` marks the ``name(arg,...)`` notations the LRML F-score reads;
    ``numbers_severity`` is the default severity of the ``consistency.numbers`` expectation.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    has_grammar: ClassVar[bool] = True
    term_based: ClassVar[bool] = False
    numbers_severity: ClassVar[Severity] = "error"

    def parse(self, rule: str) -> RuleNode:
        """The rule as a tree; raise :class:`RuleSyntaxError` (with the column) if it is invalid."""
        if not isinstance(rule, str):
            raise TypeError(f"rule must be a str, not {type(rule).__name__}")
        if not rule.strip():
            raise RuleSyntaxError("empty rule", rule, 0)
        return self._parse(rule)

    @abstractmethod
    def _parse(self, rule: str) -> RuleNode:
        """:meth:`parse` for a non-blank string (subclasses cache it: trees are immutable)."""

    def is_valid(self, rule: object) -> bool:
        """True iff ``rule`` is a string that parses (False for None and other non-strings)."""
        if not isinstance(rule, str):
            return False
        try:
            self.parse(rule)
        except RuleSyntaxError:
            return False
        return True

    def numbers(self, rule: str) -> list[str]:
        """The numbers the rule uses, as written, in order (may raise :class:`RuleSyntaxError`)."""
        return [n.label for n in self.parse(rule).walk() if n.kind == "number"]

    def identifiers(self, rule: str) -> list[str]:
        """The rule identifiers and cross-references the rule names, in order."""
        return [n.label for n in self.parse(rule).walk() if n.kind == "identifier"]

    def missing_numbers(self, rule: str, clause: str) -> list[str]:
        """Numbers of the rule that its clause does not state in any equivalent form
        (:func:`ccattr.notations.numbers.missing_values`); ``[]`` = consistent."""
        return missing_values(self.numbers(rule), clause)

    def canonical(self, rule: str) -> str:
        """The form exact match compares: here, the rule without whitespace."""
        return re.sub(r"\s+", "", rule)

    def unknown_names(self, rule: str) -> list[str]:
        """Term names outside the notation's known vocabulary (valid, but worth a warning)."""
        return []

    def __repr__(self) -> str:
        return f"<notation {self.name}>"
