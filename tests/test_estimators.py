"""ccattr.estimators: Captum's cheaper estimators on the exact engine's word features, run on a
real model class (a tiny random-weight Llama with the real SmolLM2 tokenizer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_tiny_model

from ccattr import estimators
from ccattr.attribution import Attributor, PromptTemplate, perturb

TWO_WORDS = "Handrails required"
CLAUSE = "Handrails shall be 900 mm high."
TARGET = "obligation(height(handrail) >= 900 mm)"


@pytest.fixture(scope="module")
def att(tokenizer):
    torch.set_num_threads(1)
    return Attributor(make_tiny_model(tokenizer), tokenizer, PromptTemplate(tokenizer), faithfulness=False)


def _f(att: Attributor, clause: str, keep: set[int]) -> float:
    """Log-probability of TARGET with only the units in ``keep`` left in the clause."""
    units = att.units(clause)
    text = perturb(clause, units, {i: att.replacement(u) for i, u in enumerate(units) if i not in keep})
    return float(att.target_logprobs([text], TARGET)[0])


def test_exact_is_leave_one_out(att):
    np.testing.assert_allclose(estimators.unit_scores(att, CLAUSE, TARGET, "exact", 0),
                               att.attribute(CLAUSE, TARGET).raw_scores)


def test_shapley_sampling_is_efficient(att):
    # Every sampled permutation's marginal contributions add up to f(all units) - f(no unit), so
    # their average does too, whatever the sample: Captum ran over the same features and baseline.
    n = len(att.units(CLAUSE))
    got = estimators.unit_scores(att, CLAUSE, TARGET, "shapley", 3, seed=3)
    assert got.shape == (n,)
    np.testing.assert_allclose(got.sum(), _f(att, CLAUSE, set(range(n))) - _f(att, CLAUSE, set()), atol=2e-4)


def test_shapley_on_two_units_lies_between_the_two_orders(att):
    # With two units a permutation is one of two orders; the estimate is a mix of the two.
    assert len(att.units(TWO_WORDS)) == 2
    got = estimators.unit_scores(att, TWO_WORDS, TARGET, "shapley", 6, seed=3)
    f = {k: _f(att, TWO_WORDS, set(k)) for k in [(), (0,), (1,), (0, 1)]}
    first, second = f[(0,)] - f[()], f[(0, 1)] - f[(1,)]   # unit 0 added first / second
    assert min(first, second) - 2e-4 <= got[0] <= max(first, second) + 2e-4


@pytest.mark.parametrize("method", ["kernel_shap", "lime"])
def test_coalition_estimators_score_every_unit(att, method):
    a = estimators.unit_scores(att, CLAUSE, TARGET, method, 24, seed=1)
    b = estimators.unit_scores(att, CLAUSE, TARGET, method, 24, seed=1)
    assert a.shape == (len(att.units(CLAUSE)),) and np.isfinite(a).all()
    np.testing.assert_array_equal(a, b)  # seeded: the same coalitions, the same scores


def test_layer_ig_scores_units_from_their_tokens(att):
    scores = estimators.unit_scores(att, CLAUSE, TARGET, "layer_ig", 4)
    assert scores.shape == (len(att.units(CLAUSE)),) and np.isfinite(scores).all()
    assert np.abs(scores).sum() > 0


def test_unknown_method_is_refused(att):
    with pytest.raises(ValueError, match="unknown attribution method 'occlusion'"):
        estimators.unit_scores(att, CLAUSE, TARGET, "occlusion", 1)


def test_attributor_runs_the_configured_method(tokenizer):
    from ccattr.config import AttributionParams

    model = make_tiny_model(tokenizer)
    lime = Attributor(model, tokenizer, PromptTemplate(tokenizer), method="lime", n_samples=16)
    exact = Attributor(model, tokenizer, PromptTemplate(tokenizer))
    res = lime.attribute(CLAUSE, TARGET)
    assert res.raw_scores.shape == (len(lime.units(CLAUSE)),) and res.token_scores is None
    assert res.config["method"] == "lime" and lime.config_hash() != exact.config_hash()
    np.testing.assert_array_equal(lime.attribute(CLAUSE, TARGET).raw_scores, res.raw_scores)  # seeded per clause
    assert np.isfinite(res.comprehensiveness)  # faithfulness still from the exact scorer
    with pytest.raises(ValueError, match="target 'semantic' needs method 'exact'"):
        AttributionParams(method="shapley", target="semantic")
    with pytest.raises(ValueError, match="unknown attribution method"):
        Attributor(model, tokenizer, PromptTemplate(tokenizer), method="occlusion")
