"""`ccattr plan`: model sizes from configs, memory estimates and the launcher each model needs."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from ccattr.cli import app
from ccattr.config import LoraParams, StrategyParams, deep_merge, read_yaml, validate
from ccattr.plan import KNOWN_ARCHITECTURES, _from_config, memory_plan, parse_size

runner = CliRunner()


@pytest.mark.parametrize("model_id, published", [
    ("Qwen/Qwen2.5-0.5B-Instruct", 494e6), ("Qwen/Qwen2.5-7B-Instruct", 7.62e9),
    ("Qwen/Qwen2.5-14B-Instruct", 14.77e9), ("HuggingFaceTB/SmolLM2-135M-Instruct", 134.5e6),
    ("HuggingFaceTB/SmolLM2-1.7B-Instruct", 1.71e9),
])
def test_parameter_counts_match_the_published_sizes(model_id, published):
    assert KNOWN_ARCHITECTURES[model_id].params()["total"] == pytest.approx(published, rel=0.01)


def test_counts_from_a_config_are_exact_for_a_real_model_class(tokenizer, tmp_path):
    from conftest import make_tiny_model
    from peft import LoraConfig, get_peft_model

    from ccattr.models import count_params

    model = make_tiny_model(tokenizer)
    model.config.save_pretrained(tmp_path)
    arch = _from_config(json.loads((tmp_path / "config.json").read_text()), "test")
    assert arch.params()["total"] == count_params(model)
    peft = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", task_type="CAUSAL_LM"))
    assert arch.lora_params(4) == sum(p.numel() for p in peft.parameters() if p.requires_grad)


def test_gpu_profile_says_which_models_need_fsdp():
    params = validate(deep_merge(read_yaml("params.yaml"), read_yaml("profiles/gpu.yaml")))
    rows = {r["model"]: r for r in memory_plan(params, parse_size("80G"))}
    assert len(rows) == 20
    assert not rows["fft-qwen2.5-14b"]["fits_one_device"] and rows["fft-qwen2.5-14b"]["launcher"].startswith("FSDP")
    assert rows["qlora-qwen2.5-14b"]["fits_one_device"] and rows["lora-qwen2.5-0.5b"]["fits_one_device"]
    # full fine-tuning of 14B: bf16 weights, gradients and two AdamW states alone exceed 80 GB
    assert rows["fft-qwen2.5-14b"]["weights_gb"] + rows["fft-qwen2.5-14b"]["grads_optimizer_gb"] > 80
    # NF4 linear layers; the untied 152k-token embedding and head stay in bf16 (about 3 GB)
    assert rows["qlora-qwen2.5-14b"]["weights_gb"] < rows["lora-qwen2.5-14b"]["weights_gb"] / 2.5


def test_qlora_and_lora_differ_only_in_the_base_weights():
    params = validate(read_yaml("params.yaml"))
    rows = {r["strategy"]: r for r in memory_plan(params) if r["scale"] == "smollm2-l30"}
    assert rows["lora"]["grads_optimizer_gb"] == rows["qlora"]["grads_optimizer_gb"] < rows["fft"]["grads_optimizer_gb"]
    assert rows["qlora"]["weights_gb"] < rows["lora"]["weights_gb"]
    assert StrategyParams(learning_rate=1e-3, lora=LoraParams()).lora.r == 8  # default rank, for the record


def test_plan_commands():
    res = runner.invoke(app, ["plan", "clauses", "--effect", "0.5"])
    assert res.exit_code == 0 and res.output.startswith("wilcoxon: 38 clauses per cell")
    res = runner.invoke(app, ["plan", "memory", "--profile", "profiles/gpu.yaml", "--gpu-mem", "80G"])
    assert res.exit_code == 0 and "1 of 20 models do not fit one 80G device: fft-qwen2.5-14b" in res.output
    res = runner.invoke(app, ["plan", "memory", "--gpu-mem", "lots"])
    assert res.exit_code != 0
    assert parse_size("80G") == 80e9 and parse_size("Qwen2.5-14B-Instruct") == 14e9


def test_measured_peak_joins_the_plan(tmp_path):
    from ccattr.plan import attach_measured

    (tmp_path / "lora-s").mkdir()
    (tmp_path / "lora-s" / "run.json").write_text(json.dumps({"peak_memory_mb": 2048.0}))
    rows = attach_measured([{"model": "lora-s"}, {"model": "fft-s"}], tmp_path)
    assert rows[0]["measured_train_gb"] == round(2048 * 2**20 / 1e9, 2) and "measured_train_gb" not in rows[1]
