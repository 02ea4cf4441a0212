"""Numbers in clauses and rules, and the forms one number takes on either side.

A clause says "5%", "1:100", "1 in 100", "one", "1,200" or "300m2"; a rule writes ``0.05``,
``1/100``, ``1``, ``1200`` or ``300``. :func:`clause_values` collects every value a clause
states, in each of its forms; :func:`literal_value` reads one number of a rule; and
:func:`missing_values` lists the rule numbers that no clause value matches.

    >>> sorted(clause_values("no less than 5% of the floor area"))
    [0.05, 5.0]
    >>> missing_values(["0.05", "1/100", "2"], "at least 5% and a fall of 1:100 for two pipes")
    []
    >>> missing_values(["300"], "not more than 30 m2")
    ['300']
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

__all__ = ["NUMBER_WORDS", "clause_values", "literal_value", "missing_values", "same_value"]

#: Number words a clause may use for a small integer ("more than one activity" -> ``1``).
NUMBER_WORDS: dict[str, float] = {
    w: float(i) for i, w in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"])
} | {"twenty": 20.0, "thirty": 30.0, "forty": 40.0, "fifty": 50.0, "hundred": 100.0,
     "half": 0.5, "quarter": 0.25, "single": 1.0, "double": 2.0, "once": 1.0, "twice": 2.0}

# One number as clauses write it: "1200", "1,200", "0.9"; not glued to a letter, digit or dot
# before it, so "G13", "m2" and "E2/AS1" yield nothing.
_NUM = r"(?<![A-Za-z0-9.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![0-9])"
_MENTION = re.compile(
    rf"(?P<a>{_NUM})"
    r"(?:\s*(?P<pct>%|per\s*cent|percent)"
    rf"|\s*(?P<sep>:|/|\bin\b)\s*(?P<b>\d+(?:\.\d+)?))?",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z]+")
_RATIO = re.compile(r"\s*(-?\d+(?:\.\d+)?)\s*[/:]\s*(\d+(?:\.\d+)?)\s*")
_PLAIN = re.compile(r"\s*[-+−]?(\d+(?:\.\d+)?|\.\d+)\s*%?\s*")


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def clause_values(clause: str) -> set[float]:
    """Every value the clause states, in each form: a number itself, a percentage also as a
    fraction ("5%" -> 5 and 0.05), a ratio or fraction as its parts and its quotient ("1:100",
    "1 in 100", "1/100" -> 1, 100 and 0.01), ranges as their ends ("900-1200"), thousands
    separators read ("1,200" -> 1200) and small number words ("two" -> 2)."""
    values: set[float] = set()
    for m in _MENTION.finditer(clause):
        a = _num(m["a"])
        values.add(a)
        if m["pct"]:
            values.add(a / 100)
        if m["b"] is not None:
            b = _num(m["b"])
            values.add(b)
            if b:
                values.add(a / b)
    for m in _WORD.finditer(clause):
        v = NUMBER_WORDS.get(m.group().lower())
        if v is not None:
            values.add(v)
    return values


def literal_value(literal: str) -> float | None:
    """The value of one number as a rule writes it: ``0.05``, ``300``, ``1/100`` (0.01),
    ``1:12``, ``5%`` (0.05), ``-5`` (5: signs are not compared); None if it is not a number."""
    m = _RATIO.fullmatch(literal)
    if m:
        b = float(m[2])
        return abs(float(m[1]) / b) if b else None
    m = _PLAIN.fullmatch(literal)
    if not m:
        return None
    v = float(m[1])
    return v / 100 if literal.strip().endswith("%") else v


def same_value(a: float, b: float) -> bool:
    """Two values equal to rounding (rule and clause write the same number)."""
    return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)


def missing_values(literals: Iterable[str], clause: str) -> list[str]:
    """The rule numbers (as written, first occurrence only) whose value the clause never states
    in any of the forms of :func:`clause_values`. Literals that are not numbers are ignored."""
    values = clause_values(clause)
    missing: list[str] = []
    for lit in literals:
        v = literal_value(lit)
        if v is None or lit in missing:
            continue
        if not any(same_value(v, c) for c in values):
            missing.append(lit)
    return missing
