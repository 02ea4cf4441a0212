import numpy as np
import pytest
import torch

from ccattr.generate import generate_rules
from ccattr.metrics import Embedder, cosine_pairs, normalize_rule, score_rules
from ccattr.prompts import PromptTemplate


@pytest.fixture(scope="module")
def embedder():
    return Embedder()


def test_batched_generation_equals_one_by_one(tokenizer, records):
    from conftest import make_tiny_model

    model = make_tiny_model(tokenizer)
    tpl = PromptTemplate(tokenizer)
    clauses = [r["clause"] for r in records[:5]]
    batched = generate_rules(model, tpl, clauses, max_new_tokens=8, batch_size=5)
    single = [generate_rules(model, tpl, [c], max_new_tokens=8, batch_size=1)[0] for c in clauses]
    assert batched == single
    assert all(isinstance(r, str) for r in batched)


def test_generation_splits_a_batch_that_runs_out_of_memory(tokenizer, records, monkeypatch):
    from conftest import make_tiny_model

    model = make_tiny_model(tokenizer)
    tpl = PromptTemplate(tokenizer)
    clauses = [r["clause"] for r in records[:4]]
    expected = generate_rules(model, tpl, clauses, max_new_tokens=6, batch_size=4)
    real, sizes = model.generate, []

    def flaky(*args, **kw):
        sizes.append(kw["input_ids"].shape[0])
        if kw["input_ids"].shape[0] > 1:
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(*args, **kw)

    monkeypatch.setattr(model, "generate", flaky)
    assert generate_rules(model, tpl, clauses, max_new_tokens=6, batch_size=4) == expected
    assert sizes[0] == 4 and sizes.count(1) == 4


def test_scores(embedder):
    ref = "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(route)),data(1200 mm)))"
    close = "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(route)),data(1000 mm)))"
    far = "the weather is nice today"
    s = score_rules([ref.replace(",", ", "), close, far], [ref, ref, ref], embedder)
    assert s["exact_match"] == [1, 0, 0]
    assert s["similarity"][0] == pytest.approx(1.0, abs=1e-3) or s["similarity"][0] > 0.98
    assert s["similarity"][1] > s["similarity"][2]
    assert s["edit_distance"][0] == 0.0 and 0 < s["edit_distance"][1] < s["edit_distance"][2] <= 1
    assert normalize_rule(" a( b ) ") == "a(b)"


def test_cosine_pairs():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert cosine_pairs(a, np.array([[2.0, 0.0], [1.0, 0.0]])).tolist() == [1.0, 0.0]
