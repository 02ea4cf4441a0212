"""Corpus validation with Great Expectations: one suite, defined in code, every expectation
tagged with a severity (``error`` stops the pipeline, ``warning`` is reported only).

:func:`validate_split` runs the suite on a train/test split (the two halves stacked into one
batch with a ``split`` column and a few derived columns), optionally builds Data Docs, and
returns a :class:`ValidationResult`. :func:`validate_corpus` is the whole ``validate_corpus``
stage minus the writing: load -> (truncate) -> split -> validate -> caps.

Derived columns (computed here in pandas, checked by GE):

* ``rule_parses`` -- the rule is valid in the record's notation (:mod:`ccattr.notations`);
* ``numbers_consistent`` -- the notation's ``missing_numbers`` is empty (``ccattr``: literally;
  ``lrml`` and the others: in any equivalent form, "5%" for ``0.05``);
* ``names_known`` -- every term name is in the notation's known vocabulary (``lrml``);
* ``units_consistent`` -- (``ccattr`` notation) a data value ``<number> <unit>`` with a known
  unit (``mm``, ``min``, ``m2``, ``%``, ``L/s``...) has the number followed by that unit or its
  long form in the clause;
* ``quotes_balanced`` -- even count of ``"``, as many ``“`` as ``”``;
* ``leaked`` -- the clause has a near-identical twin on the other side of the split
  (:func:`find_leaks`);
* ``is_test`` (0/1; its mean is the realised test fraction), ``document_one_side``,
  ``topic_balance``, ``test_topic_in_train``, ``rule_unique_to_clause``, ``clause_unique``.

A derived value is null when its inputs are missing or not text (so a null rule fails
``schema.not_null.rule`` only, not ``rules.parse`` too); ``numbers_consistent`` is null for a
rule that does not parse, ``units_consistent`` unless the numbers are consistent.

Great Expectations is imported lazily (it takes seconds), so ``import ccattr.validation`` is
cheap.
"""

from __future__ import annotations

import difflib
import os
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ccattr import notations
from ccattr.config import CorpusParams
from ccattr.corpus import (
    REQUIRED_FIELDS,
    apply_caps,
    load_corpus,
    split_corpus,
    truncate_clauses,
)

# GX would otherwise try to send usage statistics (the machines running the pipeline are offline).
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

__all__ = [
    "CHECKS",
    "Check",
    "CorpusValidation",
    "Issue",
    "ValidationResult",
    "derive_columns",
    "expectation_specs",
    "find_leaks",
    "normalize_clause",
    "print_report",
    "validate_corpus",
    "validate_split",
]

MAX_IDS = 5
#: Clauses shorter than this draw the ``text.short_clause`` warning.
MIN_CLAUSE_CHARS = 20
#: Near-identical clauses: difflib ratio of the normalized texts at least this.
NEAR_DUPLICATE_RATIO = 0.95
#: ``balance.topic_share``: a topic's size over the mean topic size must lie in this range.
TOPIC_BALANCE = (0.25, 4.0)
# C0 and C1 control characters (tab and newline included: records are one-line text).
CONTROL_CHARS = r"[\x00-\x1f\x7f-\x9f]"
SUITE_NAME = "ccattr_corpus"

# Long forms a clause may use for a unit the rule abbreviates (notation: CONSISTENCY).
UNIT_FORMS: dict[str, tuple[str, ...]] = {
    "mm": ("mm", "millimetre", "millimetres", "millimeter", "millimeters"),
    "m": ("m", "metre", "metres", "meter", "meters"),
    "m2": ("m2", "m²", "square metre", "square metres", "square meter", "square meters", "sq m"),
    "m3": ("m3", "m³", "cubic metre", "cubic metres", "cubic meter", "cubic meters"),
    "min": ("min", "mins", "minute", "minutes"),
    "s": ("s", "sec", "second", "seconds"),
    "h": ("h", "hr", "hrs", "hour", "hours"),
    "%": ("%", "per cent", "percent"),
    "L/s": ("L/s", "l/s", "litres per second", "liters per second", "litre per second"),
    "kPa": ("kPa", "kilopascal", "kilopascals"),
    "kg": ("kg", "kilogram", "kilograms"),
    "lx": ("lx", "lux"),
}


# ---------------------------------------------------------------------------------------------
# The suite


@dataclass(frozen=True)
class Check:
    """One expectation of the suite: our name, severity and the GE expectation to build."""

    name: str
    severity: str  # "error" | "warning"
    group: str
    description: str
    expectation: str  # class name in great_expectations.expectations
    kwargs: dict[str, Any]

    def build(self):
        import great_expectations as gx

        cls = getattr(gx.expectations, self.expectation)
        return cls(**self.kwargs, description=self.description,
                   severity="critical" if self.severity == "error" else "warning",
                   meta={"name": self.name, "severity": self.severity, "group": self.group})


def numbers_severity(params: CorpusParams) -> str:
    """``corpus.numbers_severity``, else the default of ``corpus.notation``."""
    return params.numbers_severity or notations.get(params.notation).numbers_severity


def expectation_specs(params: CorpusParams | None = None) -> list[Check]:
    """The expectation suite for ``params`` (defaults: ``CorpusParams()``), in run order."""
    p = params or CorpusParams()
    out: list[Check] = []
    nums = numbers_severity(p)

    def add(name, severity, description, expectation, **kwargs):
        out.append(Check(name, severity, name.split(".")[0], description, expectation, kwargs))

    add("schema.required_columns", "error", "every record field is present: " + ", ".join(REQUIRED_FIELDS),
        "ExpectTableColumnsToMatchSet", column_set=list(REQUIRED_FIELDS), exact_match=False)
    for f in REQUIRED_FIELDS:
        add(f"schema.not_null.{f}", "error", f"`{f}` is never null",
            "ExpectColumnValuesToNotBeNull", column=f)
        add(f"schema.string.{f}", "error", f"`{f}` is a string",
            "ExpectColumnValuesToBeOfType", column=f, type_="str")
        add(f"schema.not_blank.{f}", "error", f"`{f}` is not empty or blank",
            "ExpectColumnValuesToMatchRegex", column=f, regex=r"\S")
    add("schema.unique_id", "error", "ids are unique over train and test",
        "ExpectColumnValuesToBeUnique", column="id")
    add("text.clause_length", "error", f"clauses have 1..{p.max_clause_chars} characters (max_clause_chars)",
        "ExpectColumnValueLengthsToBeBetween", column="clause", min_value=1, max_value=p.max_clause_chars)
    rule_max = max(2000, 4 * p.max_clause_chars)
    add("text.rule_length", "error", f"rules have 1..{rule_max} characters",
        "ExpectColumnValueLengthsToBeBetween", column="rule", min_value=1, max_value=rule_max)
    for f in REQUIRED_FIELDS:
        add(f"text.no_control_chars.{f}", "error", f"`{f}` holds no control characters (incl. tab, newline)",
            "ExpectColumnValuesToNotMatchRegex", column=f, regex=CONTROL_CHARS)
    add("text.balanced_quotes", "error", 'clauses have balanced quotes (even count of ", “ matched by ”)',
        "ExpectColumnValuesToBeInSet", column="quotes_balanced", value_set=[True])
    add("rules.parse", "error", f"rules parse in their notation (corpus.notation: {p.notation})",
        "ExpectColumnValuesToBeInSet", column="rule_parses", value_set=[True])
    add("consistency.numbers", nums, "every number of a rule appears in its clause"
        + (" (literally)" if p.notation == "ccattr" else " (in an equivalent form: 5% for 0.05, 1:100 for 1/100)"),
        "ExpectColumnValuesToBeInSet", column="numbers_consistent", value_set=[True])
    add("leakage.clause_overlap", "error",
        "no clause has an identical or near-identical twin on the other side of the split",
        "ExpectColumnValuesToBeInSet", column="leaked", value_set=[False])
    if p.split != "fixed":  # a fixed split is taken as published, whatever its share
        lo, hi = max(0.0, p.test_fraction - p.split_tolerance), min(1.0, p.test_fraction + p.split_tolerance)
        add("split.test_fraction", "error",
            f"the test share is {p.test_fraction} ± {p.split_tolerance} (test_fraction ± split_tolerance)",
            "ExpectColumnMeanToBeBetween", column="is_test", min_value=lo, max_value=hi)
    if p.split == "document" or (p.split == "fixed" and p.test_documents):
        add("split.document_one_side", "error", "each document lies wholly in train or wholly in test",
            "ExpectColumnValuesToBeInSet", column="document_one_side", value_set=[True])
    add("consistency.units", "warning", "a number with a unit in the rule has the same unit in the clause",
        "ExpectColumnValuesToBeInSet", column="units_consistent", value_set=[True])
    add("rules.known_names", "warning", "term names are in the notation's known vocabulary (an unknown "
        "name is valid, and counted)", "ExpectColumnValuesToBeInSet", column="names_known", value_set=[True])
    add("text.short_clause", "warning", f"clauses have at least {MIN_CLAUSE_CHARS} characters",
        "ExpectColumnValueLengthsToBeBetween", column="clause", min_value=MIN_CLAUSE_CHARS)
    add("balance.topic_share", "warning",
        f"each topic has {TOPIC_BALANCE[0]}..{TOPIC_BALANCE[1]} times the mean topic size",
        "ExpectColumnValuesToBeBetween", column="topic_balance",
        min_value=TOPIC_BALANCE[0], max_value=TOPIC_BALANCE[1])
    add("balance.test_topic_in_train", "warning", "every test topic also occurs in train",
        "ExpectColumnValuesToBeInSet", column="test_topic_in_train", value_set=[True])
    add("duplicates.rule_reused", "warning", "a rule is not shared by clauses with different text",
        "ExpectColumnValuesToBeInSet", column="rule_unique_to_clause", value_set=[True])
    add("duplicates.clause_within_split", "warning", "no near-identical clauses on the same side",
        "ExpectColumnValuesToBeInSet", column="clause_unique", value_set=[True])
    return out


#: The suite for the default parameters (for documentation and ``--help``).
CHECKS: list[Check] = expectation_specs()


# ---------------------------------------------------------------------------------------------
# Derived columns

_CLAUSE_NUMBER_PREFIX = re.compile(
    r"^\s*(?:clause\s+)?(?:[A-Z]{1,3}\d+(?:\.\d+)*|\d+(?:\.\d+)+)[a-z]?[.)]?\s+", re.IGNORECASE)


def normalize_clause(text: str) -> str:
    """Text for duplicate detection: leading clause number dropped, lowercased, punctuation
    and whitespace runs collapsed to one space.

    >>> normalize_clause("4.2.3  The clear width shall be NOT less than 1200 mm.")
    'the clear width shall be not less than 1200 mm'
    """
    text = _CLAUSE_NUMBER_PREFIX.sub("", text)
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def _similar(a: str, b: str) -> bool:
    if a == b:
        return True
    m = difflib.SequenceMatcher(None, a, b, autojunk=False)
    return (m.real_quick_ratio() >= NEAR_DUPLICATE_RATIO and m.quick_ratio() >= NEAR_DUPLICATE_RATIO
            and m.ratio() >= NEAR_DUPLICATE_RATIO)


def _near_pairs(left: list[str | None], right: list[str | None], same: bool) -> list[tuple[int, int]]:
    """Index pairs (i, j) with near-identical normalized texts; texts sharing their first three
    words are compared (``same``: pairs i < j within ``left``)."""
    blocks: dict[str, tuple[list[int], list[int]]] = defaultdict(lambda: ([], []))
    for side, texts in ((0, left), (1, right)):
        for i, t in enumerate(texts):
            if t is not None:
                blocks[" ".join(t.split()[:3])][side].append(i)
    pairs = []
    for a_idx, b_idx in blocks.values():
        if same:
            pairs += [(i, j) for n, i in enumerate(a_idx) for j in a_idx[n + 1:]
                      if _similar(left[i], left[j])]
        else:
            pairs += [(i, j) for i in a_idx for j in b_idx if _similar(left[i], right[j])]
    return pairs


def find_leaks(train_clauses: Iterable[Any], test_clauses: Iterable[Any]) -> list[tuple[int, int]]:
    """Positions ``(i_train, j_test)`` of clauses that are identical or near-identical: equal
    after :func:`normalize_clause`, or a difflib ratio >= 0.95 for texts sharing the first three
    normalized words."""
    norm = [[normalize_clause(t) if isinstance(t, str) else None for t in side]
            for side in (train_clauses, test_clauses)]
    return _near_pairs(norm[0], norm[1], same=False)


def _data_values(terms) -> Iterable[str]:
    from ccattr.notations.ccattr import Data, Expr

    for t in terms:
        if isinstance(t, Data):
            yield t.value
        elif isinstance(t, Expr):
            yield from _data_values(t.args)


def _units_ok(rule: str, clause: str) -> bool:
    from ccattr.notations.ccattr import rule_atoms

    for atom in rule_atoms(rule):
        for value in _data_values(atom.args):
            m = re.fullmatch(r"-?(\d+(?:\.\d+)?)\s*(\S.*)", value)
            if not m or m.group(2) not in UNIT_FORMS:
                continue
            number, unit = m.groups()
            forms = "|".join(re.escape(f) for f in sorted(UNIT_FORMS[unit], key=len, reverse=True))
            # "900 mm", and the unit shared by a range or a size: "900 and 1100 mm", "900-1100 mm"
            pattern = (rf"(?<![0-9.]){re.escape(number)}\s*(?:(?:and|to|or|by|x|×|-|–|,)\s*"
                       rf"\d+(?:\.\d+)?\s*)*(?:{forms})(?![A-Za-z0-9])")
            if not re.search(pattern, clause, flags=re.IGNORECASE):
                return False
    return True


def _ref_and_location(df: pd.DataFrame) -> tuple[list[str], list[str | None]]:
    refs = [v if isinstance(v, str) and v else f"<row {i}>" for i, v in enumerate(df["id"])]
    if "source_file" in df and "source_line" in df:
        locs = [f"{f}:{n}" if isinstance(f, str) else None
                for f, n in zip(df["source_file"], df["source_line"], strict=True)]
    else:
        locs = [None] * len(df)
    return refs, locs


def derive_columns(train: pd.DataFrame, test: pd.DataFrame, params: CorpusParams) -> pd.DataFrame:
    """Train and test stacked into one frame with ``split``, ``_ref`` (id or ``<row n>``),
    ``_loc`` (``file:line`` when known) and the derived columns the suite checks."""
    df = pd.concat([train.assign(split="train"), test.assign(split="test")], ignore_index=True)
    # a missing field stays missing in the batch (schema.required_columns reports it), but the
    # derived columns need something to read meanwhile
    absent = [f for f in REQUIRED_FIELDS if f not in df]
    for f in absent:
        df[f] = pd.Series([None] * len(df), dtype=object)
    refs, locs = _ref_and_location(df)
    df["_ref"], df["_loc"] = refs, pd.Series(locs, dtype=object)
    df["_row"] = range(len(df))
    df["is_test"] = (df["split"] == "test").astype("int64")

    def text(v: Any) -> str | None:
        return v if isinstance(v, str) else None

    clauses = [text(v) for v in df["clause"]]
    rules = [text(v) for v in df["rule"]]
    notas = [notations.get(n if isinstance(n, str) and n in notations.NOTATIONS else params.notation)
             for n in (df["notation"] if "notation" in df else [params.notation] * len(df))]
    parses = [None if r is None else nota.is_valid(r) for r, nota in zip(rules, notas, strict=True)]
    df["rule_parses"] = pd.Series(parses, dtype=object)
    df["numbers_consistent"] = pd.Series(
        [None if not ok or c is None else not nota.missing_numbers(r, c)
         for r, c, ok, nota in zip(rules, clauses, parses, notas, strict=True)], dtype=object)
    df["names_known"] = pd.Series(
        [not nota.unknown_names(r) if ok else None for r, ok, nota in zip(rules, parses, notas, strict=True)],
        dtype=object)
    df["units_consistent"] = pd.Series(  # only where the numbers agree (else that is the error)
        [_units_ok(r, c) if ok and nota.name == "ccattr" else None
         for r, c, ok, nota in zip(rules, clauses, df["numbers_consistent"], notas, strict=True)],
        dtype=object)
    df["quotes_balanced"] = pd.Series(
        [None if c is None else c.count('"') % 2 == 0 and c.count("“") == c.count("”")
         for c in clauses], dtype=object)

    norm = [None if c is None else normalize_clause(c) for c in clauses]
    is_test = df["is_test"].to_numpy()
    tr = [i for i in range(len(df)) if not is_test[i]]
    te = [i for i in range(len(df)) if is_test[i]]
    leaked = [False] * len(df)
    twin: list[str | None] = [None] * len(df)  # a near-identical clause, for the report
    for i, j in _near_pairs([norm[k] for k in tr], [norm[k] for k in te], same=False):
        leaked[tr[i]] = leaked[te[j]] = True
        twin[tr[i]], twin[te[j]] = twin[tr[i]] or refs[te[j]], twin[te[j]] or refs[tr[i]]
    df["leaked"] = pd.Series(leaked, dtype=object)
    unique = [None if c is None else True for c in clauses]
    for side in (tr, te):
        for i, j in _near_pairs([norm[k] for k in side], [], same=True):
            a, b = side[i], side[j]
            unique[a] = unique[b] = False
            if not leaked[a]:
                twin[a] = twin[a] or refs[b]
            if not leaked[b]:
                twin[b] = twin[b] or refs[a]
    df["clause_unique"] = pd.Series(unique, dtype=object)
    df["_twin"] = pd.Series(twin, dtype=object)

    rule_clauses: dict[str, set[str]] = defaultdict(set)
    for r, n in zip(rules, norm, strict=True):
        if r is not None and n is not None:
            rule_clauses[" ".join(r.split())].add(n)
    df["rule_unique_to_clause"] = pd.Series(
        [None if r is None or n is None else len(rule_clauses[" ".join(r.split())]) == 1
         for r, n in zip(rules, norm, strict=True)], dtype=object)

    docs = [None if pd.isna(d) else str(d) for d in df["document"]]
    sides: dict[str, set[int]] = defaultdict(set)
    for d, t in zip(docs, is_test, strict=True):
        if d is not None:
            sides[d].add(int(t))
    df["document_one_side"] = pd.Series([None if d is None else len(sides[d]) == 1 for d in docs],
                                        dtype=object)

    topics = [t.strip() if isinstance(t, str) and t.strip() else None for t in df["topic"]]
    counts = pd.Series([t for t in topics if t is not None]).value_counts()
    mean = counts.mean() if len(counts) else 1.0
    df["topic_balance"] = pd.Series([None if t is None else float(counts[t] / mean) for t in topics],
                                    dtype=object)
    train_topics = {t for t, s in zip(topics, is_test, strict=True) if t is not None and not s}
    df["test_topic_in_train"] = pd.Series(
        [None if t is None or not s else t in train_topics for t, s in zip(topics, is_test, strict=True)],
        dtype=object)
    return df.drop(columns=absent)


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Issue:
    """A failed expectation: our name, severity, how many rows failed and the first of them."""

    expectation: str
    severity: str
    description: str
    unexpected_count: int | None = None
    ids: list[str] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    observed: Any = None
    message: str | None = None
    details: list[str] = field(default_factory=list)
    """Per offending id (aligned with ``ids``): why it fails, e.g. the parse error."""

    def where(self) -> list[str]:
        """``id (file:line): detail`` for each offending id."""
        out = []
        for k, rid in enumerate(self.ids):
            loc = self.locations[k] if k < len(self.locations) else ""
            detail = self.details[k] if k < len(self.details) else ""
            out.append(rid + (f" ({loc})" if loc else "") + (f": {detail}" if detail else ""))
        return out

    def __str__(self) -> str:
        parts = [f"{self.expectation}: {self.description}"]
        if self.unexpected_count is not None:
            parts.append(f"{self.unexpected_count} record(s) fail")
        if self.observed is not None:
            parts.append(f"observed {self.observed}")
        if self.message:
            parts.append(self.message)
        text = "; ".join(parts)
        if self.ids:
            more = "\n      ..." if (self.unexpected_count or 0) > len(self.ids) else ""
            text += "".join(f"\n      {w}" for w in self.where()) + more
        return text


@dataclass
class ValidationResult:
    """Outcome of :func:`validate_split`. ``success`` is False iff there is an error."""

    success: bool
    errors: list[Issue]
    warnings: list[Issue]
    expectations: dict[str, dict[str, Any]]
    counts: dict[str, Any]
    docs_index: str | None = None

    def summary(self) -> dict[str, Any]:
        """JSON-able digest (the stage's ``results/validation/summary.json`` metric)."""
        return _jsonable({
            "success": self.success,
            **self.counts,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "expectations": self.expectations,
        })

    def report(self) -> str:
        """Plain-text report: one block per failed expectation, errors first."""
        c = self.counts
        head = (f"corpus validation {'passed' if self.success else 'FAILED'}: "
                f"{len(self.errors)} error(s), {len(self.warnings)} warning(s) -- "
                f"{c.get('n_train')} train / {c.get('n_test')} test records, "
                f"{c.get('n_documents')} documents, {c.get('n_topics')} topics")
        lines = [head]
        lines += [f"  ERROR   {issue}" for issue in self.errors]
        lines += [f"  WARNING {issue}" for issue in self.warnings]
        return "\n".join(lines)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    if isinstance(obj, float) and obj != obj:
        return None
    return obj if obj is None or isinstance(obj, str | int | float | bool) else str(obj)


def _explain(name: str, row: pd.Series, default_notation: str) -> str:
    """A short reason for one offending row of a derived-column check ("" when the id says it)."""
    nota = notations.get(row["notation"] if isinstance(row.get("notation"), str)
                         and row["notation"] in notations.NOTATIONS else default_notation)
    try:
        if name == "rules.parse":
            nota.parse(row["rule"])
        elif name == "consistency.numbers":
            return "not in the clause: " + ", ".join(nota.missing_numbers(row["rule"], row["clause"]))
        elif name == "rules.known_names":
            return "unknown: " + ", ".join(dict.fromkeys(nota.unknown_names(row["rule"])))
        elif name in ("leakage.clause_overlap", "duplicates.clause_within_split") and row["_twin"]:
            return f"like {row['_twin']}"
        elif name == "split.document_one_side":
            return f"document {row['document']!r}"
        elif name in ("balance.topic_share", "balance.test_topic_in_train"):
            return f"topic {row['topic']!r}"
        elif name in ("text.clause_length", "text.short_clause"):
            return f"{len(row['clause'])} characters"
    except notations.RuleSyntaxError as err:
        return err.reason
    except (TypeError, KeyError, ValueError):
        pass
    return ""


def _exception_message(info: Any) -> str | None:
    if not info:
        return None
    infos = [info] if "raised_exception" in info else [v for v in info.values() if isinstance(v, dict)]
    for i in infos:
        if i.get("raised_exception"):
            return str(i.get("exception_message") or "raised an exception").splitlines()[0]
    return None


def _gx_context(docs_dir: str | os.PathLike | None):
    """An ephemeral (in-memory) context; with ``docs_dir``, one Data Docs site stored there."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    sites = {}
    if docs_dir is not None:
        sites["ccattr_corpus"] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(docs_dir).resolve())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
        data_docs_sites=sites,
    )
    return gx.get_context(mode="ephemeral", project_config=config)


def validate_split(
    train: pd.DataFrame,
    test: pd.DataFrame,
    params: CorpusParams,
    docs_dir: str | os.PathLike | None = None,
) -> ValidationResult:
    """Run the suite of :func:`expectation_specs` on a split; build Data Docs into ``docs_dir``.

    Pass the split *before* ``max_train``/``max_test`` caps: the caps change the proportions on
    purpose, and every record of the corpus should be checked. Each failed expectation becomes
    an :class:`Issue` in ``errors`` or ``warnings`` with up to five offending ids (and their
    ``file:line`` when the frames come from :func:`ccattr.corpus.load_corpus`).
    """
    import great_expectations as gx

    df = derive_columns(train, test, params)
    checks = expectation_specs(params)
    context = _gx_context(docs_dir)

    batch = (context.data_sources.add_pandas("corpus").add_dataframe_asset("split")
             .add_batch_definition_whole_dataframe("train_and_test"))
    suite = context.suites.add(
        gx.ExpectationSuite(name=SUITE_NAME, expectations=[check.build() for check in checks]))
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name="validate_corpus", data=batch, suite=suite))
    run = definition.run(
        batch_parameters={"dataframe": df},
        result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_IDS,
                       "unexpected_index_column_names": ["_ref", "_loc", "_row"]},
    )

    by_name = {c.name: c for c in checks}
    errors: list[Issue] = []
    warnings: list[Issue] = []
    outcomes: dict[str, dict[str, Any]] = {}
    order = {c.name: k for k, c in enumerate(checks)}
    for res in sorted(run.results, key=lambda r: order[r.expectation_config.meta["name"]]):
        name = res.expectation_config.meta["name"]
        check = by_name[name]
        result = res.result or {}
        count = result.get("unexpected_count")
        observed = result.get("observed_value")
        if name == "schema.required_columns":
            observed = None
            missing = (result.get("details") or {}).get("mismatched", {}).get("missing") or []
            message = f"missing: {', '.join(missing)}" if missing else None
        else:
            message = _exception_message(res.exception_info)
        if message and name != "schema.required_columns":
            message = f"could not be evaluated: {message}"
        index = result.get("partial_unexpected_index_list") or []
        outcomes[name] = {"severity": check.severity, "success": bool(res.success),
                          "unexpected_count": count,
                          **({"observed": observed} if observed is not None else {})}
        if res.success:
            continue
        issue = Issue(
            expectation=name, severity=check.severity, description=check.description,
            unexpected_count=count,
            ids=[str(row.get("_ref")) for row in index[:MAX_IDS]],
            locations=[row.get("_loc") or "" for row in index[:MAX_IDS]],
            details=[_explain(name, df.iloc[int(row["_row"])], params.notation) if "_row" in row else ""
                     for row in index[:MAX_IDS]],
            observed=round(observed, 4) if isinstance(observed, float) else observed,
            message=message,
        )
        (errors if check.severity == "error" else warnings).append(issue)

    docs_index = None
    if docs_dir is not None:
        docs_index = str(Path(docs_dir) / "index.html")
        context.build_data_docs(site_names=["ccattr_corpus"])

    documents = df["document"].dropna().astype(str) if "document" in df else pd.Series([], dtype=str)
    topics = df["topic"].dropna().astype(str) if "topic" in df else pd.Series([], dtype=str)
    n = len(df)
    counts = {
        "n_records": n,
        "n_train": len(train),
        "n_test": len(test),
        "test_fraction": round(len(test) / n, 4) if n else None,
        "n_documents": int(documents.nunique()),
        "n_topics": int(topics.nunique()),
        "split": params.split,
        "seed": params.seed,
        **_rule_counts(df, params),
    }
    return ValidationResult(success=not errors, errors=errors, warnings=warnings,
                            expectations=outcomes, counts=counts, docs_index=docs_index)


def _rule_counts(df: pd.DataFrame, params: CorpusParams) -> dict[str, Any]:
    """Notation figures for the summary: the notation(s), how many rules fail to parse, how many
    use numbers their clause does not state, and the unknown term names with their counts."""
    from collections import Counter

    def n_false(col: str) -> int:
        return int(sum(v is False for v in df[col])) if col in df else 0

    unknown: Counter[str] = Counter()
    if "names_known" in df:
        for rule, nota, known in zip(df["rule"], df.get("notation", [params.notation] * len(df)),
                                     df["names_known"], strict=True):
            if known is False:
                unknown.update(notations.get(nota).unknown_names(rule))
    used = df["notation"].value_counts().to_dict() if "notation" in df else {params.notation: len(df)}
    return {"notation": params.notation, "notations": {str(k): int(v) for k, v in used.items()},
            "n_rules_unparsed": n_false("rule_parses"), "numbers_severity": numbers_severity(params),
            "n_numbers_inconsistent": n_false("numbers_consistent"),
            "n_unknown_names": int(sum(unknown.values())),
            "unknown_names": dict(unknown.most_common(20))}


# ---------------------------------------------------------------------------------------------
# The stage, minus the writing


@dataclass
class CorpusValidation:
    """:func:`validate_corpus`: the capped ``train``/``test`` to write and the validation."""

    train: pd.DataFrame
    test: pd.DataFrame
    result: ValidationResult
    truncated: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    """Ids of clauses over ``max_clause_chars`` left out (``long_clauses: skip``)."""


def validate_corpus(params: CorpusParams, docs_dir: str | os.PathLike | None = None) -> CorpusValidation:
    """Load ``params.files`` (each record in its notation), deal with long clauses
    (``long_clauses``: refuse, skip or truncate), split, validate the whole split, then apply
    ``max_train``/``max_test``. Raises :class:`ccattr.corpus.CorpusError` for malformed input; a
    failed validation is ``result.success == False``.

    ``result.counts`` gains ``n_train_out``/``n_test_out`` (after caps), ``n_truncated``,
    ``n_skipped_long`` and ``n_dropped_by_split`` (``split_values: drop``).
    """
    df = load_corpus(params.file_notations(), params.notation)
    truncated: list[str] = []
    skipped: list[str] = []
    if params.long_clauses == "truncate":
        df, truncated = truncate_clauses(df, params.max_clause_chars)
    elif params.long_clauses == "skip":
        long = df["clause"].map(lambda c: isinstance(c, str) and len(c) > params.max_clause_chars)
        skipped = df.loc[long, "id"].astype(str).tolist()
        df = df[~long].reset_index(drop=True)
    train, test = split_corpus(df, params.split, params.test_fraction, params.seed,
                               test_documents=params.test_documents, split_column=params.split_column,
                               split_values=params.split_values)
    result = validate_split(train, test, params, docs_dir=docs_dir)
    train_out, test_out = apply_caps(train, test, params.max_train, params.max_test, params.seed)
    result.counts.update(n_train_out=len(train_out), n_test_out=len(test_out), n_truncated=len(truncated),
                         n_skipped_long=len(skipped), n_dropped_by_split=len(df) - len(train) - len(test))
    return CorpusValidation(train_out, test_out, result, truncated, skipped)


def rule_line(c: dict[str, Any]) -> str:
    """One line on the rules: notation, parse failures, inconsistent numbers, unknown names."""
    n = c.get("n_records", 0)
    unknown = c.get("unknown_names") or {}
    names = ", ".join(f"{k} ({v})" for k, v in list(unknown.items())[:5])
    extra = [f"{c[k]} {what}" for k, what in (("n_skipped_long", "long clause(s) skipped"),
                                               ("n_truncated", "clause(s) truncated"),
                                               ("n_dropped_by_split", "record(s) dropped by the split"))
             if c.get(k)]
    return (f"rules in {notations_text(c)}: {n - c.get('n_rules_unparsed', 0)} of {n} parse; "
            f"{c.get('n_numbers_inconsistent', 0)} use a number their clause does not state "
            f"({c.get('numbers_severity')}); {c.get('n_unknown_names', 0)} unknown name(s)"
            + (f": {names}" if names else "") + "".join(f"; {e}" for e in extra))


def notations_text(c: dict[str, Any]) -> str:
    used = c.get("notations") or {}
    return notations.label([k for k, v in used.items() for _ in range(v)]) if used else str(c.get("notation"))


def print_report(result: ValidationResult, file=None) -> None:
    """Print the result to ``file`` (stderr): a rich table (errors, then warnings) on a terminal,
    plain lines elsewhere (logs, CI, ``dvc repro``), so that ``file:line`` is never wrapped."""
    from rich.console import Console
    from rich.table import Table

    out = file or sys.stderr
    console = Console(file=out, width=max(120, Console(file=out).width))
    c = result.counts
    if not console.is_terminal:
        head, *rest = result.report().split("\n")
        print("\n".join([head, rule_line(c), *rest]), file=out)
        return
    status = "[green]passed[/green]" if result.success else "[bold red]FAILED[/bold red]"
    console.print(f"corpus validation {status}: {len(result.errors)} error(s), "
                  f"{len(result.warnings)} warning(s) -- {c.get('n_train')} train / {c.get('n_test')} "
                  f"test records, {c.get('n_documents')} documents, {c.get('n_topics')} topics")
    console.print(rule_line(c), highlight=False)
    issues = result.errors + result.warnings
    if not issues:
        return
    table = Table(show_lines=False)
    for col in ("severity", "expectation", "failing"):
        table.add_column(col, no_wrap=True)
    table.add_column("first offending records", overflow="fold", ratio=2)
    table.add_column("what", overflow="fold", ratio=1)
    for issue in issues:
        where = "\n".join(issue.where())
        failing = str(issue.unexpected_count) if issue.unexpected_count is not None else (
            f"observed {issue.observed}" if issue.observed is not None else "")
        what = issue.description + (f" ({issue.message})" if issue.message else "")
        style = "red" if issue.severity == "error" else "yellow"
        table.add_row(f"[{style}]{issue.severity}[/{style}]", issue.expectation, failing, where, what)
    console.print(table)
