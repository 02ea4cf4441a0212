"""build_report: load what the compare stage published, build the context, render the template."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from ccattr.io import atomic_dir, atomic_write_text
from ccattr.report.context import report_context
from ccattr.report.figures import Figures
from ccattr.report.inputs import load_attributions, load_predictions, load_published
from ccattr.report.links import RunLinker

TEMPLATE = "report.html.j2"


def render(context: dict[str, Any]) -> str:
    """The page: :data:`TEMPLATE` with autoescape on (every value is escaped) and strict
    undefined names (a context key the template misses is an error, not a blank)."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("ccattr.report", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return env.get_template(TEMPLATE).render(**context)


def build_report(compare_dir: str | Path = "results/compare",
                 attributions_dir: str | Path = "results/attributions",
                 eval_dir: str | Path = "results/eval", out_dir: str | Path = "reports",
                 validation_summary: dict[str, Any] | None = None,
                 run_links: dict[str, str] | None = None, tracking_ui_url: str | None = None) -> Path:
    """Write ``<out_dir>/index.html`` (self-contained: figures embedded as base64 PNGs) and
    ``<out_dir>/figures/*.png``; return the path of ``index.html``.

    Parameters
    ----------
    compare_dir : the compare stage's output (``summary.json`` + ``tables/*.csv``); a missing
        file raises :class:`ccattr.report.inputs.MissingCompareOutput` (run ``dvc repro compare``).
    attributions_dir, eval_dir : ``results/attributions`` and ``results/eval``, for the figures
        (focus per clause, word heat maps, rule maps) and the generated rules.
    validation_summary : the corpus validation summary, shown as the corpus section when given.
    run_links : ``{run_id: experiment_id}`` (or ``{run_id: url}``) for linking runs.
    tracking_ui_url : base URL of the MLflow UI; without it run ids are shown unlinked.
    """
    out = Path(out_dir)
    published = load_published(compare_dir)
    examples = published.tables["examples"]
    clause_ids = set(examples["clause_id"].astype(str)) if len(examples) else set()
    figures = Figures()
    context = report_context(published, load_attributions(attributions_dir, clause_ids, published.tables["runs"]),
                             load_predictions(eval_dir), figures, validation_summary,
                             RunLinker(run_links, tracking_ui_url))
    page = render(context)
    with atomic_dir(out / "figures") as tmp:
        for name, png in figures.pngs.items():
            (tmp / f"{name}.png").write_bytes(png)
    atomic_write_text(out / "index.html", page)
    return out / "index.html"
