"""The clause/rule corpus: loading, splitting and importing.

A corpus is a set of JSON Lines files (``data/corpus/*.jsonl``), one record per line::

    {"id": "access-4-2-3", "document": "NZBC D1/AS1", "clause_number": "4.2.3",
     "clause": "4.2.3 The clear width of an accessible route shall be not less than 1200 mm.",
     "rule": "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(accessible_route)),data(1200 mm)))",
     "topic": "access", "provenance": "hand-written"}

* :func:`load_corpus` reads files or folders of ``*.jsonl`` into a DataFrame and reports every
  malformed line as ``file:line: problem`` (:class:`CorpusError`);
* :func:`split_corpus` makes the deterministic train/test split (whole documents or records),
  :func:`apply_caps` the deterministic ``max_train``/``max_test`` caps;
* :func:`import_corpus` turns an external CSV/JSONL table (e.g. the public LRML datasets with
  columns ``file, number, text, lrml, paraphrase, random_split, doc_split``) into a corpus file
  in the project format, in the rule notation it detects or is told.

Every record has a rule notation (:mod:`ccattr.notations`): its own ``notation`` field, else
the one its file is given in ``corpus.files``, else ``corpus.notation``.

Quality checks (schema, notation, leakage, ...) live in :mod:`ccattr.validation`.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import random
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ccattr.io import write_jsonl

__all__ = [
    "DEFAULT_LRML_MAPPING",
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "SOURCE_COLUMNS",
    "SPLIT_MODES",
    "CorpusError",
    "ImportReport",
    "apply_caps",
    "corpus_files",
    "import_corpus",
    "load_corpus",
    "records",
    "split_corpus",
    "truncate_clauses",
]

#: The fields every corpus record carries (all strings), in output order.
REQUIRED_FIELDS: tuple[str, ...] = (
    "id", "document", "clause_number", "clause", "rule", "topic", "provenance",
)
#: Fields a record may carry besides those (strings): its rule notation, a plain-language
#: paraphrase of the rule (the NZBC set has one). Written out when present.
OPTIONAL_FIELDS: tuple[str, ...] = ("notation", "paraphrase")
#: Columns :func:`load_corpus` adds to locate a record in its input (never written out).
SOURCE_COLUMNS: tuple[str, ...] = ("source_file", "source_line")
SPLIT_MODES: tuple[str, ...] = ("document", "random", "fixed")

#: ``import_corpus`` mapping for the public LRML datasets (columns ``file, number, text, lrml,
#: paraphrase, random_split, doc_split``); ``paraphrase`` is mapped when the table has it.
DEFAULT_LRML_MAPPING: dict[str, str] = {
    "document": "file", "clause_number": "number", "clause": "text", "rule": "lrml",
    "paraphrase": "paraphrase",
}
#: Columns of the LRML layout kept verbatim (for ``corpus.split: fixed`` by ``split_column``).
DEFAULT_LRML_KEEP: tuple[str, ...] = ("random_split", "doc_split")
#: Notations :func:`import_corpus` tries, in order, when told ``notation="auto"``.
DETECT_ORDER: tuple[str, ...] = ("ccattr", "lrml", "python")
# Accepted spellings of target fields in a mapping (``--map text=text`` means clause=text).
_TARGET_ALIASES = {"text": "clause", "number": "clause_number", "lrml": "rule", "file": "document"}
_MAX_LISTED = 20


class CorpusError(ValueError):
    """Malformed corpus input. ``problems`` lists every ``file:line: problem`` found."""

    def __init__(self, problems: str | Sequence[str]):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        lines = self.problems[:_MAX_LISTED]
        if len(self.problems) > _MAX_LISTED:
            lines.append(f"... and {len(self.problems) - _MAX_LISTED} more problem(s)")
        super().__init__("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# Loading


#: Paths, or ``(path, notation)`` pairs for files read in their own notation.
CorpusPaths = str | os.PathLike | Iterable[Any]


def _entries(paths: CorpusPaths) -> list[tuple[Path, str | None]]:
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    return [(Path(p[0]), p[1]) if isinstance(p, tuple) else (Path(p), None) for p in paths]


def corpus_files(paths: CorpusPaths) -> list[Path]:
    """Expand files and folders (their ``*.jsonl``, sorted by name) into a list of files."""
    return [f for f, _ in _corpus_files(paths)]


def _corpus_files(paths: CorpusPaths) -> list[tuple[Path, str | None]]:
    """``(file, notation override)`` for every file of ``paths`` (folders expanded)."""
    files: list[tuple[Path, str | None]] = []
    problems = []
    for p, notation in _entries(paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.jsonl") if f.is_file())
            if not found:
                problems.append(f"{p}: folder holds no *.jsonl files")
            files.extend((f, notation) for f in found)
        elif p.is_file():
            files.append((p, notation))
        else:
            problems.append(f"{p}: no such file or folder")
    if problems:
        raise CorpusError(problems)
    if not files:
        raise CorpusError("no corpus files given")
    return files


def _iter_jsonl(path: Path, problems: list[str]) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line; append problems, never raise."""
    try:
        data = path.read_bytes()
    except OSError as err:
        problems.append(f"{path}: cannot read: {err.strerror or err}")
        return
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            problems.append(f"{path}:{number}: not valid UTF-8 (byte 0x{raw[err.start]:02x} "
                            f"at column {err.start + 1})")
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as err:
            problems.append(f"{path}:{number}: invalid JSON: {err.msg} at column {err.colno}")
            continue
        except (ValueError, RecursionError) as err:
            problems.append(f"{path}:{number}: invalid JSON: {err}")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{path}:{number}: expected a JSON object, got {_json_type(obj)}")
            continue
        yield number, obj


def _json_type(obj: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null",
            int: "a number", float: "a number"}.get(type(obj), type(obj).__name__)


def load_corpus(paths: CorpusPaths, default_notation: str = "ccattr") -> pd.DataFrame:
    """Read JSONL files / folders of ``*.jsonl`` into one DataFrame.

    ``paths`` entries are paths or ``(path, notation)`` pairs (``corpus.files`` entries with
    their own notation). Columns: :data:`REQUIRED_FIELDS` (values as found, so validation can
    flag wrong types), ``notation`` (the record's own, else its file's, else
    ``default_notation``), any extra fields, then ``source_file`` (the path as given) and
    ``source_line`` (1-based). Rows keep file order (folders sorted by name) and line order.
    Every malformed line -- bytes that are not UTF-8, broken JSON, a value that is not an
    object, a missing field, a notation its file contradicts -- is collected and reported at
    once as a :class:`CorpusError` of ``file:line: problem``.
    """
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    extra: dict[str, None] = {}
    for path, file_notation in _corpus_files(paths):
        for number, obj in _iter_jsonl(path, problems):
            missing = [f for f in REQUIRED_FIELDS if f not in obj]
            what = f" (id {obj['id']!r})" if isinstance(obj.get("id"), str) else ""
            if missing:
                problems.append(f"{path}:{number}: missing field(s) {', '.join(missing)}{what}")
                continue
            clash = [c for c in SOURCE_COLUMNS if c in obj]
            if clash:
                problems.append(f"{path}:{number}: reserved field(s) {', '.join(clash)}")
                continue
            own = obj.get("notation")
            if own is not None and file_notation is not None and own != file_notation:
                problems.append(f"{path}:{number}: the record's notation {own!r} contradicts "
                                f"notation {file_notation!r} given for this file in corpus.files{what}")
                continue
            notation = own if own is not None else (file_notation or default_notation)
            for key in obj:
                if key not in REQUIRED_FIELDS and key != "notation":
                    extra.setdefault(key)
            rows.append({**obj, "notation": notation, "source_file": str(path), "source_line": number})
    if problems:
        raise CorpusError(problems)
    if not rows:
        raise CorpusError("the corpus holds no records")
    columns = [*REQUIRED_FIELDS, "notation", *extra, *SOURCE_COLUMNS]
    df = pd.DataFrame.from_records(rows, columns=columns)
    df["source_line"] = df["source_line"].astype("int64")
    return df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The record fields of each row -- :data:`REQUIRED_FIELDS`, then the
    :data:`OPTIONAL_FIELDS` it has -- as plain dicts (no ``source_*`` or other columns)."""
    optional = [f for f in OPTIONAL_FIELDS if f in df.columns]
    fields = [*REQUIRED_FIELDS, *optional]
    out = []
    for row in df[fields].itertuples(index=False, name=None):
        rec = {k: (None if _isna(v) else v) for k, v in zip(fields, row, strict=True)}
        for f in optional:
            if rec[f] is None:
                del rec[f]
        out.append(rec)
    return out


def _isna(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v) or v is pd.NA


def truncate_clauses(df: pd.DataFrame, max_chars: int) -> tuple[pd.DataFrame, list[str]]:
    """Cut clauses longer than ``max_chars`` at the last word boundary before the limit.

    Returns the new frame and the ids of the truncated records. A cut that drops a number the
    rule uses is then flagged by the ``consistency.numbers`` expectation.
    """
    out = df.copy()
    touched: list[str] = []
    cut = []
    for rid, text in zip(out["id"], out["clause"], strict=True):
        if isinstance(text, str) and len(text) > max_chars:
            head = text[:max_chars]
            space = head.rfind(" ")
            if space >= max_chars // 2:
                head = head[:space]
            cut.append(head.rstrip())
            touched.append(str(rid))
        else:
            cut.append(text)
    out["clause"] = pd.Series(cut, index=out.index, dtype=out["clause"].dtype)
    return out, touched


# ---------------------------------------------------------------------------------------------
# Splitting


def _key(v: Any) -> str:
    return "" if _isna(v) else str(v)


def _by_id(df: pd.DataFrame) -> pd.DataFrame:
    """Stable order: by id (as text), ties by input order."""
    keys = df["id"].map(_key)
    return df.iloc[sorted(range(len(df)), key=lambda i: keys.iloc[i])].reset_index(drop=True)


def document_matches(document: str, pattern: str) -> bool:
    """A ``test_documents`` pattern: a glob when it holds ``*``, ``?`` or ``[``, else a part of
    the name (``G14VM1`` matches ``NZ_NZBC-G14VM1#1.0``); case-sensitive.

    >>> document_matches("NZ_NZBC-G14VM1#1.0", "G14VM1"), document_matches("NZ_NZBC-G14AS1", "G14VM1")
    (True, False)
    """
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(document, pattern)
    return pattern in document


def _fixed_sides(ordered: pd.DataFrame, test_documents: Sequence[str], split_column: str | None,
                 split_values: Mapping[str, str]) -> pd.Series:
    """``"train"``, ``"test"`` or ``"drop"`` per record of a fixed split."""
    if test_documents:
        docs = ordered["document"].map(_key)
        test = docs.map(lambda d: any(document_matches(d, p) for p in test_documents))
        unmatched = [p for p in test_documents if not any(document_matches(d, p) for d in docs.unique())]
        if unmatched:
            raise CorpusError(f"corpus.test_documents: no document matches {', '.join(map(repr, unmatched))}")
        return test.map({True: "test", False: "train"})
    if split_column not in ordered.columns:
        raise CorpusError(f"corpus.split_column: no record has a field {split_column!r} "
                          f"(import the table with --keep {split_column})")
    values = ordered[split_column].map(lambda v: _key(_text(v)))
    sides = values.map(split_values.get)
    unknown = sides.isna()
    if unknown.any():
        missing = sorted(set(values[unknown]))
        lines = [f"corpus.split_values has no entry for {split_column} value(s) "
                 f"{', '.join(map(repr, missing))}; map each to train, test or drop"]
        for _, r in ordered[unknown].iterrows():
            where = f"{r['source_file']}:{r['source_line']}" if "source_file" in r else f"id {r['id']}"
            lines.append(f"{where}: {split_column} = {values[r.name]!r}")
        raise CorpusError(lines)
    return sides


def split_corpus(
    df: pd.DataFrame,
    split: Literal["document", "random", "fixed"] = "document",
    test_fraction: float = 0.2,
    seed: int = 13,
    *,
    max_train: int | None = None,
    max_test: int | None = None,
    test_documents: Sequence[str] = (),
    split_column: str | None = None,
    split_values: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train/test split; both halves sorted by id.

    ``document``: documents, sorted and shuffled with ``random.Random(seed)``, are walked in
    that order and each one that brings the test share closer to ``test_fraction`` goes to
    test -- whole documents only, so no document has clauses on both sides. ``random``: the
    records, sorted by id and shuffled with the seed; the first ``round(test_fraction * n)``
    are the test set. ``fixed``: the split as published -- the documents matching
    ``test_documents`` (:func:`document_matches`) are test, or each record's ``split_column``
    value is looked up in ``split_values`` (``train``, ``test`` or ``drop``: left out of both).
    The result depends on the set of records, not on their input order.
    ``max_train``/``max_test`` then cap each side (:func:`apply_caps`).
    """
    if split not in SPLIT_MODES:
        raise ValueError(f"split must be one of {', '.join(SPLIT_MODES)}, not {split!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), not {test_fraction}")
    if len(df) < 2:
        raise CorpusError(f"cannot split {len(df)} record(s): need at least 2")
    ordered = _by_id(df)
    rng = random.Random(seed)
    n = len(ordered)
    target = test_fraction * n
    if split == "fixed":
        if not test_documents and not split_column:
            raise ValueError("split 'fixed' needs test_documents or split_column")
        sides = _fixed_sides(ordered, test_documents, split_column, split_values or {})
        for side in ("train", "test"):
            if not (sides == side).any():
                raise CorpusError(f"the fixed split leaves no {side} records")
        train = ordered[sides == "train"].reset_index(drop=True)
        test = ordered[sides == "test"].reset_index(drop=True)
        return apply_caps(train, test, max_train=max_train, max_test=max_test, seed=seed)
    if split == "random":
        positions = list(range(n))
        rng.shuffle(positions)
        n_test = min(max(round(target), 1), n - 1)
        is_test = pd.Series(False, index=ordered.index)
        is_test.iloc[positions[:n_test]] = True
    else:
        docs = ordered["document"].map(_key)
        sizes = docs.value_counts().to_dict()
        order = sorted(sizes)
        if len(order) < 2:
            raise CorpusError(f"cannot split by document: the corpus has {len(order)} document(s); "
                              "use split: random")
        rng.shuffle(order)
        chosen: list[str] = []
        n_test = 0
        for doc in order:
            if abs(n_test + sizes[doc] - target) < abs(n_test - target):
                chosen.append(doc)
                n_test += sizes[doc]
        if not chosen:  # every document alone overshoots: take the one closest to the target
            chosen = [min(order, key=lambda d: abs(sizes[d] - target))]
        if len(chosen) == len(order):
            chosen.pop()
        is_test = docs.isin(set(chosen))
    train = ordered[~is_test].reset_index(drop=True)
    test = ordered[is_test].reset_index(drop=True)
    return apply_caps(train, test, max_train=max_train, max_test=max_test, seed=seed)


def apply_caps(
    train: pd.DataFrame,
    test: pd.DataFrame,
    max_train: int | None = None,
    max_test: int | None = None,
    seed: int = 13,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keep at most ``max_train``/``max_test`` records of each side: the first n of a seeded
    shuffle of the id-sorted side, returned sorted by id. ``None`` keeps everything."""

    def cap(side: pd.DataFrame, limit: int | None) -> pd.DataFrame:
        side = _by_id(side)
        if limit is None or len(side) <= limit:
            return side
        positions = list(range(len(side)))
        random.Random(seed).shuffle(positions)
        return _by_id(side.iloc[sorted(positions[:limit])])

    return cap(train, max_train), cap(test, max_test)


# ---------------------------------------------------------------------------------------------
# Importing


@dataclass
class ImportReport:
    """What :func:`import_corpus` did."""

    src: Path
    out: Path
    n_records: int
    n_documents: int
    notation: str
    detected: bool
    fields: dict[str, str]
    kept: list[str]
    unparsable: list[str] = field(default_factory=list)
    """``file:line (id): reason`` for each rule that does not parse in ``notation``."""
    replaced: bool = False

    def __str__(self) -> str:
        n_ok = self.n_records - len(self.unparsable)
        how = (f"detected: {'every rule parses' if not self.unparsable else f'{n_ok} of {self.n_records} rules parse'} "
               f"in it" if self.detected else "as asked")
        lines = [
            f"{'replaced' if self.replaced else 'wrote'} {self.out}: {self.n_records} record(s) "
            f"from {self.n_documents} document(s) of {self.src}",
            f"notation: {self.notation} ({how}); every record carries \"notation\": \"{self.notation}\"",
            "fields: " + ", ".join(f"{k} <- {v}" for k, v in self.fields.items())
            + (f"; kept as they are: {', '.join(self.kept)}" if self.kept else ""),
        ]
        if self.unparsable:
            lines.append(f"{len(self.unparsable)} rule(s) do not parse in {self.notation} (kept; "
                         f"`ccattr corpus validate` fails on them until they are fixed or removed):")
            lines += [f"  {u}" for u in self.unparsable[:_MAX_LISTED]]
            if len(self.unparsable) > _MAX_LISTED:
                lines.append(f"  ... and {len(self.unparsable) - _MAX_LISTED} more")
        lines.append(f"use it: corpus.files: [{self.out.as_posix()}] (and corpus.notation: {self.notation})")
        return "\n".join(lines)


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def _delimiter(src: Path, header: str) -> str:
    """The delimiter of a CSV: the one of ``,`` ``;`` ``\\t`` ``|`` that splits the header most."""
    counts = {d: len(next(csv.reader([header], delimiter=d))) - 1 for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    if counts[best] == 0:
        raise CorpusError(f"{src}:1: cannot tell the delimiter: the header has no ',', ';', tab or '|'")
    return best


def _read_table(src: Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line, row)`` for every row of a CSV/TSV (delimiter sniffed from the header; byte-order
    mark and CRLF line ends accepted) or JSONL file; ``line`` is where the row starts."""
    suffix = src.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        problems: list[str] = []
        rows = list(_iter_jsonl(src, problems))
        if problems:
            raise CorpusError(problems)
        return rows
    if suffix not in (".csv", ".tsv"):
        raise CorpusError(f"{src}: unsupported format {suffix or '(no suffix)'}; use .csv, .tsv or .jsonl")
    try:
        text = src.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = src.read_bytes()[:err.start].count(b"\n") + 1
        raise CorpusError(f"{src}:{line}: not valid UTF-8 (byte 0x{err.object[err.start]:02x})") from None
    if not text.strip():
        raise CorpusError(f"{src}: empty file")
    header_line = text.splitlines()[0]
    delimiter = "\t" if suffix == ".tsv" else _delimiter(src, header_line)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    problems = []
    try:
        header = [h.strip() for h in next(reader)]
        dupes = sorted({h for h in header if header.count(h) > 1})
        if dupes:
            raise CorpusError(f"{src}:1: duplicate column(s) {', '.join(dupes)}")
        rows: list[tuple[int, dict[str, Any]]] = []
        line = reader.line_num + 1
        for values in reader:
            if values and any(v.strip() for v in values):
                if len(values) != len(header):
                    problems.append(f"{src}:{line}: {len(values)} field(s), the header has {len(header)} "
                                    f"(delimiter {delimiter!r}; an unquoted delimiter in a value?)")
                else:
                    rows.append((line, dict(zip(header, values, strict=True))))
            line = reader.line_num + 1
    except csv.Error as err:
        raise CorpusError(f"{src}:{reader.line_num}: not a readable CSV table: {err}") from None
    if problems:
        raise CorpusError(problems)
    return rows


def _text(value: Any) -> str:
    if _isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _pick_notation(rules: Sequence[str], notation: str) -> tuple[str, bool]:
    """``(notation, detected)``. ``auto`` takes the first of :data:`DETECT_ORDER` in which at
    least half the rules parse -- the strictest first, so a ``ccattr`` corpus with a few broken
    rules stays ``ccattr`` (and its broken rules get reported) rather than passing as the
    looser ``lrml`` -- and ``text`` when none fits."""
    from ccattr import notations

    if notation != "auto":
        notations.get(notation)  # an unknown name fails here, naming the choices
        return notation, False
    for name in DETECT_ORDER:
        nota = notations.get(name)
        if 2 * sum(nota.is_valid(r) for r in rules) >= len(rules):
            return name, True
    return "text", True


def import_corpus(
    src: str | os.PathLike,
    mapping: Mapping[str, str] | None,
    out: str | os.PathLike,
    topic: str | None = None,
    document_from: Literal["auto", "column", "filename"] = "auto",
    overwrite: bool = False,
    id_prefix: str | None = None,
    notation: str = "auto",
    keep: Sequence[str] | None = None,
) -> ImportReport:
    """Convert an external CSV/TSV/JSONL table into one corpus file (JSON Lines) at ``out``.

    ``mapping`` maps record fields to source columns, e.g. ``{"clause": "text", "rule": "lrml",
    "document": "file", "clause_number": "number", "paraphrase": "paraphrase"}``
    (:data:`DEFAULT_LRML_MAPPING`, used when ``mapping`` is empty, with ``paraphrase`` only if
    the table has it; ``text``/``number``/``lrml``/``file`` are accepted as aliases of the field
    names). ``clause`` and ``rule`` must be mapped. ``keep`` lists source columns copied as
    they are (default for the LRML layout: ``random_split``, ``doc_split`` when present), e.g.
    for ``corpus.split: fixed`` with ``split_column``.

    * notation: ``auto`` detects it (:func:`_pick_notation`; prefer naming it), or one of
      :data:`ccattr.notations.NOTATIONS`; every record carries it in its ``notation`` field;
    * document: the mapped column (``document_from="column"``), the source file's stem
      (``"filename"``), or the column if mapped, else the stem (``"auto"``);
    * id: the mapped column, else ``[<id_prefix>-]<slug(document)>-<slug(clause_number)>``
      (``...-<n>`` when the number is empty; ``-2``, ``-3``... for repeats) -- stable across
      re-imports of the same table;
    * topic: ``topic``, else the mapped column, else ``"imported"``;
    * provenance: the mapped column, else ``"imported from <src file name>"``.

    Whitespace runs in clauses are collapsed to single spaces. A row with an empty clause or
    rule, a missing column, a ragged CSV row or bytes that are not UTF-8 are refused, naming
    ``file:line``, and nothing is written. Rules that do not parse in the notation are kept and
    listed with their ``file:line`` and the parse error (validation refuses them). ``out``
    must be a new ``.jsonl`` file: an existing file -- say one of ``data/corpus/`` -- is an
    error unless ``overwrite=True`` (and ``ImportReport.replaced`` says so); it is written to
    a temporary file and renamed, so a failed import never leaves half a file.
    """
    from ccattr import notations

    src, out = Path(src), Path(out)
    if not src.is_file():
        raise CorpusError(f"{src}: no such file")
    if out.suffix != ".jsonl":
        raise CorpusError(f"{out}: the output must be a .jsonl file")
    if out.resolve() == src.resolve():
        raise CorpusError(f"{out}: refusing to overwrite the source file")
    exists = out.exists()
    if exists and not overwrite:
        raise CorpusError(f"{out}: already exists; choose a new file or pass overwrite=True "
                          "(--overwrite) to replace it")
    if document_from not in ("auto", "column", "filename"):
        raise ValueError(f"document_from must be auto, column or filename, not {document_from!r}")

    rows = _read_table(src)
    if not rows:
        raise CorpusError(f"{src}: no rows")
    columns = list(dict.fromkeys(c for _, row in rows for c in row))
    default_layout = not mapping
    fields: dict[str, str] = {}
    for target, column in (mapping or DEFAULT_LRML_MAPPING).items():
        target = _TARGET_ALIASES.get(target, target)
        if target not in REQUIRED_FIELDS and target not in OPTIONAL_FIELDS:
            raise CorpusError(f"mapping: unknown field {target!r}; fields: "
                              f"{', '.join(REQUIRED_FIELDS + OPTIONAL_FIELDS)}")
        if default_layout and target in OPTIONAL_FIELDS and column not in columns:
            continue  # the LRML layout's optional columns are used when present
        fields[target] = column
    for needed in ("clause", "rule"):
        if needed not in fields:
            raise CorpusError(f"mapping: field {needed!r} is not mapped (e.g. --map {needed}=COLUMN)")
    if document_from == "column" and "document" not in fields:
        raise CorpusError("mapping: document_from='column' needs a mapped 'document' column")
    if document_from == "filename":
        fields.pop("document", None)
    if keep is None:
        keep = [c for c in DEFAULT_LRML_KEEP if c in columns] if default_layout else []
    clashes = [c for c in keep if c in REQUIRED_FIELDS + OPTIONAL_FIELDS + SOURCE_COLUMNS]
    if clashes:
        raise CorpusError(f"keep: {', '.join(clashes)} would overwrite record fields; map them instead")
    absent = [c for c in [*fields.values(), *keep] if c not in columns]
    if absent:
        raise CorpusError(f"{src}: no column(s) {', '.join(sorted(set(absent)))}; "
                          f"columns: {', '.join(columns)}")

    problems: list[str] = []
    for line, row in rows:
        for target in ("clause", "rule"):
            if not _text(row.get(fields[target])).strip():
                problems.append(f"{src}:{line}: empty {target} (column {fields[target]!r})")
    if problems:
        raise CorpusError(problems)
    rules = [_text(row.get(fields["rule"])).strip() for _, row in rows]
    notation, detected = _pick_notation(rules, notation)
    nota = notations.get(notation)

    out_rows: list[dict[str, str]] = []
    used: set[str] = set()
    per_doc: dict[str, int] = {}
    unparsable: list[str] = []
    for (line, row), rule in zip(rows, rules, strict=True):
        get = {t: _text(row.get(c)) for t, c in fields.items()}
        document = get.get("document") or src.stem
        number = get.get("clause_number", "").strip()
        per_doc[document] = per_doc.get(document, 0) + 1
        rid = get.get("id", "").strip()
        if not rid:
            stem = _slug(number) or str(per_doc[document])
            rid = "-".join(p for p in (_slug(id_prefix or ""), _slug(document) or "doc", stem) if p)
        base, k = rid, 1
        while rid in used:
            k += 1
            rid = f"{base}-{k}"
        used.add(rid)
        record = {
            "id": rid,
            "document": document,
            "clause_number": number,
            "clause": " ".join(get["clause"].split()),
            "rule": rule,
            "topic": topic or get.get("topic", "").strip() or "imported",
            "provenance": get.get("provenance", "").strip() or f"imported from {src.name}",
            "notation": notation,
        }
        if get.get("paraphrase", "").strip():
            record["paraphrase"] = " ".join(get["paraphrase"].split())
        record.update({c: _text(row.get(c)) for c in keep})
        try:
            nota.parse(rule)
        except notations.RuleSyntaxError as err:
            unparsable.append(f"{src}:{line} ({rid}): {err.reason}")
        out_rows.append(record)
    write_jsonl(out, out_rows)
    return ImportReport(src=src, out=out, n_records=len(out_rows), n_documents=len(per_doc),
                        notation=notation, detected=detected, fields=fields, kept=list(keep),
                        unparsable=unparsable, replaced=exists)
