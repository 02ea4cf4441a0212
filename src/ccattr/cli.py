"""The ``ccattr`` command line (a thin layer over :mod:`ccattr.corpus` / :mod:`ccattr.validation`).

::

    ccattr corpus import lrml.csv --out data/corpus/lrml.jsonl \\
        --map clause=text --map rule=lrml --map document=file --map clause_number=number --topic imported
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
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace OUT if it exists.")] = False,
) -> None:
    """Convert an external table (e.g. a public LRML dataset) into one corpus file."""
    try:
        report = import_corpus(src, _parse_map(map_ or []), out, topic=topic,
                               document_from=document_from.value, overwrite=overwrite, id_prefix=id_prefix)
    except CorpusError as err:
        _fail(f"import failed:\n{err}")
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
            train, test = split_corpus(load_corpus(params.files), params.split, params.test_fraction,
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


def main() -> None:  # pragma: no cover
    app(prog_name="ccattr")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
