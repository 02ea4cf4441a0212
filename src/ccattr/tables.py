"""Tables on disk: parquet written atomically (temp file, then rename)."""

from __future__ import annotations

import os

import pandas as pd

from ccattr.io import atomic_file


def write_parquet(df: pd.DataFrame, path: str | os.PathLike) -> None:
    with atomic_file(path) as tmp:
        df.to_parquet(tmp, index=False)
