"""The ``ccattr`` command line (a thin layer over :mod:`ccattr.corpus` / :mod:`ccattr.validation`).

::

    ccattr corpus import lrml_ds_v8.csv --out data/nzbc/lrml_v8.jsonl     # LRML layout, notation detected
    ccattr corpus import rules.csv --out data/corpus/x.jsonl --map clause=text --map rule=code --notation python
    ccattr corpus split data/corpus --out-dir data/split --split document --test-fraction 0.2 --seed 13
    ccattr corpus validate            # the validate_corpus stage's checks, nothing written
    ccattr corpus expectations        # the suite: names, severities, descriptions
    ccattr report findings            # the comparison's key findings, as Markdown

Exit status: 0 success, 1 malformed input or failed validation, 2 usage error.
"""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from ccattr.config import CorpusParams, ParamsError, load_params
from ccattr.corpus import CorpusError, import_corpus, load_corpus, records, split_corpus
from ccattr.io import write_json, write_jsonl

app = typer.Typer(name="ccattr", no_args_is_help=True, add_completion=False,
                  help="Fine-tune LLMs to translate building-code clauses into rules; study what they attend to.")
corpus_app = typer.Typer(no_args_is_help=True, help="Import, split and validate the clause/rule corpus.")
app.add_typer(corpus_app, name="corpus")
profile_app = typer.Typer(no_args_is_help=True, help="Apply a parameter profile (profiles/*.yaml) to params.yaml.")
app.add_typer(profile_app, name="profile")
report_app = typer.Typer(no_args_is_help=True, help="Read the pipeline's results.")
app.add_typer(report_app, name="report")
plan_app = typer.Typer(no_args_is_help=True, help="Plan a study: clauses per cell, memory per model.")
app.add_typer(plan_app, name="plan")


class SplitMode(StrEnum):
    document = "document"
    random = "random"


class DocumentFrom(StrEnum):
    auto = "auto"
    column = "column"
    filename = "filename"


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


def _parse_map(pairs: list[str]) -> dict[str, str]:
    mapping: dict[str, str] = {}
    for pair in pairs:
        field, sep, column = pair.partition("=")
        if not sep or not field.strip() or not column.strip():
            raise typer.BadParameter(f"expected FIELD=COLUMN, got {pair!r}", param_hint="--map")
        mapping[field.strip()] = column.strip()
    return mapping


@corpus_app.command("import")
def import_cmd(
    src: Annotated[Path, typer.Argument(help="External table: .csv, .tsv or .jsonl.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New corpus file (.jsonl) to write.")],
    map_: Annotated[list[str] | None, typer.Option(
        "--map", "-m", metavar="FIELD=COLUMN",
        help="Record field from a source column, repeatable (default: the LRML layout "
             "clause=text rule=lrml document=file clause_number=number).")] = None,
    topic: Annotated[str | None, typer.Option(help="Topic of every imported record.")] = None,
    document_from: Annotated[DocumentFrom, typer.Option(
        help="Document from the mapped column, the source file name, or auto.")] = DocumentFrom.auto,
    id_prefix: Annotated[str | None, typer.Option(help="Prefix for generated ids (avoid collisions).")] = None,
    notation: Annotated[str, typer.Option(
        help="Rule notation: auto (detect: the first of ccattr, lrml, python every rule parses in), "
             "ccattr, lrml, python or text.")] = "auto",
    keep: Annotated[list[str] | None, typer.Option(
        "--keep", metavar="COLUMN", help="Source column copied as it is, repeatable (default for the "
        "LRML layout: random_split, doc_split), e.g. for corpus.split: fixed with split_column.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Convert an external table (e.g. the NZBC LRML dataset) into one corpus file."""
    try:
        report = import_corpus(src, _parse_map(map_ or []), out, topic=topic,
                               document_from=document_from.value, overwrite=overwrite, id_prefix=id_prefix,
                               notation=notation, keep=keep)
    except (CorpusError, ValueError) as err:
        _fail(f"import failed, nothing written:\n{err}")
    typer.echo(str(report))


@corpus_app.command("split")
def split_cmd(
    files: Annotated[list[Path], typer.Argument(help="Corpus JSONL files or folders of *.jsonl.")],
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Folder for train.jsonl and test.jsonl.")],
    split: Annotated[SplitMode, typer.Option(help="Whole documents or single records.")] = SplitMode.document,
    test_fraction: Annotated[float, typer.Option(help="Target share of the test set.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the shuffles.")] = 13,
    max_train: Annotated[int | None, typer.Option(help="Cap on train records.")] = None,
    max_test: Annotated[int | None, typer.Option(help="Cap on test records.")] = None,
    max_clause_chars: Annotated[int, typer.Option(help="Longest clause validation accepts.")] = 600,
    split_tolerance: Annotated[float, typer.Option(help="Allowed deviation of the realised test share.")] = 0.1,
    validate: Annotated[bool, typer.Option(
        "--validate/--no-validate", help="Run the validation suite first; write nothing if it fails.")] = True,
    docs: Annotated[Path | None, typer.Option(help="Build Data Docs into this folder.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing train/test files.")] = False,
) -> None:
    """Split a corpus into OUT_DIR/train.jsonl and OUT_DIR/test.jsonl (for external data; the
    pipeline's own split is the validate_corpus stage)."""
    try:
        params = CorpusParams(files=[str(f) for f in files], split=split.value, test_fraction=test_fraction,
                              seed=seed, max_train=max_train, max_test=max_test,
                              max_clause_chars=max_clause_chars, split_tolerance=split_tolerance)
    except ValidationError as err:
        _fail("invalid options:\n" + "\n".join(
            f"  --{'-'.join(map(str, e['loc'])).replace('_', '-')}: {e['msg']}" for e in err.errors()))
    targets = [out_dir / "train.jsonl", out_dir / "test.jsonl"]
    existing = [str(t) for t in targets if t.exists()]
    if existing and not overwrite:
        _fail(f"{', '.join(existing)} already exist(s); pass --overwrite to replace")
    summary = None
    try:
        if validate:
            from ccattr.validation import print_report, validate_corpus

            run = validate_corpus(params, docs_dir=docs)
            print_report(run.result)
            if not run.result.success:
                _fail(f"validation failed; nothing written to {out_dir}")
            train, test, summary = run.train, run.test, run.result.summary()
        else:
            train, test = split_corpus(load_corpus(params.file_notations(), params.notation), params.split,
                                       params.test_fraction,
                                       params.seed, max_train=max_train, max_test=max_test)
    except CorpusError as err:
        _fail(f"malformed corpus input:\n{err}")
    write_jsonl(targets[0], records(train))
    write_jsonl(targets[1], records(test))
    if summary is not None:
        write_json(out_dir / "summary.json", summary)
    typer.echo(f"wrote {len(train)} train / {len(test)} test records to {out_dir}")


@corpus_app.command("validate")
def validate_cmd(
    params_file: Annotated[Path, typer.Option("--params", help="Parameters file.")] = Path("params.yaml"),
    docs: Annotated[Path | None, typer.Option(help="Build Data Docs into this folder.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")] = False,
) -> None:
    """Validate the configured corpus (params `corpus`) like the validate_corpus stage, writing
    nothing but the optional Data Docs."""
    from ccattr.validation import print_report, validate_corpus

    try:
        params = load_params(params_file)
        run = validate_corpus(params.corpus, docs_dir=docs)
    except (ParamsError, CorpusError) as err:
        _fail(str(err))
    print_report(run.result)
    if as_json:
        typer.echo(json.dumps(run.result.summary(), indent=2, sort_keys=True))
    if not run.result.success:
        raise typer.Exit(1)


@corpus_app.command("expectations")
def expectations_cmd(
    params_file: Annotated[Path | None, typer.Option(
        "--params", help="Use this params file's corpus section.")] = None,
) -> None:
    """List the validation suite: expectation names, severities, descriptions."""
    from ccattr.validation import expectation_specs

    try:
        params = load_params(params_file).corpus if params_file else CorpusParams()
    except ParamsError as err:
        _fail(str(err))
    for check in expectation_specs(params):
        typer.echo(f"{check.severity:<8} {check.name:<34} {check.description}")


@profile_app.command("apply")
def profile_apply_cmd(
    profile: Annotated[Path, typer.Argument(help="Profile YAML, deep-merged over params.yaml.")],
    params_file: Annotated[Path, typer.Option("--params", help="Params file to update.")] = Path("params.yaml"),
) -> None:
    """Merge PROFILE into params.yaml (validated first; written atomically; git shows the diff)."""
    from ccattr.config import apply_profile

    try:
        params = apply_profile(profile, params_file)
    except (ParamsError, OSError) as err:
        _fail(str(err))
    typer.echo(f"applied {profile} to {params_file}: {len(params.model_names())} models "
               f"({', '.join(params.run.strategies)} x {', '.join(params.run.scales)})")


@profile_app.command("check")
def profile_check_cmd(
    params_file: Annotated[Path, typer.Argument(help="Params file to validate.")] = Path("params.yaml"),
) -> None:
    """Validate a params file and list the models its run matrix trains."""
    try:
        params = load_params(params_file)
    except (ParamsError, OSError) as err:
        _fail(str(err))
    typer.echo("\n".join(params.model_names()))


@report_app.command("findings")
def findings_cmd(
    summary_file: Annotated[Path, typer.Argument(help="The compare stage's summary.")] = Path(
        "results/compare/summary.json"),
) -> None:
    """Print the comparison's key findings as a Markdown list (used by scripts/retrain.sh)."""
    from ccattr.stats import findings

    try:
        summary = json.loads(summary_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        _fail(f"{summary_file}: {err}")
    for sentence in findings(summary):
        typer.echo(f"- {sentence}")


class PowerTest(StrEnum):
    wilcoxon = "wilcoxon"
    friedman = "friedman"
    page = "page"


@plan_app.command("clauses")
def plan_clauses_cmd(
    effect: Annotated[float, typer.Option(help="Effect to detect: rank-biserial r (wilcoxon), Kendall's W "
                                               "(friedman) or within-clause Spearman rho (page).")] = 0.5,
    power: Annotated[float, typer.Option(help="Probability of detecting it.")] = 0.8,
    alpha: Annotated[float, typer.Option(help="Significance level.")] = 0.05,
    test: Annotated[PowerTest, typer.Option(help="The study's test.")] = PowerTest.wilcoxon,
    family: Annotated[int, typer.Option(help="Tests in its Holm family (powered at alpha / family).")] = 1,
    strategies: Annotated[int, typer.Option(help="friedman: strategies compared.")] = 3,
    scales: Annotated[int, typer.Option(help="page: scales in the trend.")] = 3,
) -> None:
    """Clauses per (strategy, scale) cell a test needs to detect EFFECT with POWER."""
    from ccattr import power as pw

    n = pw.clauses_needed(effect, test.value, power, alpha / family, k=strategies, m=scales)
    if n is None:
        _fail(f"{test.value}: no sample size up to 2000 clauses detects {effect} with power {power}")
    typer.echo(f"{test.value}: {n} clauses per cell detect an effect of {effect} with {power:.0%} power at "
               f"alpha {alpha}{f' / {family}' if family > 1 else ''} (by simulation, ccattr.power)")


@plan_app.command("memory")
def plan_memory_cmd(
    gpu_mem: Annotated[str | None, typer.Option("--gpu-mem", help="Memory of one device, e.g. 80G.")] = None,
    params_file: Annotated[Path, typer.Option("--params", help="Parameters file.")] = Path("params.yaml"),
    profile: Annotated[Path | None, typer.Option(help="Merge this profile over the params first.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON rows.")] = False,
) -> None:
    """Each model's parameters and estimated peak memory per stage; which fit one device of
    --gpu-mem, and which launcher (DDP, FSDP) the others need."""
    from rich.console import Console
    from rich.table import Table

    from ccattr.config import deep_merge, read_yaml, validate
    from ccattr.plan import attach_measured, memory_plan, parse_size

    try:
        raw = read_yaml(params_file)
        if profile:
            raw = deep_merge(raw, read_yaml(profile))
        params = validate(raw, source=str(params_file) + (f" + {profile}" if profile else ""))
        device = parse_size(gpu_mem) if gpu_mem else None
        if gpu_mem and device is None:
            raise typer.BadParameter(f"cannot read {gpu_mem!r} as a size (e.g. 80G)", param_hint="--gpu-mem")
        rows = attach_measured(memory_plan(params, device))
    except (ParamsError, ValueError, OSError) as err:
        _fail(str(err))
    if as_json:
        typer.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=f"Estimated peak memory (GB), precision {params.training.precision}, batch "
                        f"{params.training.batch_size} x {params.training.max_seq_len} tokens")
    cols = ["model", "params_h", "weights_gb", "grads_optimizer_gb", "activations_gb", "train_gb", "generate_gb",
            "attribute_gb"] + (["measured_train_gb"] if any("measured_train_gb" in r for r in rows) else []) \
        + (["launcher"] if device else [])
    for c in cols:
        table.add_column(c.replace("_gb", "").replace("_h", "").replace("measured_train", "measured train (RSS)"),
                         overflow="fold")
    for r in rows:
        table.add_row(*[str(r.get(c, "")) for c in cols], style=None if not device or r["fits_one_device"] else "red")
    Console(width=160).print(table)
    if device:
        over = [r["model"] for r in rows if not r["fits_one_device"]]
        typer.echo(f"{len(over)} of {len(rows)} models do not fit one {gpu_mem} device"
                   + (f": {', '.join(over)}" if over else ""))


def main() -> None:  # pragma: no cover
    app(prog_name="ccattr")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
