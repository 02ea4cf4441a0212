"""Tables on disk: parquet written atomically (temp file, then rename), and the names of the
attribute and check_methods stages' tables."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from ccattr.io import atomic_file

#: The attribute stage's tables per model, by kind: ``<name><suffix>`` in results/attributions/.
TABLE_SUFFIXES = {"units": ".parquet", "clauses": ".clauses.parquet", "maps": ".maps.parquet",
                  "fidelity": ".fidelity.parquet"}
#: The check_methods stage's tables per model (results/method_check/): the attribute stage's unit
#: and clause layouts, each row with the ``method`` that scored it.
CHECK_SUFFIXES = {k: TABLE_SUFFIXES[k] for k in ("units", "clauses")}


def table_files(folder: str | os.PathLike, kind: str) -> list[Path]:
    """The attribute stage's ``kind`` tables (:data:`TABLE_SUFFIXES`) in ``folder``, sorted; model
    names may hold dots (``qwen2.5-7b``), so a file is told by its full suffix."""
    others = [v for k, v in TABLE_SUFFIXES.items() if k != kind and v.endswith(TABLE_SUFFIXES[kind])
              and len(v) > len(TABLE_SUFFIXES[kind])]
    return sorted(p for p in Path(folder).glob(f"*{TABLE_SUFFIXES[kind]}")
                  if not any(p.name.endswith(o) for o in others))


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_file(path) as tmp:
        df.to_parquet(tmp, index=False)


def with_runs(df: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """``df`` with each row's model facts (``family``, ``n_params``, ``run_id``) joined from the one
    table of runs (``runs``: strategy, scale, family, n_params, run_id) on (strategy, scale): the
    attribute stage writes only those two keys on its rows."""
    facts = [c for c in ("family", "n_params", "run_id") if c in runs.columns]
    if df.empty or not {"strategy", "scale"} <= set(df.columns):
        return df.reindex(columns=[*df.columns, *(c for c in facts if c not in df.columns)])
    keys = runs[["strategy", "scale", *facts]].astype({"strategy": str, "scale": str})
    return df.drop(columns=[c for c in facts if c in df.columns]).merge(keys, on=["strategy", "scale"], how="left")
