"""The ``python`` notation: rules are Python code (rule -> script pairs, as some groups publish
them). A rule is valid when :func:`ast.parse` accepts it; its tree is the AST's: calls and
statements are terms, constants are numbers or names, and string constants or names that
name a rule ("Table 1.2", "nzbc_e2as1_t7") are identifiers. Exact match compares
``ast.unparse`` forms, so layout and comments do not count."""

from __future__ import annotations

import ast
import re
from functools import lru_cache

from ccattr.notations.base import Notation, RuleNode, RuleSyntaxError

# Names that reference a document part: nzbc_e2as1_t7, nzbc_g13as2 (underscore + digit).
_REFERENCE_NAME = re.compile(r"[a-z][a-z0-9]*_[a-z0-9_.]*[0-9][a-z0-9_.]*")


def _char_offset(lines: list[str], starts: list[int], lineno: int, col: int) -> int:
    """Offset in the text of an ast position (1-based line, column in UTF-8 bytes)."""
    line = lines[lineno - 1] if lineno <= len(lines) else ""
    return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", errors="ignore"))


def _is_reference(text: str) -> bool:
    from ccattr.categories import segment

    if _REFERENCE_NAME.fullmatch(text):
        return True
    return bool(text.strip()) and any(u.category == "rule_id" for u in segment(text, "span"))


class PythonNotation(Notation):
    name = "python"
    description = "Python code (valid when ast.parse accepts it)"
    numbers_severity = "warning"

    def _parse(self, rule: str) -> RuleNode:
        return _parsed(rule)

    def canonical(self, rule: str) -> str:
        try:
            return ast.unparse(ast.parse(rule))
        except (SyntaxError, ValueError):
            return super().canonical(rule)


@lru_cache(maxsize=4096)
def _parsed(rule: str) -> RuleNode:
    lines = rule.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    try:
        tree = ast.parse(rule)
    except SyntaxError as err:
        line = min(max(1, err.lineno or 1), max(1, len(lines)))
        pos = min(len(rule), starts[line - 1] + max(0, (err.offset or 1) - 1))
        raise RuleSyntaxError(f"{err.msg} at column {err.offset or 1} of line {line}", rule, pos) from None
    except ValueError as err:  # e.g. a NUL byte
        raise RuleSyntaxError(str(err), rule, 0) from None

    def span(node: ast.AST) -> tuple[int, int]:
        if getattr(node, "lineno", None) is None:
            return 0, len(rule)
        return (_char_offset(lines, starts, node.lineno, node.col_offset),
                _char_offset(lines, starts, node.end_lineno or node.lineno, node.end_col_offset or 0))

    def convert(node: ast.AST) -> RuleNode:
        s, e = span(node)
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or v is None:
                return RuleNode("name", repr(v), s, e)
            if isinstance(v, int | float):
                return RuleNode("number", rule[s:e], s, e)
            if isinstance(v, str) and _is_reference(v):
                return RuleNode("identifier", v, s, e)
            return RuleNode("name", str(v), s, e)
        if isinstance(node, ast.Name):
            return RuleNode("identifier" if _is_reference(node.id) else "name", node.id, s, e)
        if isinstance(node, ast.Attribute):
            return RuleNode("name", ast.unparse(node), s, e)
        label = type(node).__name__
        if isinstance(node, ast.Call):
            label = ast.unparse(node.func)
        children = tuple(convert(c) for c in ast.iter_child_nodes(node)
                         if not isinstance(c, ast.expr_context | ast.operator | ast.cmpop | ast.boolop
                                           | ast.unaryop)
                         and not (isinstance(node, ast.Call) and c is node.func))
        return RuleNode("term", label, s, e, children)

    root = convert(tree)
    return RuleNode("term", "Module", 0, len(rule), root.children)
