"""Rule notations: how the rules of a corpus are written, behind one interface.

``corpus.notation`` (or a file's own ``notation`` in ``corpus.files``) names one of
:data:`NOTATIONS`; :func:`get` returns it::

    >>> from ccattr import notations
    >>> lrml = notations.get("lrml")
    >>> lrml.is_valid("if(is(gutter.type,internal)),then(obligation(greaterThanEqual(gutter.slope,1/100)))")
    True
    >>> lrml.numbers("if(exist(gutter)),then(obligation(greaterThanEqual(gutter.slope,1/100)))")
    ['1/100']
    >>> notations.get("ccattr").is_valid("obligation(atom(fun(has),var(stair),data(handrail)))")
    True

Adding a notation means adding one module with a :class:`~ccattr.notations.base.Notation`
subclass and one line here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache

from ccattr.notations.base import Notation, RuleNode, RuleSyntaxError
from ccattr.notations.ccattr import CcattrNotation
from ccattr.notations.lrml import LrmlNotation
from ccattr.notations.python import PythonNotation
from ccattr.notations.text import TextNotation

__all__ = ["DEFAULT", "NOTATIONS", "Notation", "RuleNode", "RuleSyntaxError", "get", "label"]

#: Every notation by its ``corpus.notation`` name.
NOTATIONS: dict[str, type[Notation]] = {
    cls.name: cls for cls in (CcattrNotation, LrmlNotation, PythonNotation, TextNotation)
}
DEFAULT = "ccattr"


@cache
def get(name: str) -> Notation:
    """The notation called ``name``; ``ValueError`` naming the choices for any other name."""
    try:
        return NOTATIONS[name]()
    except KeyError:
        raise ValueError(f"unknown notation {name!r}; expected one of {', '.join(NOTATIONS)}") from None


def label(names: Iterable[str]) -> str:
    """How a set of records' notations reads: ``lrml``, or ``mixed (ccattr 12, lrml 4)``."""
    counts = Counter(names)
    if len(counts) == 1:
        return next(iter(counts))
    return "mixed (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"
