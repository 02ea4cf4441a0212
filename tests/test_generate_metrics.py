import numpy as np
import pytest
import torch

from ccattr.generate import generate_rules
from ccattr.metrics import Embedder, cosine_pairs, normalize_rule, score_rules, summarize
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
    rows = score_rules([ref.replace(",", ", "), close, far], [ref, ref, ref], embedder, ["ccattr"] * 3)
    s = {k: [r[k] for r in rows] for k in rows[0]}
    assert s["exact_match"] == [1, 0, 0]
    assert s["similarity"][0] == pytest.approx(1.0, abs=1e-3) or s["similarity"][0] > 0.98
    assert s["similarity"][1] > s["similarity"][2]
    assert s["edit_distance"][0] == 0.0 and 0 < s["edit_distance"][1] < s["edit_distance"][2] <= 1
    assert s["parses"] == [True, True, False]
    # the published scorer reads layout: a space after each comma costs words (" route" vs "route")
    assert 0 < s["lrml_f"][1] < 1 and s["lrml_f"][2] == 0 and s["lrml_f"][0] < 1
    assert score_rules([ref], [ref], embedder, ["ccattr"])[0]["lrml_f"] == pytest.approx(1.0)
    assert s["bleu"][1] < s["bleu"][0] == pytest.approx(1.0)  # 13a tokenization ignores the spaces
    assert normalize_rule(" a( b ) ") == "a(b)"


def test_scores_follow_each_rule_notation(embedder):
    """Exact match and parse rate use the notation; text rules have no parse rate or LRML F."""
    lrml = "if(is(gutter.type,internal)),then(obligation(greaterThanEqual(gutter.slope,1/100)))"
    rows = score_rules([lrml, "Gutters must fall 1:100.", "x = (", "obligation(atom(fun(has))"],
                       [lrml, "Gutters must fall 1:100.", "x = 1", "obligation(atom(fun(has)))"], embedder,
                       ["lrml", "text", "python", "ccattr"])
    assert [r["exact_match"] for r in rows] == [1, 1, 0, 0]
    spaced = score_rules([lrml.replace(",", " , ")], [lrml], embedder, ["lrml"])[0]
    assert spaced["exact_match"] == 1  # the canonical form ignores layout
    assert [r["parses"] for r in rows] == [True, None, False, False]
    assert rows[1]["lrml_f"] is None and rows[2]["lrml_f"] is None and rows[0]["lrml_f"] == pytest.approx(1.0)
    summary = summarize(rows, [lrml, "Gutters must fall 1:100.", "x = (", "y"],
                        [lrml, "Gutters must fall 1:100.", "x = 1", "z"], ["lrml", "text", "python", "ccattr"])
    assert summary["notation"] == "mixed (ccattr 1, lrml 1, python 1, text 1)"
    assert summary["parse_rate"] == pytest.approx(1 / 3)  # the text rule has no grammar
    assert summary["lrml_f_score"] is not None and 0 < summary["corpus_bleu"] <= 100


def test_cosine_pairs():
    a = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert cosine_pairs(a, np.array([[2.0, 0.0], [1.0, 0.0]])).tolist() == [1.0, 0.0]
