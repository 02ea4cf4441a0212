"""Parser and structural view of the ccattr rule notation.

The notation (see ``docs/rule-notation.md``) is a compact, one-line, LegalRuleML-style
encoding of a building-regulation clause::

    obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(accessible_route)),data(1200 mm)))

This module provides

* :func:`parse_rule` -- text -> :class:`lark.Tree` (raises :class:`RuleSyntaxError`);
* :func:`is_valid_rule` -- text -> bool;
* :func:`rule_numbers` / :func:`missing_numbers` -- numbers inside ``data(...)`` values and the
  "every number in a rule appears in its clause" consistency check;
* :func:`rule_structure` / :func:`rule_atoms` -- the rule as frozen dataclasses
  (:class:`Rule`, :class:`Atom`, :class:`And`, ...) for structural comparison.

Whitespace (spaces, tabs, newlines) is tolerated between tokens; a ``data(...)`` value keeps
its inner spaces but not its leading/trailing ones (``data( 1200 mm )`` is ``1200 mm``).
Relation names are checked against :data:`RELATIONS`; function and variable names are free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from ccattr.notations.base import Notation, RuleNode, RuleSyntaxError, column_of

__all__ = [
    "DEONTIC_KINDS",
    "GRAMMAR",
    "RELATIONS",
    "And",
    "Atom",
    "Data",
    "Expr",
    "Not",
    "Or",
    "Rule",
    "RuleSyntaxError",
    "Var",
    "is_valid_rule",
    "missing_numbers",
    "parse_rule",
    "rule_atoms",
    "rule_numbers",
    "rule_structure",
]

#: The lark grammar of the notation (LALR(1), contextual lexer). Rules prefixed with ``?`` are
#: inlined, so the root of a parse tree is ``implication``, ``obligation``, ``permission`` or
#: ``prohibition`` and a formula node is ``and``, ``or``, ``not`` or ``atom``.
GRAMMAR = r"""
?start: implication | deontic

implication: _IF "(" formula ")" "," _THEN "(" deontic ")"

?deontic: obligation | permission | prohibition
obligation: _OBLIGATION "(" formula ")"
permission: _PERMISSION "(" formula ")"
prohibition: _PROHIBITION "(" formula ")"

?formula: and | or | not | atom
and: _AND "(" formula ("," formula)+ ")"
or: _OR "(" formula ("," formula)+ ")"
not: _NOT "(" formula ")"

atom: _ATOM "(" head ("," term)* ")"
?head: rel | fun
rel: _REL "(" NAME ")"
fun: _FUN "(" NAME ")"

?term: var | data | expr
var: _VAR "(" NAME ")"
data: _DATA "(" VALUE ")"
expr: _EXPR "(" fun ("," term)+ ")"

// keywords are whole words: "obligations(" is an unknown operator, not "obligation" + "s"
_IF: /if\b/
_THEN: /then\b/
_OBLIGATION: /obligation\b/
_PERMISSION: /permission\b/
_PROHIBITION: /prohibition\b/
_AND: /and\b/
_OR: /or\b/
_NOT: /not\b/
_ATOM: /atom\b/
_REL: /rel\b/
_FUN: /fun\b/
_VAR: /var\b/
_DATA: /data\b/
_EXPR: /expr\b/

NAME: /[A-Za-z_][A-Za-z0-9_]*/
// any text without ( ) , -- must start and end with a non-space character, so that the
// whitespace around a value is ignored while the spaces inside it are kept
VALUE: /[^(),\s](?:[^(),]*[^(),\s])?/

%import common.WS
%ignore WS
"""

#: The closed relation vocabulary of ``rel(...)``.
RELATIONS: frozenset[str] = frozenset(
    {"greaterThanOrEqual", "lessThanOrEqual", "greaterThan", "lessThan", "equal", "notEqual"}
)

#: The three deontic operators, in the order used throughout ccattr.
DEONTIC_KINDS: tuple[str, ...] = ("obligation", "permission", "prohibition")

# How terminals are named in error messages.
_TERMINAL_NAMES = {"NAME": "a name", "VALUE": "a data value", "$END": "end of rule"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser, built on first use and cached."""
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False,
                propagate_positions=True)


def _describe_expected(names) -> tuple[str, ...]:
    terminals = {t.name: t for t in _parser().terminals}
    out = set()
    for name in names:
        if name in _TERMINAL_NAMES:
            out.add(_TERMINAL_NAMES[name])
        elif name in terminals and terminals[name].pattern.type == "str":
            out.add(repr(terminals[name].pattern.value))
        elif re.fullmatch(r"_[A-Z]+", name):  # keyword
            out.add(repr(name[1:].lower()))
        else:
            out.add(name)
    return tuple(sorted(out))


def _syntax_error(text: str, err: UnexpectedInput) -> RuleSyntaxError:
    """Translate a lark exception into a :class:`RuleSyntaxError`."""
    if isinstance(err, UnexpectedCharacters):
        pos, expected = err.pos_in_stream, _describe_expected(err.allowed or ())
    else:
        assert isinstance(err, UnexpectedToken | UnexpectedEOF)
        expected = _describe_expected(getattr(err, "accepts", None) or err.expected)
        at_end = isinstance(err, UnexpectedEOF) or err.token.type == "$END"
        pos = len(text.rstrip()) if at_end else err.pos_in_stream
    if pos >= len(text.rstrip()):
        found = "unexpected end of rule"
    else:
        m = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\S").match(text, pos)
        word = m.group(0) if m else text[pos : pos + 1]
        keywords_expected = expected and all(re.fullmatch(r"'[a-z]+'", e) for e in expected)
        if word[0].isalpha() and keywords_expected:
            found = f"unknown operator {word!r}"
        elif word == ")" and re.search(r"data\s*\(\s*$", text[:pos]):
            found = "empty data() value"
        else:
            found = f"unexpected {word!r}"
    reason = f"{found} at column {column_of(text, pos)}"
    if "\n" in text[:pos]:
        reason += f" of line {text.count(chr(10), 0, pos) + 1}"
    if expected:
        reason += "; expected " + (expected[0] if len(expected) == 1 else "one of " + ", ".join(expected))
    return RuleSyntaxError(reason, text, pos, expected)


def parse_rule(text: str) -> Tree:
    """Parse a rule into a lark tree; raise :class:`RuleSyntaxError` if it is malformed.

    >>> tree = parse_rule("obligation(atom(fun(has),var(stair),data(handrail)))")
    >>> tree.data == "obligation", tree.children[0].data == "atom"
    (True, True)
    >>> parse_rule("must(atom(fun(has),var(stair)))")
    Traceback (most recent call last):
    ...
    ccattr.notations.base.RuleSyntaxError: unknown operator 'must' at column 1; expected one of 'if', 'obligation', 'permission', 'prohibition'
      must(atom(fun(has),var(stair)))
      ^
    """
    if not isinstance(text, str):
        raise TypeError(f"rule must be a str, not {type(text).__name__}")
    if not text.strip():
        raise RuleSyntaxError("empty rule", text, 0)
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as err:
        raise _syntax_error(text, err) from None
    for node in tree.iter_subtrees_topdown():  # left to right: report the first bad relation
        name = node.children[0]
        if node.data == "rel" and name not in RELATIONS:
            assert isinstance(name, Token)
            raise RuleSyntaxError(
                f"unknown relation {str(name)!r} at column {name.column}; expected one of "
                + ", ".join(sorted(RELATIONS)),
                text,
                name.start_pos,
                tuple(sorted(RELATIONS)),
            )
    return tree


def is_valid_rule(text: object) -> bool:
    """True iff ``text`` is a string that parses (``False`` for ``None`` and other non-strings).

    >>> is_valid_rule("prohibition(atom(fun(discharges_into),var(fixture),data(stormwater drain)))")
    True
    >>> is_valid_rule("prohibition(atom(fun(discharges_into),var(fixture),data()))")
    False
    """
    if not isinstance(text, str):
        return False
    try:
        parse_rule(text)
    except RuleSyntaxError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# Numbers

# A numeric literal: digits, optionally joined by single dots ("1.5", "4223.3", "1.3.3"), not
# glued to a preceding letter/digit/dot -- so identifiers and units ("C/AS1", "m2", "D1.3.3")
# contribute no numbers.  Ranges and ratios split: "900-1200" -> 900, 1200; "1:40" -> 1, 40.
_NUMBER_RE = re.compile(r"(?<![A-Za-z0-9.])[0-9]+(?:\.[0-9]+)*")


def _as_tree(rule: str | Tree) -> Tree:
    return rule if isinstance(rule, Tree) else parse_rule(rule)


def rule_numbers(rule: str | Tree) -> list[str]:
    """The numeric literals inside the ``data(...)`` values of a rule, in order (duplicates kept).

    A literal is a run of ASCII digits optionally joined by single dots and *not* glued to a
    preceding letter: units and identifiers such as ``m2``, ``C/AS1`` or ``D1.3.3`` yield no
    number, a standard number does (``NZS 4223.3`` -> ``4223.3``). Ranges and ratios are split
    into their parts and signs are dropped, so ``900-1200 mm`` -> ``900``, ``1200`` and
    ``1:40`` -> ``1``, ``40`` (a clause may say "1 in 40" for ``1:40``).
    ``rule`` may be text (parsed, so it may raise :class:`RuleSyntaxError`) or a parse tree.

    >>> rule_numbers("if(atom(rel(greaterThan),expr(fun(storey_count),var(building)),data(3))),"
    ...              "then(obligation(atom(rel(greaterThanOrEqual),expr(fun(fire_resistance_rating),"
    ...              "var(exit_stair)),data(60 min))))")
    ['3', '60']
    >>> rule_numbers("obligation(atom(rel(lessThanOrEqual),expr(fun(gradient),var(ramp)),data(1:12)))")
    ['1', '12']
    >>> rule_numbers("obligation(atom(fun(complies_with),var(glazing),data(NZS 4223.3)))")
    ['4223.3']
    >>> rule_numbers("obligation(atom(fun(complies_with),var(drain),data(G13/AS2)))")
    []
    """
    out: list[str] = []
    for node in _as_tree(rule).iter_subtrees_topdown():  # pre-order: left to right
        if node.data == "data":
            out.extend(_NUMBER_RE.findall(str(node.children[0])))
    return out


def missing_numbers(rule: str | Tree, clause: str) -> list[str]:
    """The numbers of :func:`rule_numbers` that do not occur literally in ``clause``.

    A number occurs if it appears in the clause as a whole number: not preceded by a digit or
    dot and not followed by a digit or by a dot plus digit ("3" is not in "300" nor in "4.2.3",
    "1.2" is in "Table 1.2."). An empty list means the rule is consistent with its clause.

    >>> r = "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(route)),data(1200 mm)))"
    >>> missing_numbers(r, "The clear width shall be not less than 1200 mm.")
    []
    >>> missing_numbers(r, "The clear width shall be not less than 12000 mm.")
    ['1200']
    """
    missing = []
    for number in rule_numbers(rule):
        pattern = rf"(?<![0-9.]){re.escape(number)}(?![0-9]|\.[0-9])"
        if not re.search(pattern, clause) and number not in missing:
            missing.append(number)
    return missing


# ---------------------------------------------------------------------------------------------
# Structural view


@dataclass(frozen=True)
class Var:
    """``var(name)``"""

    name: str


@dataclass(frozen=True)
class Data:
    """``data(value)``; runs of whitespace inside the value are normalised to one space."""

    value: str


@dataclass(frozen=True)
class Expr:
    """``expr(fun(fun),args...)``"""

    fun: str
    args: tuple[Term, ...]


Term = Var | Data | Expr


@dataclass(frozen=True)
class Atom:
    """``atom(rel(name),args...)`` (``kind == "rel"``) or ``atom(fun(name),args...)``."""

    kind: str
    name: str
    args: tuple[Term, ...]


@dataclass(frozen=True)
class And:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Or:
    parts: tuple[Formula, ...]


@dataclass(frozen=True)
class Not:
    part: Formula


Formula = Atom | And | Or | Not


@dataclass(frozen=True)
class Rule:
    """A whole rule: ``deontic`` is one of :data:`DEONTIC_KINDS`, ``condition`` the ``if(...)``
    formula (``None`` for an unconditional rule) and ``consequent`` the formula under the
    deontic operator."""

    deontic: str
    consequent: Formula
    condition: Formula | None = None

    @property
    def conditions(self) -> tuple[Formula, ...]:
        """The condition as a tuple of conjuncts (``()`` when unconditional)."""
        if self.condition is None:
            return ()
        if isinstance(self.condition, And):
            return self.condition.parts
        return (self.condition,)


def _term(tree: Tree) -> Term:
    if tree.data == "var":
        return Var(str(tree.children[0]))
    if tree.data == "data":
        return Data(" ".join(str(tree.children[0]).split()))
    fun, *args = tree.children
    return Expr(str(fun.children[0]), tuple(_term(a) for a in args))


def _formula(tree: Tree) -> Formula:
    kind = tree.data
    if kind == "atom":
        head, *args = tree.children
        return Atom(str(head.data), str(head.children[0]), tuple(_term(a) for a in args))
    if kind == "not":
        return Not(_formula(tree.children[0]))
    parts = tuple(_formula(c) for c in tree.children)
    return And(parts) if kind == "and" else Or(parts)


def rule_structure(rule: str | Tree) -> Rule:
    """The rule as nested frozen dataclasses (hashable, comparable with ``==``).

    >>> r = rule_structure("if(atom(rel(greaterThan),expr(fun(storey_count),var(building)),data(3))),"
    ...                    "then(obligation(atom(fun(has),var(building),data(sprinkler  system))))")
    >>> r.deontic
    'obligation'
    >>> r.conditions
    (Atom(kind='rel', name='greaterThan', args=(Expr(fun='storey_count', args=(Var(name='building'),)), Data(value='3'))),)
    >>> r.consequent
    Atom(kind='fun', name='has', args=(Var(name='building'), Data(value='sprinkler system')))
    """
    tree = _as_tree(rule)
    condition = None
    if tree.data == "implication":
        cond_tree, tree = tree.children
        condition = _formula(cond_tree)
    return Rule(str(tree.data), _formula(tree.children[0]), condition)


def rule_atoms(rule: str | Tree | Rule) -> list[Atom]:
    """All atoms of a rule, condition first, left to right (``not``/``and``/``or`` flattened).

    >>> [a.name for a in rule_atoms("if(and(atom(rel(lessThan),expr(fun(riser_count),var(stair)),data(3)),"
    ...     "not(atom(fun(serves),var(stair),data(accessible route))))),"
    ...     "then(permission(not(atom(fun(has),var(stair),data(handrail)))))")]
    ['lessThan', 'serves', 'has']
    """
    r = rule if isinstance(rule, Rule) else rule_structure(rule)
    out: list[Atom] = []
    stack: list[Formula] = [r.consequent] + ([r.condition] if r.condition is not None else [])
    while stack:
        f = stack.pop()
        if isinstance(f, Atom):
            out.append(f)
        elif isinstance(f, Not):
            stack.append(f.part)
        else:
            stack.extend(reversed(f.parts))
    return out


# ---------------------------------------------------------------------------------------------
# The notation behind the common interface


def _value_node(tok: Token) -> RuleNode:
    """A ``data(...)`` value: an ``identifier`` when it names a rule or standard ("Table 1.2",
    "C/AS1", "NZS 4223.3"), else a ``name`` whose children are the numbers in it."""
    from ccattr.categories import segment

    text, start = str(tok), tok.start_pos
    if any(u.category == "rule_id" for u in segment(text, "span")):
        return RuleNode("identifier", text, start, tok.end_pos)
    numbers = tuple(RuleNode("number", m.group(), start + m.start(), start + m.end())
                    for m in _NUMBER_RE.finditer(text))
    return RuleNode("name", text, start, tok.end_pos, numbers)


def _node(tree: Tree) -> RuleNode:
    children = []
    for c in tree.children:
        if isinstance(c, Tree):
            children.append(_node(c))
        elif c.type == "VALUE":
            children.append(_value_node(c))
        else:
            children.append(RuleNode("name", str(c), c.start_pos, c.end_pos))
    return RuleNode("term", str(tree.data), tree.meta.start_pos, tree.meta.end_pos, tuple(children))


class CcattrNotation(Notation):
    """The project's own notation (this module's grammar): ``if(...),then(obligation(atom(...)))``.

    Numbers are checked literally, as the notation promises (every number of a ``data(...)``
    value appears as digits in its clause): :func:`rule_numbers`, :func:`missing_numbers`.
    """

    name = "ccattr"
    description = "ccattr notation (lark grammar, closed relation set)"
    term_based = True
    numbers_severity = "error"

    def _parse(self, rule: str) -> RuleNode:
        return _parsed(rule)

    def numbers(self, rule: str) -> list[str]:
        return rule_numbers(rule)

    def missing_numbers(self, rule: str, clause: str) -> list[str]:
        return missing_numbers(rule, clause)


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> RuleNode:
    return _node(parse_rule(rule))
