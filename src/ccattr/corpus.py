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
  columns ``file, number, text, lrml``) into a corpus file in the project format.

Quality checks (schema, notation, leakage, ...) live in :mod:`ccattr.validation`.
"""

from __future__ import annotations

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
#: Columns :func:`load_corpus` adds to locate a record in its input (never written out).
SOURCE_COLUMNS: tuple[str, ...] = ("source_file", "source_line")
SPLIT_MODES: tuple[str, ...] = ("document", "random")

#: ``import_corpus`` mapping for the public LRML datasets (columns ``file, number, text, lrml``).
DEFAULT_LRML_MAPPING: dict[str, str] = {
    "document": "file", "clause_number": "number", "clause": "text", "rule": "lrml",
}
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


def corpus_files(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand files and folders (their ``*.jsonl``, sorted by name) into a list of files."""
    if isinstance(paths, str | os.PathLike):
        paths = [paths]
    files: list[Path] = []
    problems = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.glob("*.jsonl") if f.is_file())
            if not found:
                problems.append(f"{p}: folder holds no *.jsonl files")
            files.extend(found)
        elif p.is_file():
            files.append(p)
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


def load_corpus(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> pd.DataFrame:
    """Read JSONL files / folders of ``*.jsonl`` into one DataFrame.

    Columns: :data:`REQUIRED_FIELDS` (values as found, so validation can flag wrong types),
    any extra fields, then ``source_file`` (the path as given) and ``source_line`` (1-based).
    Rows keep file order (folders sorted by name) and line order. Every malformed line --
    bytes that are not UTF-8, broken JSON, a value that is not an object, a missing field --
    is collected and reported at once as a :class:`CorpusError` of ``file:line: problem``.
    """
    problems: list[str] = []
    rows: list[dict[str, Any]] = []
    extra: dict[str, None] = {}
    for path in corpus_files(paths):
        for number, obj in _iter_jsonl(path, problems):
            missing = [f for f in REQUIRED_FIELDS if f not in obj]
            if missing:
                what = f" (id {obj['id']!r})" if isinstance(obj.get("id"), str) else ""
                problems.append(f"{path}:{number}: missing field(s) {', '.join(missing)}{what}")
                continue
            clash = [c for c in SOURCE_COLUMNS if c in obj]
            if clash:
                problems.append(f"{path}:{number}: reserved field(s) {', '.join(clash)}")
                continue
            for key in obj:
                if key not in REQUIRED_FIELDS:
                    extra.setdefault(key)
            rows.append({**obj, "source_file": str(path), "source_line": number})
    if problems:
        raise CorpusError(problems)
    if not rows:
        raise CorpusError("the corpus holds no records")
    columns = [*REQUIRED_FIELDS, *extra, *SOURCE_COLUMNS]
    df = pd.DataFrame.from_records(rows, columns=columns)
    df["source_line"] = df["source_line"].astype("int64")
    return df


def records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The record fields of each row (no ``source_*`` or derived columns), as plain dicts."""
    out = []
    for row in df[list(REQUIRED_FIELDS)].itertuples(index=False, name=None):
        out.append({k: (None if _isna(v) else v) for k, v in zip(REQUIRED_FIELDS, row, strict=True)})
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


def split_corpus(
    df: pd.DataFrame,
    split: Literal["document", "random"] = "document",
    test_fraction: float = 0.2,
    seed: int = 13,
    *,
    max_train: int | None = None,
    max_test: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Deterministic train/test split; both halves sorted by id.

    ``document``: documents, sorted and shuffled with ``random.Random(seed)``, are walked in
    that order and each one that brings the test share closer to ``test_fraction`` goes to
    test -- whole documents only, so no document has clauses on both sides. ``random``: the
    records, sorted by id and shuffled with the seed; the first ``round(test_fraction * n)``
    are the test set. The result depends on the set of records, not on their input order.
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
    """What :func:`import_corpus` wrote."""

    src: Path
    out: Path
    n_records: int
    n_documents: int
    unparsable: int = 0
    unparsable_ids: list[str] = field(default_factory=list)
    replaced: bool = False

    def __str__(self) -> str:
        text = (f"{'replaced' if self.replaced else 'wrote'} {self.out}: {self.n_records} record(s) "
                f"from {self.n_documents} document(s) of {self.src}")
        if self.unparsable:
            text += (f"\n{self.unparsable} rule(s) do not parse in the project notation (kept; "
                     f"validation will flag them), first: {', '.join(self.unparsable_ids)}")
        return text


def _slug(value: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")


def _read_table(src: Path) -> list[dict[str, Any]]:
    suffix = src.suffix.lower()
    if suffix in (".csv", ".tsv"):
        try:
            table = pd.read_csv(src, dtype=str, keep_default_na=False, encoding="utf-8",
                                sep="\t" if suffix == ".tsv" else ",")
        except UnicodeDecodeError as err:
            raise CorpusError(f"{src}: not valid UTF-8 (byte offset {err.start})") from None
        except (pd.errors.ParserError, pd.errors.EmptyDataError) as err:
            raise CorpusError(f"{src}: not a readable {suffix[1:].upper()} table: "
                              f"{str(err).strip()}") from None
        return table.to_dict("records")
    if suffix in (".jsonl", ".ndjson"):
        problems: list[str] = []
        rows = [obj for _, obj in _iter_jsonl(src, problems)]
        if problems:
            raise CorpusError(problems)
        return rows
    raise CorpusError(f"{src}: unsupported format {suffix or '(no suffix)'}; use .csv, .tsv or .jsonl")


def _text(value: Any) -> str:
    if _isna(value):
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def import_corpus(
    src: str | os.PathLike,
    mapping: Mapping[str, str] | None,
    out: str | os.PathLike,
    topic: str | None = None,
    document_from: Literal["auto", "column", "filename"] = "auto",
    overwrite: bool = False,
    id_prefix: str | None = None,
) -> ImportReport:
    """Convert an external CSV/TSV/JSONL table into one corpus file (JSON Lines) at ``out``.

    ``mapping`` maps record fields to source columns, e.g. ``{"clause": "text", "rule": "lrml",
    "document": "file", "clause_number": "number"}`` (:data:`DEFAULT_LRML_MAPPING`, used when
    ``mapping`` is empty; ``text``/``number``/``lrml``/``file`` are accepted as aliases of the
    field names). ``clause`` and ``rule`` must be mapped.

    * document: the mapped column (``document_from="column"``), the source file's stem
      (``"filename"``), or the column if mapped, else the stem (``"auto"``);
    * id: the mapped column, else ``[<id_prefix>-]<slug(document)>-<slug(clause_number)>``
      (``...-<n>`` when the number is empty; ``-2``, ``-3``... for repeats) -- stable across
      re-imports of the same table;
    * topic: ``topic``, else the mapped column, else ``"imported"``;
    * provenance: the mapped column, else ``"imported from <src file name>"``.

    Whitespace runs in clauses are collapsed to single spaces. Rules that do not parse in the
    project notation are kept and counted in the report (validation flags them). ``out`` must
    be a new ``.jsonl`` file: an existing file -- say one of ``data/corpus/`` -- is an error
    unless ``overwrite=True`` (and ``ImportReport.replaced`` says so).
    """
    from ccattr.rules import is_valid_rule

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

    fields: dict[str, str] = {}
    for target, column in (mapping or DEFAULT_LRML_MAPPING).items():
        target = _TARGET_ALIASES.get(target, target)
        if target not in REQUIRED_FIELDS:
            raise CorpusError(f"mapping: unknown field {target!r}; fields: {', '.join(REQUIRED_FIELDS)}")
        fields[target] = column
    for needed in ("clause", "rule"):
        if needed not in fields:
            raise CorpusError(f"mapping: field {needed!r} is not mapped (e.g. --map {needed}=COLUMN)")
    if document_from == "column" and "document" not in fields:
        raise CorpusError("mapping: document_from='column' needs a mapped 'document' column")
    if document_from == "filename":
        fields.pop("document", None)

    rows = _read_table(src)
    if not rows:
        raise CorpusError(f"{src}: no rows")
    columns = {c for row in rows for c in row}
    absent = sorted({c for c in fields.values() if c not in columns})
    if absent:
        raise CorpusError(f"{src}: no column(s) {', '.join(absent)}; columns: {', '.join(sorted(columns))}")

    out_rows: list[dict[str, str]] = []
    used: set[str] = set()
    per_doc: dict[str, int] = {}
    unparsable: list[str] = []
    for row in rows:
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
        rule = get["rule"].strip()
        record = {
            "id": rid,
            "document": document,
            "clause_number": number,
            "clause": " ".join(get["clause"].split()),
            "rule": rule,
            "topic": topic or get.get("topic", "").strip() or "imported",
            "provenance": get.get("provenance", "").strip() or f"imported from {src.name}",
        }
        if not is_valid_rule(rule):
            unparsable.append(rid)
        out_rows.append(record)
    write_jsonl(out, out_rows)
    return ImportReport(src=src, out=out, n_records=len(out_rows), n_documents=len(per_doc),
                        unparsable=len(unparsable), unparsable_ids=unparsable[:5], replaced=exists)
