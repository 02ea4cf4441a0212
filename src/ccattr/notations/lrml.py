"""The ``lrml`` notation: the compact LegalRuleML term notation of the published NZ Building
Code dataset (Fuchs et al.), e.g.::

    if(and(has(space,naturalVentilation),greaterThan(space.occupantLoad,0))),
    then(obligation(and(define(space.floorArea,x1),greaterThanEqual(x0,'0.05 * x1'))))

(one line in the data). A rule is one or more terms joined by commas; a term is
``name(arg,...)``; an argument is a term, a leaf -- a dotted path (``gutter.slope``), a rule
identifier (``nzbc_e2as1_t7``), a number or ratio (``0.9``, ``1/100``), a quantity
(``350 mm``) -- or a single-quoted expression (``'0.05 * x1'``). Parentheses balance, and the
vocabulary of names is open: an unknown name (:data:`KNOWN_NAMES`) is valid and counted by a
warning-level expectation, never a parse error. Numbers change form between clause and rule
("5%" -> ``0.05``), so the numbers check compares values (:mod:`ccattr.notations.numbers`)
and is a warning by default.
"""

from __future__ import annotations

import re
from functools import lru_cache

from lark import Lark, Token, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput

from ccattr.notations.base import Notation, RuleNode, RuleSyntaxError, column_of

__all__ = ["GRAMMAR", "KNOWN_NAMES", "REFERENCE_PREFIXES", "LrmlNotation", "serialize"]

#: LALR grammar. A term's name and a leaf are the same terminal (``WORD``): what follows it,
#: ``(`` or not, decides which it is; names are then checked to be identifiers.
GRAMMAR = r"""
start: term ("," term)*
term: WORD "(" arg ("," arg)* ")"
?arg: term | WORD | QUOTED

// a leaf may hold inner spaces ("350 mm") but starts and ends with a non-space character
WORD: /[^\s(),'](?:[^(),']*[^\s(),'])?/
QUOTED: /'[^']*'/

%import common.WS
%ignore WS
"""

#: The names of the published v8 set (65), camelCase. Others are valid (the vocabulary is open).
KNOWN_NAMES: frozenset[str] = frozenset(["if", "then", "obligation", "permission", "prohibition", "and", "or", "not", "is", "has", "asPer", "complyWith", "greaterThanEqual", "lessThanEqual", "greaterThan", "lessThan", "equal", "for", "exist", "define", "include", "towards", "inBetween", "within", "applyTo", "above", "count", "into", "by", "requires", "loop", "forEach", "partOf", "connect", "adjacent", "below", "through", "on", "adjoin", "cause", "test", "against", "max", "topOf", "sum", "similarTo", "awayFrom", "outside", "before", "after", "exclude", "prevent", "around", "accept", "approve", "min", "compare", "exposedTo", "screenedFrom", "disconnect", "behind", "in", "intersect", "onto", "over", "avoid"])

#: First ``_``-separated part of a leaf that names a document or standard: ``nzbc_e2as1_t7``
#: (NZ Building Code, E2/AS1 Table 7), ``nzs_3604``, ``as_1397``, ``iso_11600_typeF``...
REFERENCE_PREFIXES: frozenset[str] = frozenset(
    ["nzbc", "nzs", "as", "asnzs", "nzsas", "iso", "isots", "astm", "tts", "snz", "asse", "en", "bs", "bsen", "icbo", "branzbulletin", "buildingact", "din", "ansi", "nfpa", "ul", "csa"])

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A number in a leaf or an expression: 0.9, 300, 1/100; not part of a name (x0, d10, type_7).
_NUMBER = re.compile(r"(?<![A-Za-z0-9_.])\d+(?:\.\d+)?(?:/\d+(?:\.\d+)?)?(?![0-9_])")
_TERMINALS = {"WORD": "a name or value", "QUOTED": "a quoted expression", "LPAR": "'('",
              "RPAR": "')'", "COMMA": "','", "$END": "end of rule"}


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(GRAMMAR, parser="lalr", lexer="contextual", maybe_placeholders=False,
                propagate_positions=True)


def _is_reference(text: str) -> bool:
    head = text.strip("'").split("_", 1)
    return len(head) == 2 and head[0].lower() in REFERENCE_PREFIXES


def _syntax_error(text: str, err: UnexpectedInput) -> RuleSyntaxError:
    if isinstance(err, UnexpectedCharacters):
        pos = err.pos_in_stream
        ch = text[pos]
        found = "unterminated quoted expression" if ch == "'" else f"unexpected {ch!r}"
        expected: tuple[str, ...] = ()
    else:
        names = getattr(err, "accepts", None) or err.expected
        expected = tuple(sorted({_TERMINALS.get(n, n) for n in names}))
        at_end = isinstance(err, UnexpectedEOF) or err.token.type == "$END"
        pos = len(text.rstrip()) if at_end else err.pos_in_stream
        if at_end:
            opened = text.count("(") - text.count(")")
            found = (f"unexpected end of rule ({opened} unclosed parenthes{'is' if opened == 1 else 'es'})"
                     if opened > 0 else "unexpected end of rule")
        else:
            tok = err.token
            found = ("unbalanced ')'" if tok.type == "RPAR" and text[:pos].count("(") <= text[:pos].count(")")
                     else "empty argument" if tok.type in ("COMMA", "RPAR") and text[:pos].rstrip()[-1:] in "(,"
                     else f"unexpected {str(tok)!r}")
    reason = f"{found} at column {column_of(text, pos)}"
    if expected:
        reason += "; expected " + " or ".join(expected)
    return RuleSyntaxError(reason, text, pos, expected)


def _leaf(tok: Token) -> RuleNode:
    text, start, end = str(tok), tok.start_pos, tok.end_pos
    if tok.type == "QUOTED":
        inner = text[1:-1]
        if _is_reference(inner):
            return RuleNode("identifier", text, start, end)
        return RuleNode("expression", text, start, end, tuple(
            RuleNode("number", m.group(), start + 1 + m.start(), start + 1 + m.end())
            for m in _NUMBER.finditer(inner)))
    if _is_reference(text):
        return RuleNode("identifier", text, start, end)
    numbers = [m for m in _NUMBER.finditer(text)]
    if len(numbers) == 1 and numbers[0].span() == (0, len(text)):
        return RuleNode("number", text, start, end)
    return RuleNode("name", text, start, end, tuple(
        RuleNode("number", m.group(), start + m.start(), start + m.end()) for m in numbers))


def _term(tree: Tree, text: str) -> RuleNode:
    name, *args = tree.children
    if not _NAME.fullmatch(str(name)):
        raise RuleSyntaxError(f"{str(name)!r} is not a term name (letters, digits, '_') at column "
                              f"{column_of(text, name.start_pos)}", text, name.start_pos)
    children = tuple(_term(a, text) if isinstance(a, Tree) else _leaf(a) for a in args)
    return RuleNode("term", str(name), tree.meta.start_pos, tree.meta.end_pos, children)


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> RuleNode:
    try:
        tree = _parser().parse(rule)
    except UnexpectedInput as err:
        raise _syntax_error(rule, err) from None
    terms = tuple(_term(t, rule) for t in tree.children)
    return RuleNode("term", "", 0, len(rule), terms)


def serialize(node: RuleNode) -> str:
    """The tree as text without layout: no spaces between tokens, inner runs of spaces in a
    leaf as one. ``serialize(parse(r))`` is the canonical form of ``r``."""
    if node.kind != "term":
        return " ".join(node.label.split()) if node.kind != "expression" else node.label
    inner = ",".join(serialize(c) for c in node.children)
    return inner if node.label == "" else f"{node.label}({inner})"


class LrmlNotation(Notation):
    name = "lrml"
    description = "LegalRuleML term notation of the NZBC dataset (open vocabulary)"
    term_based = True
    numbers_severity = "warning"

    def _parse(self, rule: str) -> RuleNode:
        return _parsed(rule)

    def canonical(self, rule: str) -> str:
        try:
            return serialize(self.parse(rule))
        except RuleSyntaxError:
            return super().canonical(rule)

    def unknown_names(self, rule: str) -> list[str]:
        return [n.label for n in self.parse(rule).walk()
                if n.kind == "term" and n.label and n.label not in KNOWN_NAMES]
