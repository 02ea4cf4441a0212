"""What the report reads: the comparison as the compare stage published it (``results/compare``:
``summary.json`` + ``tables/<name>.csv``), and, for the figures only, the attribute stage's
tables (``results/attributions``) and the generated rules (``results/eval``).

Nothing here computes a statistic: a missing compare output is an error that says how to make it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ccattr.io import read_json, read_jsonl
from ccattr.runtime import METRICS_FILE, PREDICTIONS_FILE
from ccattr.stats.comparison import read_table
from ccattr.tables import table_files, with_runs

#: The compare stage's tables the report renders (``tables/<name>.csv``).
TABLES = ("runs", "examples", "similarity", "strategy_tests", "pairwise", "divergence",
          "category_shares", "trends", "plateau_by_scale", "plateau_gains", "plateau",
          "fidelity", "fidelity_tests", "fidelity_pairwise", "fidelity_trends",
          "method_agreement", "method_verdicts")
#: Keys the report reads from ``summary.json`` beyond the tables.
SUMMARY_KEYS = ("alpha", "findings", "claims", "strategies", "scales", "method_check")


class MissingCompareOutput(FileNotFoundError):
    """A file the compare stage publishes is missing or from an older compare stage."""


def _missing(path: Path, what: str = "is missing") -> MissingCompareOutput:
    return MissingCompareOutput(
        f"{path} {what}: the report only renders what the compare stage publishes; "
        "run `dvc repro compare` first")


@dataclass(frozen=True)
class Published:
    """The compare stage's output: ``summary.json`` and its tables by name."""

    summary: dict[str, Any]
    tables: dict[str, pd.DataFrame]

    @property
    def alpha(self) -> float:
        return float(self.summary["alpha"])

    @property
    def scale_labels(self) -> dict[str, str]:
        return {str(s["scale"]): s["label"] for s in self.summary.get("scales") or []}


def load_published(compare_dir: str | Path) -> Published:
    """``summary.json`` and :data:`TABLES` from ``compare_dir``; :class:`MissingCompareOutput`
    naming the first file that is missing."""
    root = Path(compare_dir)
    path = root / "summary.json"
    if not path.is_file():
        raise _missing(path)
    summary = read_json(path)
    for key in SUMMARY_KEYS:
        if key not in summary:
            raise _missing(path, f"has no {key!r} (an older compare stage wrote it)")
    tables = {}
    for name in TABLES:
        p = root / "tables" / f"{name}.csv"
        if not p.is_file():
            raise _missing(p)
        tables[name] = read_table(p)
    return Published(summary=summary, tables=tables)


@dataclass(frozen=True)
class Attributions:
    """The attribute stage's tables: ``clauses`` (focus metrics, every model and clause) and, for
    the example clauses only, ``units`` (one row per clause unit) and ``maps`` (clause unit x
    rule token log-probability changes)."""

    clauses: pd.DataFrame
    units: pd.DataFrame
    maps: pd.DataFrame


def _concat(files: list[Path], clause_ids: set[str] | None) -> pd.DataFrame:
    """The tables in ``files`` stacked; only the rows of ``clause_ids`` when given (the map
    tables are the bulk of the stored data, so the filter runs in the parquet reader)."""
    if clause_ids is not None and not clause_ids:
        return pd.DataFrame()
    filters = None if clause_ids is None else [("clause_id", "in", sorted(clause_ids))]
    frames = [pd.read_parquet(p, filters=filters) for p in files]
    df = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if "clause_id" in df.columns:
        df["clause_id"] = df["clause_id"].astype(str)
    return df


def load_attributions(attributions_dir: str | Path, clause_ids: set[str], runs: pd.DataFrame) -> Attributions:
    """The attribute stage's tables; the clause table with each model's facts from ``runs``."""
    root = Path(attributions_dir)
    return Attributions(clauses=with_runs(_concat(table_files(root, "clauses"), None), runs),
                        units=_concat(table_files(root, "units"), clause_ids),
                        maps=_concat(table_files(root, "maps"), clause_ids))


def load_predictions(eval_dir: str | Path) -> pd.DataFrame:
    """The evaluate stage's rows (``<model>/predictions.jsonl``: clause, reference, prediction,
    similarity, notation, ...) with ``clause_id`` and the model's ``strategy`` and ``scale`` from
    its ``metrics.json``."""
    frames = []
    for metrics_path in sorted(Path(eval_dir).glob(f"*/{METRICS_FILE}")):
        pred = metrics_path.parent / PREDICTIONS_FILE
        if not pred.is_file():
            continue
        meta = read_json(metrics_path)
        rows = pd.DataFrame(read_jsonl(pred))
        if rows.empty:
            continue
        rows["clause_id"] = rows["id"].astype(str)
        rows["strategy"], rows["scale"] = str(meta["strategy"]), str(meta["scale"])
        frames.append(rows)
    return pd.concat(frames, ignore_index=True) if frames else \
        pd.DataFrame(columns=["clause_id", "strategy", "scale", "prediction"])
