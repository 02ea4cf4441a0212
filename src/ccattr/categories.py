"""Word categorizer for building-regulation clauses, used by attribution and statistics.

:func:`segment` splits a clause into :class:`Unit` s -- character spans into the clause -- and
gives each one of the :data:`CATEGORIES`.  Two levels:

* ``"word"``: every whitespace-separated word, with leading/trailing punctuation split off as
  its own ``punct`` unit (``"mm."`` -> ``mm`` + ``.``).  Tokens such as ``4.2.3``, ``1.5``,
  ``m2``, ``C/AS1``, ``G13/AS2``, ``900-1200``, ``1:12`` and ``L/s`` stay whole; a number glued
  to a unit is split (``1200mm`` -> ``1200`` + ``mm``).
* ``"span"``: multi-word units are merged: a number with its unit(s) (``1200 mm``, ``5 per
  cent``) -> one ``number``; a reference (``Table 1.2``, ``Clause D1.3.3``, ``NZS 4121``,
  ``AS/NZS 3500.2``, ``No. 4``) -> one ``rule_id``; ``not less than`` -> one ``comparator``;
  ``shall not`` / ``need not`` / ``not permitted`` -> one ``deontic``.

At word level the words of such a phrase all take the phrase's category: ``Table`` and ``1.2``
are ``rule_id``; ``not`` is ``comparator`` in "not less than", ``deontic`` in "shall not" and
``negation`` on its own.

Decisions worth knowing (they are the same at both levels):

* Exception markers ``except``, ``unless``, ``without``, ``excluding`` are ``negation``: the
  rule notation encodes them as ``not(...)`` of a condition.
* ``not``/``no`` directly before a comparator phrase belong to the comparator ("not less than",
  "no more than", "not exceed"): "shall not exceed X" is an *obligation* of ``<= X``, so there
  ``shall`` is ``deontic`` and ``not exceed`` is ``comparator``.
* Quantifiers (``every``, ``each``, ``all``, ``any``) are ``comparator``.
* Ambiguous unit symbols (``m``, ``s``, ``h``, ``A``, ``min``, ``minutes``, ``hours``, ...) are
  ``unit`` only right after a number; unambiguous ones (``mm``, ``kPa``, ``m2``, ``%``, ``°C``,
  ``L/s``, ``metres``...) are ``unit`` anywhere.
* ``need`` is ``deontic`` only before ``not``/``only``/``to``/``be`` ("the need for" is an
  entity).
* A leading clause number (``4.2.3 The ...``, ``C3.2.1 Where ...``) and any dotted number with
  two or more dots are ``rule_id``; ``1.5 m`` at the start of a clause is a number.

>>> [(u.text, u.category) for u in segment("Ramps shall not exceed 1:12.", "span")]
[('Ramps', 'entity'), ('shall', 'deontic'), ('not exceed', 'comparator'), ('1:12', 'number'), ('.', 'punct')]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["CATEGORIES", "LEVELS", "Unit", "categorize", "category_of", "segment"]

#: Category names, in a fixed order (use it for tables and plots).
CATEGORIES: tuple[str, ...] = (
    "number",  # 1200, 1.5, 900-1200, 1:12, 1/2, three; at span level a number with its unit
    "unit",  # mm, m2, kPa, %, °C, L/s, minutes (ambiguous ones only after a number)
    "rule_id",  # clause numbers and cross-references: 4.2.3, D1.3.3, Table 1.2, C/AS1, NZS 4121
    "deontic",  # shall, must, may, should, required, permitted, prohibited; shall not, need not
    "comparator",  # comparators and quantifiers: not less than, at least, maximum, every, each
    "negation",  # not, no, never, without, except, unless, nor, none
    "entity",  # domain entities / content words: stair, handrail, accessible, route
    "function",  # function words: the, of, to, be, where, if, and
    "punct",  # punctuation and other symbols
)

#: Segmentation levels accepted by :func:`segment`.
LEVELS: tuple[str, ...] = ("word", "span")


@dataclass(frozen=True)
class Unit:
    """A segment of a clause: ``text == clause[start:end]``."""

    text: str
    start: int
    end: int
    category: str


# --------------------------------------------------------------------------------------------
# Lexicons (lower-case unless noted)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


DEONTIC_WORDS = _words(
    "shall must may should ought required require requires permitted permissible "
    "prohibited allowed mandatory obligatory obliged"
)
#: "need" is deontic only when followed by one of these ("need not", "need only", "needs to").
NEED_WORDS = frozenset({"need", "needs"})
NEED_FOLLOWERS = frozenset({"not", "only", "to", "be"})
DEONTIC_PHRASES = (
    "shall not",
    "must not",
    "may not",
    "should not",
    "need not",
    "needs not",
    "not permitted",
    "not required",
    "not allowed",
)

NEGATION_WORDS = _words("not no never without except unless excluding neither nor none nothing cannot")

COMPARATOR_WORDS = _words(
    "maximum minimum max min exceed exceeds exceeded exceeding between every each all any "
    "least most less more fewer greater than"
)
COMPARATOR_PHRASES = (
    "not less than",
    "not more than",
    "not greater than",
    "not fewer than",
    "not exceeding",
    "not exceed",
    "not to exceed",
    "no less than",
    "no more than",
    "no greater than",
    "no fewer than",
    "at least",
    "at most",
    "more than",
    "less than",
    "greater than",
    "fewer than",
    "smaller than",
    "larger than",
    "up to",
    "equal to",
    "in excess of",
    "or more",
    "or less",
    "or greater",
    "or fewer",
)

FUNCTION_WORDS = _words(
    """
    a an the this that these those it its they them their there here which who whom whose
    what of to in on at by for with from into onto upon over under above below through
    throughout across along about against around before after during until via within per
    up down out off as than and or and/or but so if then else where when whenever wherever
    while whether whichever such other another same both either only also be is are was were
    been being am has have had having do does did can could will would i.e. e.g. etc.
    """
)

NUMBER_WORDS = _words(
    """
    zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty
    ninety hundred thousand million half dozen
    """
)

#: Units that are units anywhere (case-sensitive symbols, and lower-case words).
UNITS = _words(
    """
    mm cm km m2 m3 m² m³ mm2 mm² cm2 ha kPa Pa MPa GPa kN kN/m2 N/m2 kg kg/m2 kg/m3 kg/m² kg/m³
    L/s l/s L/min m/s m3/s m³/s m3/h ml mL mg µg kW kWh W/m2K W/m²K W/mK W/m2 W/m² MJ kJ Hz kHz dB dBA
    dB(A) lux lx mA % ‰ °C °F mm/m
    millimetre millimetres millimeter millimeters centimetre centimetres metre metres meter
    meters kilometre kilometres kilogram kilograms kilopascal kilopascals pascal pascals litre
    litres liter liters lumens watts decibels percent
    """
)
#: Units only right after a number ("1.5 m", "60 min", "2 hours"; "hours of darkness" is not).
CONTEXT_UNITS = _words(
    """
    m s h g N K L A V W C ° min mins minute minutes hr hrs hour hours sec secs second
    seconds day days week weeks month months year years degree degrees
    """
)
UNIT_PHRASES = (
    "per cent",
    "square metres",
    "square metre",
    "square meters",
    "cubic metres",
    "cubic metre",
    "litres per second",
    "liters per second",
    "metres per second",
    "degrees celsius",
)

#: Words introducing a reference when followed by an identifier ("Table 1.2", "No. 4").
REFERENCE_NOUNS = _words(
    """
    table tables clause clauses subclause figure figures fig. figs. section sections part
    parts appendix appendices annex schedule paragraph item regulation regulations note
    volume chapter article no. nos. cl.
    """
)
#: Plural reference nouns also take a list: "Tables 1.2 and 1.3", "Clauses D1.1, D1.2 or D1.4".
PLURAL_REFERENCE_NOUNS = _words("tables clauses figures figs. sections parts appendices regulations nos.")
_LIST_SEPARATORS = frozenset({",", "and", "or", "to"})
#: Standards bodies (case-sensitive): "NZS 4121", "AS/NZS 3500.2", "BS EN 1364".
STANDARD_BODIES = _words("NZS AS AS/NZS NZS/AS BS EN ISO IEC ASTM ANSI NFPA DIN CSA UL")

# --------------------------------------------------------------------------------------------
# Patterns

_NUM = r"\d+(?:,\d{3})*(?:\.\d+)?"
_NUMBER_RE = re.compile(rf"[-−+]?{_NUM}(?:[-–:/]{_NUM})?(?:st|nd|rd|th)?|\d*[½¼¾⅓⅔]", re.UNICODE)
_DOTTED_ID_RE = re.compile(r"\d+(?:\.\d+){2,}[a-z]?")  # 4.2.3 -- never a quantity
_LEADING_ID_RE = re.compile(r"[A-Z]{0,3}\d+(?:\.\d+)+[a-z]?")  # 4.2 / C3.2.1 at clause start
_ID_RE = re.compile(  # D1.3.3, G13, C3.2.1, G13/AS2, C/AS1, B1/VM1, AS/NZS
    r"[A-Z][A-Za-z]{0,3}\d+(?:\.\d+)*[a-z]?(?:/[A-Z]+\d*(?:\.\d+)*)*"
    r"|[A-Z]+(?:/[A-Z]+\d*(?:\.\d+)*)+"
)
_REF_TARGET_RE = re.compile(  # what may follow a reference noun: 1.2, 3, D1.3.3, A, IV
    r"\d+(?:\.\d+)*[a-z]?|[A-Z]{1,3}\d+(?:\.\d+)*[a-z]?|[A-Z]|[IVX]+"
)
_STANDARD_NUMBER_RE = re.compile(r"\d+(?:[.:\-]\d+)*")
_GLUED_UNIT_RE = re.compile(r"([-−+]?\d+(?:\.\d+)?)(\D.*)")  # 1200mm, 60min, 0.9m2

_TOKEN_RE = re.compile(
    r"""
    (?P<abbr>(?<!\w)(?:e\.g\.|i\.e\.|etc\.|(?:No|no|Nos|Fig|Figs|Cl|cl)\.(?=\s*\d)))
  | (?P<unit>dB\(A\)|°[CF])
  | (?P<word>(?:(?<!\w)[-−+](?=\d))?\w(?:[\w./:&'’\-–]*\w)?)
  | (?P<sym>\S)
    """,
    re.VERBOSE,
)


def _phrase_table(phrases) -> dict[str, list[tuple[str, ...]]]:
    """First word -> phrases (as word tuples) starting with it, longest first."""
    table: dict[str, list[tuple[str, ...]]] = {}
    for phrase in sorted((tuple(p.split()) for p in phrases), key=len, reverse=True):
        table.setdefault(phrase[0], []).append(phrase)
    return table


_COMPARATOR_TABLE = _phrase_table(COMPARATOR_PHRASES)
_DEONTIC_TABLE = _phrase_table(DEONTIC_PHRASES)
_UNIT_TABLE = _phrase_table(UNIT_PHRASES)


def _is_unit(word: str) -> bool:
    """A unit anywhere: a listed one, or a compound of units ("kW/m2", "µg/m3", "m3/h.m2")."""
    if word in UNITS or word.lower() in UNITS:
        return True
    parts = re.split(r"[/.·]", word) if "/" in word else []
    return bool(parts) and all(p in UNITS or p in CONTEXT_UNITS for p in parts)


def _is_context_unit(word: str) -> bool:
    return word in CONTEXT_UNITS or word.lower() in CONTEXT_UNITS


def _is_number(word: str) -> bool:
    low = word.lower()
    return bool(_NUMBER_RE.fullmatch(word)) or all(p in NUMBER_WORDS for p in low.split("-"))


# --------------------------------------------------------------------------------------------
# Tokenizing


def _tokenize(clause: str) -> list[tuple[int, int]]:
    """Character spans of the word-level tokens."""
    spans = []
    for m in _TOKEN_RE.finditer(clause):
        start, end = m.span()
        glued = _GLUED_UNIT_RE.fullmatch(m.group()) if m.lastgroup == "word" else None
        if glued and (_is_unit(glued[2]) or _is_context_unit(glued[2])):
            spans += [(start, start + len(glued[1])), (start + len(glued[1]), end)]
        else:
            spans.append((start, end))
    return spans


class _Labeler:
    """Assigns a category and a span group to each token, pass by pass (first pass wins)."""

    def __init__(self, words: list[str]):
        self.words = words
        self.low = [w.lower() for w in words]
        self.cats: list[str | None] = [None] * len(words)
        self.groups = list(range(len(words)))  # tokens with equal group form one span

    def free(self, i: int, j: int) -> bool:
        return i >= 0 and j <= len(self.words) and all(c is None for c in self.cats[i:j])

    def label(self, i: int, j: int, category: str) -> None:
        for k in range(i, j):
            self.cats[k] = category
            self.groups[k] = self.groups[i]

    def phrases(self, table: dict[str, list[tuple[str, ...]]], category: str) -> None:
        i = 0
        while i < len(self.words):
            for phrase in table.get(self.low[i], ()):
                j = i + len(phrase)
                if tuple(self.low[i:j]) == phrase and self.free(i, j):
                    self.label(i, j, category)
                    i = j - 1
                    break
            i += 1

    def comparatives(self) -> None:
        """``[not|no] <word>er than`` ("no steeper than", "wider than"); not "other/rather than"."""
        for i in range(1, len(self.words)):
            if self.low[i] == "than" and self.low[i - 1].endswith("er"):
                if self.low[i - 1] in ("other", "rather"):
                    continue
                start = i - 2 if i > 1 and self.low[i - 2] in ("not", "no") else i - 1
                if self.free(start, i + 1):
                    self.label(start, i + 1, "comparator")

    def rule_ids(self) -> None:
        words, n = self.words, len(self.words)
        if (
            n > 1
            and _LEADING_ID_RE.fullmatch(words[0])
            and words[1][:1].isupper()
            and not (_is_unit(words[1]) or _is_context_unit(words[1]))  # "0.2 L/s" is a quantity
        ):
            self.label(0, 1, "rule_id")
        for i, w in enumerate(words):
            if not self.free(i, i + 1):
                continue
            if self.low[i] in REFERENCE_NOUNS and i + 1 < n and _REF_TARGET_RE.fullmatch(words[i + 1]):
                self.label(i, i + 2, "rule_id")
                j = i + 2
                while self.low[i] in PLURAL_REFERENCE_NOUNS and j + 1 < n and self.free(j, j + 2):
                    if self.low[j] not in _LIST_SEPARATORS or not _REF_TARGET_RE.fullmatch(words[j + 1]):
                        break
                    if j + 2 < n and (_is_unit(words[j + 2]) or _is_context_unit(words[j + 2])):
                        break  # "Tables 1.2 and 5 m": a quantity, not a reference
                    self.label(j + 1, j + 2, "rule_id")  # the separator is left to later passes
                    j += 2
            elif w in STANDARD_BODIES:
                j = i + 1
                while j < n and words[j] in STANDARD_BODIES:  # BS EN 1364
                    j += 1
                if j < n and _STANDARD_NUMBER_RE.fullmatch(words[j]):
                    j += 1
                self.label(i, j, "rule_id")
            elif (_DOTTED_ID_RE.fullmatch(w) or _ID_RE.fullmatch(w)) and not _is_unit(w):
                self.label(i, i + 1, "rule_id")

    def singles(self) -> None:
        for i, (w, low) in enumerate(zip(self.words, self.low, strict=True)):
            if self.cats[i] is not None:
                continue
            after_number = i > 0 and self.cats[i - 1] == "number"
            nxt = self.low[i + 1] if i + 1 < len(self.low) else ""
            if _is_number(w):
                cat = "number"
            elif _is_unit(w) or (after_number and _is_context_unit(w)):
                cat = "unit"
            elif low in DEONTIC_WORDS or (low in NEED_WORDS and nxt in NEED_FOLLOWERS):
                cat = "deontic"
            elif low in NEGATION_WORDS:
                cat = "negation"
            elif low in COMPARATOR_WORDS:
                cat = "comparator"
            elif low in FUNCTION_WORDS:
                cat = "function"
            elif not any(c.isalnum() for c in w):
                cat = "punct"
            else:
                cat = "entity"
            self.cats[i] = cat

    def attach_units(self) -> None:
        """Put each number and the units right after it into one span group.

        A group's id is the index of its first token, and its tokens are contiguous.
        """
        n = len(self.words)
        for i in range(1, n):
            number_group = self.groups[i - 1]
            if self.cats[i] == "unit" and self.cats[number_group] == "number":
                g, k = self.groups[i], i
                while k < n and self.groups[k] == g:
                    self.groups[k] = number_group
                    k += 1


def segment(clause: str, level: str = "word") -> list[Unit]:
    """Split ``clause`` into categorized :class:`Unit` s, in order.

    The units do not overlap, ``unit.text == clause[unit.start:unit.end]``, and together they
    cover every non-whitespace character of the clause.

    >>> [(u.text, u.category) for u in segment("4.2.3 Width not less than 1200 mm.")]
    [('4.2.3', 'rule_id'), ('Width', 'entity'), ('not', 'comparator'), ('less', 'comparator'), ('than', 'comparator'), ('1200', 'number'), ('mm', 'unit'), ('.', 'punct')]
    >>> [(u.text, u.category) for u in segment("Stairs need not comply with Table 1.2.", "span")]
    [('Stairs', 'entity'), ('need not', 'deontic'), ('comply', 'entity'), ('with', 'function'), ('Table 1.2', 'rule_id'), ('.', 'punct')]
    """
    if not isinstance(clause, str):
        raise TypeError(f"clause must be a str, not {type(clause).__name__}")
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; expected one of {LEVELS}")
    spans = _tokenize(clause)
    lab = _Labeler([clause[s:e] for s, e in spans])
    lab.rule_ids()
    lab.phrases(_COMPARATOR_TABLE, "comparator")
    lab.comparatives()
    lab.phrases(_DEONTIC_TABLE, "deontic")
    lab.phrases(_UNIT_TABLE, "unit")
    lab.singles()
    if level == "word":
        return [Unit(clause[s:e], s, e, c) for (s, e), c in zip(spans, lab.cats, strict=True)]
    lab.attach_units()
    units: list[Unit] = []
    for i, (s, e) in enumerate(spans):
        if i > 0 and lab.groups[i] == lab.groups[i - 1]:
            last = units[-1]
            units[-1] = Unit(clause[last.start : e], last.start, e, last.category)
        else:
            units.append(Unit(clause[s:e], s, e, lab.cats[i]))
    return units


def categorize(clause: str, level: str = "word") -> list[Unit]:
    """Alias of :func:`segment`."""
    return segment(clause, level)


def category_of(word: str) -> str:
    """The category of a word or multi-word unit taken out of context.

    Context-dependent words get their context-free reading: a bare ``m`` is an ``entity`` (it
    is a unit only after a number) and ``not`` is ``negation``.

    >>> [category_of(w) for w in ["1.5", "kPa", "G13/AS2", "shall", "unless", "each", "stair", "the", ";"]]
    ['number', 'unit', 'rule_id', 'deontic', 'negation', 'comparator', 'entity', 'function', 'punct']
    >>> category_of("not less than"), category_of("Table 1.2"), category_of("900-1200 mm")
    ('comparator', 'rule_id', 'number')

    Raises ``ValueError`` if ``word`` is empty or is more than one unit (``"mm."``).
    """
    units = segment(word, "span")
    if len(units) != 1:
        raise ValueError(f"{word!r} is {len(units)} units, not one")
    return units[0].category
