"""The study report: one self-contained HTML page for readers who never ran the pipeline.

It renders what the compare stage published (``results/compare``: ``summary.json`` with the
findings and claim verdicts, ``tables/*.csv`` with ``runs.csv`` and ``examples.csv``) and draws
its figures from the attribute stage's tables; it computes no statistic. Modules:
:mod:`~ccattr.report.inputs` (what is read), :mod:`~ccattr.report.links` (the MLflow runs behind
each row), :mod:`~ccattr.report.columns` (the tables' cells), :mod:`~ccattr.report.figures`,
:mod:`~ccattr.report.rule_parts` (rule tokens grouped by the parse tree),
:mod:`~ccattr.report.examples`, :mod:`~ccattr.report.context` and ``templates/report.html.j2``.
"""

from ccattr.report.build import build_report
from ccattr.report.figures import (
           fig_category_shares,
           fig_clause_heatmap,
           fig_focus,
           fig_rule_map,
           fig_similarity,
)
from ccattr.report.inputs import MissingCompareOutput
from ccattr.report.links import RunLinker
from ccattr.report.rule_parts import TokenGroups, group_rule_tokens

__all__ = ["MissingCompareOutput", "RunLinker", "TokenGroups", "build_report", "fig_category_shares",
           "fig_clause_heatmap", "fig_focus", "fig_rule_map", "fig_similarity", "group_rule_tokens"]
