"""The MLflow runs behind a table row: joined from the compare stage's ``runs.csv`` (one row per
model: strategy, scale, family, n_params, run_id) on the row's identity keys, and linked to the
MLflow UI."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ccattr.stats.labels import strategy_sort


class RunLinker:
    """The MLflow UI address of a run when ``ui_url`` is set: ``{ui}/#/experiments/{exp_id}/runs/
    {run_id}`` when ``run_links`` maps the run id to its experiment id, else MLflow's direct run
    route ``{ui}/#/runs/{run_id}``. A ``run_links`` value that is a URL is used as is."""

    def __init__(self, run_links: Mapping[str, str] | None, ui_url: str | None) -> None:
        self.links = {str(k): str(v) for k, v in (run_links or {}).items()}
        self.ui = ui_url.rstrip("/") if ui_url else None

    def url(self, run_id: str) -> str | None:
        v = self.links.get(run_id)
        if v and v.startswith(("http://", "https://", "/")):
            return v
        if not self.ui:
            return None
        if v:
            return f"{self.ui}/#/experiments/{v}/runs/{run_id}"
        return f"{self.ui}/#/runs/{run_id}"


@dataclass(frozen=True)
class RunLink:
    """One model's run as a table cell shows it: ``fft-smollm2`` and the run id, linked or not."""

    name: str
    run_id: str
    url: str | None


def _text(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _size(v: Any) -> float:
    return float(v) if v is not None and pd.notna(v) else 0.0


class RunIndex:
    """``runs.csv`` joined to table rows (the contract's keys, checked in this order):
    ``a``, ``b`` and ``scale`` -> the runs of a and b at that scale; ``strategies``
    (``"fft,lora,qlora"``) and ``scale`` -> those strategies' runs at the scale; ``strategy``
    and ``scale`` -> that model's run; ``strategy`` alone -> every run of that strategy."""

    def __init__(self, runs: pd.DataFrame, linker: RunLinker) -> None:
        records = runs.to_dict(orient="records")
        rank = {s: i for i, s in enumerate(strategy_sort({str(r["strategy"]) for r in records}))}
        records.sort(key=lambda r: (rank[str(r["strategy"])], _size(r.get("n_params")), str(r["scale"])))
        self.links = [(str(r["strategy"]), str(r["scale"]), RunLink(
            f"{r['strategy']}-{r['scale']}", str(r["run_id"]), linker.url(str(r["run_id"]))))
            for r in records if _text(r.get("run_id"))]

    def _select(self, strategies: set[str] | None, scale: str | None) -> list[RunLink]:
        return [link for s, sc, link in self.links
                if (strategies is None or s in strategies) and (scale is None or sc == scale)]

    def for_row(self, row: Mapping[str, Any]) -> list[RunLink]:
        scale = _text(row.get("scale"))
        if _text(row.get("a")) and _text(row.get("b")) and scale:
            return self._select({row["a"], row["b"]}, scale)
        if _text(row.get("strategies")) and scale:
            return self._select(set(row["strategies"].split(",")), scale)
        if _text(row.get("strategy")):
            return self._select({row["strategy"]}, scale)
        return []
