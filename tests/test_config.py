from pathlib import Path

import pytest
import yaml

from ccattr.config import ParamsError, apply_profile, deep_merge, load_params, read_yaml, validate

ROOT_PARAMS = "params.yaml"


@pytest.fixture
def raw():
    return read_yaml(ROOT_PARAMS)


def test_default_params_are_valid():
    p = load_params(ROOT_PARAMS)
    assert p.model_names()[0] == f"{p.run.strategies[0]}-{p.run.scales[0]}"
    assert len(p.model_names()) == len(p.run.strategies) * len(p.run.scales)


@pytest.mark.parametrize("mutate, key, hint", [
    (lambda r: r.update(bogus=1), "bogus", "unknown key"),
    (lambda r: r["training"].update(lr=1), "training.lr", "unknown key"),
    (lambda r: r["strategies"]["fft"].update(learning_rate=-1e-4), "strategies.fft.learning_rate", "greater than 0"),
    (lambda r: r["strategies"].update(sgd={"learning_rate": 1e-3}), "strategies.sgd", "'fft', 'lora', 'qlora' or 'hybrid'"),
    (lambda r: r["run"].update(strategies=["fft", "hybrid2"]), "run.strategies", ""),
    (lambda r: r["run"].update(scales=["nope"]), "run.scales: 'nope' is not configured", "allowed"),
    (lambda r: r["scales"].update({"../x": r["scales"]["smollm2-l6"]}), "scales.../x", "not a safe name"),
    (lambda r: r["corpus"].update(test_fraction=1.5), "corpus.test_fraction", "less than 1"),
    (lambda r: r["corpus"].update(split="alphabetical"), "corpus.split", "'random', 'document' or 'fixed'"),
    (lambda r: r["scales"]["smollm2-l6"].pop("gguf_file"), "scales.smollm2-l6", "needs gguf_file"),
    (lambda r: r["tracking"].update(uri="http://bob:hunter2@mlflow:5000"), "tracking.uri", "credentials"),
    (lambda r: r["method_check"].update(methods=["kernelshap"]), "method_check.methods.0", "(got 'kernelshap')"),
    (lambda r: r["method_check"].update(methods=["lime", "shapley", "lime"]), "method_check.methods",
     "listed more than once: lime"),
    (lambda r: r["method_check"].update(methods=["exact", "lime"]), "method_check.methods",
     "'exact' is what every method is measured against; list only estimators (shapley, kernel_shap, lime"),
    (lambda r: r["method_check"].update(clauses=0), "method_check.clauses", "greater than or equal to 1"),
    (lambda r: r["method_check"].update(n_samples=0), "method_check.n_samples", "greater than or equal to 1"),
    (lambda r: r["attribution"].update(target="semantic"), "method_check.methods: 'kernel_shap' scores a "
     "log-probability, which attribution.target 'semantic' does not have", "set method_check.methods: []"),
])
def test_bad_params_name_the_key(raw, mutate, key, hint):
    mutate(raw)
    with pytest.raises(ParamsError) as err:
        validate(raw)
    assert key in str(err.value)
    assert hint in str(err.value)


def test_profile_merge_replaces_scales_and_keeps_the_rest(raw):
    merged = deep_merge(raw, read_yaml("profiles/tiny.yaml"))
    p = validate(merged)
    assert set(p.scales) == {"tiny-a", "tiny-b"}
    assert p.strategies["lora"].lora.r == raw["strategies"]["lora"]["lora"]["r"]
    assert p.training.max_steps == 3 and p.training.schedule == raw["training"]["schedule"]


@pytest.mark.parametrize("profile", sorted(str(p) for p in Path("profiles").glob("*.yaml")))
def test_shipped_profiles_validate(raw, profile):
    validate(deep_merge(raw, read_yaml(profile)))


def test_apply_profile_is_atomic_and_refuses_invalid(tmp_path, raw):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(raw))
    bad = tmp_path / "bad.yaml"
    bad.write_text("training: {batch_size: 0}\n")
    before = params.read_text()
    with pytest.raises(ParamsError, match="training.batch_size"):
        apply_profile(bad, params)
    assert params.read_text() == before
    apply_profile("profiles/tiny.yaml", params)
    assert set(load_params(params).scales) == {"tiny-a", "tiny-b"}


def test_method_check_params(raw):
    p = load_params(ROOT_PARAMS).method_check
    assert (p.methods, p.clauses, p.n_samples) == (["kernel_shap", "lime"], 4, 25)
    raw["attribution"]["target"] = "semantic"
    raw["method_check"]["methods"] = []            # no estimator checked: the semantic target is fine
    assert validate(raw).method_check.methods == []
    tiny = validate(deep_merge(read_yaml(ROOT_PARAMS), read_yaml("profiles/tiny.yaml"))).method_check
    assert (tiny.methods, tiny.clauses, tiny.n_samples) == (["kernel_shap"], 2, 8)
    study = validate(deep_merge(read_yaml(ROOT_PARAMS), read_yaml("profiles/methods.yaml"))).method_check
    assert (set(study.methods), study.clauses, study.n_samples) == ({"shapley", "kernel_shap", "lime", "layer_ig"},
                                                                     16, 32)
