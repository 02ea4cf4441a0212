"""The LRML F-score, checked on examples computed by hand from the published scorer's rules."""

from __future__ import annotations

import doctest

import pytest

import ccattr.lrml_fscore
from ccattr.lrml_fscore import Element, corpus_score, elements, score_pair, words

REF = "if(is(gutter.type,internal)),then(obligation(has(gutter,outlet)))"
PRED = "if(is(gutter.type,external)),then(obligation(has(gutter,outlet)))"


def test_doctests():
    assert doctest.testmod(ccattr.lrml_fscore).failed == 0


def test_words_split_like_the_published_scorer():
    assert words("naturalVentilation") == ["natural", "ventilation"]
    assert words("nzbc_e2as1_t7") == ["nzbc", "e2", "as1", "t7"]
    assert words("300mm") == ["300", "mm"]            # digit then letter
    assert words("G13AS2") == ["g13", "as2"]
    assert words("40%") == ["40", "%"]
    assert words("0.2 kN load") == ["0.2", "kn", "load"]
    assert words("0.2 kN") == ["0.2", "k", "n"]        # the kN fix needs a space after it, as published
    assert words("_new") == ["", "new"]                # a leading "_" gives an empty word, as published


def test_reading_glues_across_commas_and_cuts_the_first_character():
    # "if" loses its "i" (no ":" before position 30); commas separate nothing
    els = elements(REF)
    assert els == [
        Element("f", ("gutter", "typeinternal"), leaf=False),
        Element("is", ("gutter", "typeinternal"), leaf=True),
        Element("then", ("gutteroutlet",), leaf=False),
        Element("obligation", ("gutteroutlet",), leaf=False),
        Element("has", ("gutteroutlet",), leaf=True),
        Element("", ("gutter", "typeinternal"), leaf=True, entity=True),
        Element("", ("gutteroutlet",), leaf=True, entity=True),
    ]
    # a leaf before a nested term glues into the term's name: "x" + "is" -> "xis"
    assert [e.name for e in elements("if(and(x,is(y,z)))")] == ["f", "and", "xis", ""]


def test_one_pair_by_hand():
    # Recall, walking the 7 reference elements (5 terms, 2 entities of weight 2):
    #   f, is: 1 of 2 words shared -> 0.5 each; then, obligation, has: 1 each;
    #   entity (gutter, typeinternal) ~ (gutter, typeexternal): 1/2 * 2 = 1; entity gutteroutlet: 2.
    #   (0.5 + 0.5 + 1 + 1 + 1 + 1 + 2) / (7 + 2) = 7/9; precision is symmetric here.
    p, r = score_pair(PRED, REF)
    assert p == pytest.approx(7 / 9) and r == pytest.approx(7 / 9)
    assert score_pair(REF, REF) == (1.0, 1.0)


def test_order_of_arguments_matters_through_the_glue():
    # ref f(yz, x), and(yz, x), is(yz), entity(yz); pred f(yz), and(yz), xis(yz), entity(yz)
    # recall: 1/2 + 1/2 + 0 (no "is" in pred) + 2 = 3, over 4 + 1 -> 0.6
    # precision: 1 + 1 + 0 (no "xis" in ref) + 2 = 4, over 4 + 1 -> 0.8
    assert score_pair("if(and(x,is(y,z)))", "if(and(is(y,z),x))") == pytest.approx((0.8, 0.6))


def test_then_closes_every_open_term():
    # the reference forgot the ")" of its if(...): "then" closes it, so the structures agree
    assert score_pair("if(a(b)),then(c(d))", "if(a(b),then(c(d)))") == (1.0, 1.0)


def test_clue_cut_applies_to_each_side_as_written():
    # "Target: " is cut cleanly on the prediction, while the reference loses its "i": f vs if
    # recall: f unmatched 0, a 1, entity 2 -> 3 / (3 + 1); precision the same
    assert score_pair("Target: if(a(b))", "if(a(b))") == (0.75, 0.75)
    assert score_pair("Target: if(a(b))", "Target: if(a(b))") == (1.0, 1.0)


def test_empty_prediction_elements_are_dropped_and_entities_weigh_twice():
    # pred: f(), a() [leaf, no words], then(c), b(c), entity(c); its empty entity is dropped
    # precision: f 0, a 0, then 1, b 1, entity 2 -> 4 / (5 + 1); recall over the reference
    # f(x), a(x), then(c), b(c), entity(x), entity(c): 0 + 0 + 1 + 1 + 0 + 2 -> 4 / (6 + 2)
    assert score_pair("if(a()),then(b(c))", "if(a(x)),then(b(c))") == pytest.approx((2 / 3, 0.5))


def test_corpus_figure_is_the_harmonic_mean_of_mean_precision_and_recall():
    res = corpus_score([PRED, "if(a()),then(b(c))"], [REF, "if(a(x)),then(b(c))"])
    p, r = (7 / 9 + 2 / 3) / 2, (7 / 9 + 0.5) / 2
    assert res.precision == pytest.approx(100 * p) and res.recall == pytest.approx(100 * r)
    assert res.f == pytest.approx(100 * 2 * p * r / (p + r))  # 67.80, not the mean of pair F-scores
    assert res.pair_recall == pytest.approx((7 / 9, 0.5))
    assert corpus_score(["x"], ["if(a(b))"]).f == 0.0
    with pytest.raises(ValueError, match="1 predictions vs 2 references"):
        corpus_score(["a"], ["a", "b"])
