"""The expectation suite: a clean corpus passes; each planted defect is caught by its own
expectation (and by no other error). Great Expectations is slow to start, so each corpus is
validated once per module and the tests read the shared result."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ccattr.config import CorpusParams
from ccattr.corpus import REQUIRED_FIELDS, split_corpus
from ccattr.validation import (
    CHECKS,
    derive_columns,
    expectation_specs,
    find_leaks,
    normalize_clause,
    validate_split,
)

ENTITIES = ["accessible route", "exit stair", "service corridor", "vehicle ramp", "stair landing",
            "main doorway", "roof balcony", "guard rail", "escape window", "entrance lobby",
            "spiral stairway", "covered passage", "loading dock", "plant room", "car park",
            "lift shaft", "bathroom", "kitchen bench", "atrium", "mezzanine", "basement",
            "verandah", "foyer", "workshop"]
TOPICS = ["access", "fire", "plumbing"]


def _record(i: int) -> dict[str, str]:
    """A clean record: one of four clause templates with a distinct entity and value."""
    e = ENTITIES[i]
    v = f"{e.replace(' ', '_')}"
    d, k = divmod(i, 4)
    num = f"{d + 1}.{k + 1}"
    value = 800 + 25 * i
    template = i % 4
    if template == 0:
        clause = f"{num} The clear width of every {e} shall be not less than {value} mm."
        rule = (f"obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var({v})),"
                f"data({value} mm)))")
    elif template == 1:
        clause = (f"{num} Where a {e} serves more than {k + 2} storeys, it shall have a fire "
                  f"resistance rating of at least {30 + i} minutes.")
        rule = (f"if(atom(rel(greaterThan),expr(fun(storey_count),var({v})),data({k + 2}))),"
                f"then(obligation(atom(rel(greaterThanOrEqual),expr(fun(fire_resistance_rating),"
                f"var({v})),data({30 + i} min))))")
    elif template == 2:
        clause = f"{num} Waste water from a {e} shall not discharge directly into a stormwater drain."
        rule = f"prohibition(atom(fun(discharges_into),var({v}),data(stormwater drain)))"
    else:
        clause = f"{num} In a {e}, the height of the \"safety\" barrier shall not exceed {value} mm."
        rule = (f"obligation(atom(rel(lessThanOrEqual),expr(fun(barrier_height),var({v})),"
                f"data({value} mm)))")
    return {"id": f"doc{d}-{k}", "document": f"Document {d}", "clause_number": num,
            "clause": clause, "rule": rule, "topic": TOPICS[d // 2], "provenance": "test fixture"}


def clean_corpus() -> pd.DataFrame:
    return pd.DataFrame([_record(i) for i in range(24)])


@pytest.fixture(scope="module")
def clean_result(tmp_path_factory):
    train, test = split_corpus(clean_corpus(), "document", 0.2, 13)
    docs = tmp_path_factory.mktemp("docs")
    return validate_split(train, test, CorpusParams(), docs_dir=docs), docs


def test_clean_corpus_passes_without_warnings(clean_result):
    result, _ = clean_result
    assert result.success, result.report()
    assert result.errors == [] and result.warnings == [], result.report()


def test_summary_is_json_and_complete(clean_result):
    result, _ = clean_result
    summary = json.loads(json.dumps(result.summary()))
    assert summary["success"] is True
    assert summary["n_train"] + summary["n_test"] == 24
    assert summary["n_documents"] == 6 and summary["n_topics"] == 3
    assert set(summary["expectations"]) == {c.name for c in expectation_specs(CorpusParams())}
    assert all(e["success"] for e in summary["expectations"].values())
    assert 0.1 <= summary["expectations"]["split.test_fraction"]["observed"] <= 0.3


def test_data_docs_are_built(clean_result):
    result, docs = clean_result
    assert (docs / "index.html").is_file()
    assert result.docs_index == str(docs / "index.html")
    assert list(docs.glob("validations/**/*.html"))


# --- planted defects ----------------------------------------------------------------------

PLANTED = {  # expectation -> ids that must be among its first offending ids
    "schema.unique_id": ["doc0-0"],
    "schema.not_null.rule": ["doc0-2"],
    "text.no_control_chars.clause": ["doc0-3"],
    "text.balanced_quotes": ["doc1-0"],
    "rules.parse": ["doc1-1"],
    "consistency.numbers": ["doc1-2"],
    "leakage.clause_overlap": ["doc1-3", "leak-1"],
    "split.test_fraction": [],
    "schema.string.clause_number": ["doc2-0"],
    "text.clause_length": ["doc2-1"],
    "schema.not_blank.topic": ["doc2-2"],
}


@pytest.fixture(scope="module")
def defect_result():
    df = clean_corpus()
    at = {rid: i for i, rid in enumerate(df["id"])}

    def put(rid, col, value):
        df.at[at[rid], col] = value

    df = df.astype(object)
    put("doc0-1", "id", "doc0-0")                         # duplicate id
    put("doc0-2", "rule", None)                           # null rule
    put("doc0-3", "clause", df.at[at["doc0-3"], "clause"].replace("In a", "In\x07a"))
    put("doc1-0", "clause", df.at[at["doc1-0"], "clause"].replace("The clear", 'The "clear'))
    put("doc1-1", "rule", "must(atom(fun(has),var(stair),data(handrail)))")
    put("doc1-2", "rule", df.at[at["doc1-2"], "rule"].replace("stormwater drain", "999 mm"))
    put("doc2-0", "clause_number", 301)                    # not a string
    put("doc2-1", "clause", df.at[at["doc2-1"], "clause"] + " See also" + " the notes" * 40 + ".")
    put("doc2-2", "topic", "  ")
    twin = dict(df.iloc[at["doc1-3"]])
    leak = {**twin, "id": "leak-1", "document": "Leaked document",
            "clause": twin["clause"].upper().replace(",", " ;  ")}
    fresh = {**_record(0), "id": "fresh-1", "document": "Leaked document",
             "clause": "9.9 Every ventilation duct shall be cleaned at least once per year.",
             "rule": "obligation(atom(fun(is_cleaned),var(ventilation_duct),data(yearly)))"}
    test = pd.DataFrame([leak, fresh])                    # 2 of 26: test fraction far below 0.2
    return validate_split(df, test, CorpusParams(max_clause_chars=300))


def test_defects_fail_validation(defect_result):
    assert not defect_result.success


@pytest.mark.parametrize("name", sorted(PLANTED))
def test_each_planted_defect_is_caught_by_its_expectation(defect_result, name):
    issues = {i.expectation: i for i in defect_result.errors}
    assert name in issues, defect_result.report()
    issue = issues[name]
    assert issue.severity == "error"
    for rid in PLANTED[name]:
        assert rid in issue.ids, (name, issue.ids)


def test_no_other_errors_fire(defect_result):
    assert {i.expectation for i in defect_result.errors} == set(PLANTED), defect_result.report()


def test_issue_details(defect_result):
    issues = {i.expectation: i for i in defect_result.errors}
    frac = issues["split.test_fraction"]
    assert frac.observed == pytest.approx(2 / 26, abs=1e-3)
    assert issues["rules.parse"].unexpected_count == 1
    assert "unknown operator 'must'" in issues["rules.parse"].details[0]
    assert issues["consistency.numbers"].details == ["not in the clause: 999"]
    assert "like leak-1" in issues["leakage.clause_overlap"].where()[0]
    report = defect_result.report()
    assert "rules.parse" in report and "doc1-1" in report
    summary = defect_result.summary()
    assert summary["expectations"]["rules.parse"] == {"severity": "error", "success": False,
                                                      "unexpected_count": 1}


def test_missing_column_is_reported():
    df = clean_corpus().drop(columns=["provenance"])
    train, test = df.iloc[:20], df.iloc[20:]
    result = validate_split(train, test, CorpusParams())
    names = {i.expectation for i in result.errors}
    assert "schema.required_columns" in names
    issue = next(i for i in result.errors if i.expectation == "schema.required_columns")
    assert "provenance" in (issue.message or "")


# --- warnings -----------------------------------------------------------------------------


def test_warnings_do_not_fail():
    df = clean_corpus()
    df.loc[0, "clause"] = "1.1 Width: 800 mm."                       # very short clause
    df.loc[6, "rule"] = df.loc[2, "rule"]                            # one rule, two clauses
    df.loc[1, "clause"] = df.loc[5, "clause"].replace("2.2", "1.2")  # same clause twice
    df.loc[1, "rule"] = df.loc[5, "rule"]
    df.loc[4, "rule"] = df.loc[4, "rule"].replace(" mm", " min")     # unit differs
    df.loc[23, "topic"] = "rare"                                     # tiny topic, only in test
    train, test = df.iloc[:20], df.iloc[20:]
    result = validate_split(train, test, CorpusParams())
    assert result.success, result.report()
    got = {i.expectation: i.ids for i in result.warnings}
    assert "doc0-0" in got["text.short_clause"]
    assert {"doc0-2", "doc1-2"} <= set(got["duplicates.rule_reused"])
    assert {"doc0-1", "doc1-1"} <= set(got["duplicates.clause_within_split"])
    assert "doc1-0" in got["consistency.units"]
    assert got["balance.test_topic_in_train"] == ["doc5-3"]
    assert got["balance.topic_share"] == ["doc5-3"]


# --- helpers (no GE) ----------------------------------------------------------------------


def test_normalize_clause():
    assert normalize_clause("C3.2.1 Where a BUILDING has,   more") == "where a building has more"
    assert normalize_clause("3 storeys or more") == "3 storeys or more"


def test_find_leaks_exact_and_near():
    train = ["4.1 The clear width of a ramp shall be not less than 1200 mm.",
             "Sanitary fixtures shall not discharge into a stormwater drain.",
             "An unrelated clause about glazing in doors and windows."]
    test = ["5.2 the clear width of a RAMP shall be not less than 1200 mm",
            "Sanitary fixtures shall not discharge into a stormwater drains.",
            "The clear width of a corridor shall be not less than 1000 mm.",
            None]
    assert sorted(find_leaks(train, test)) == [(0, 0), (1, 1)]


def test_every_check_has_a_severity_and_unique_name():
    names = [c.name for c in CHECKS]
    assert len(names) == len(set(names))
    assert {c.severity for c in CHECKS} == {"error", "warning"}
    assert {f"schema.not_null.{f}" for f in REQUIRED_FIELDS} <= set(names)
    assert "split.document_one_side" not in {c.name for c in expectation_specs(CorpusParams(split="random"))}


def test_derived_units_numbers_and_nulls():
    rule = ("obligation(and(atom(rel(greaterThanOrEqual),expr(fun(h),var(x)),data(900 mm)),"
            "atom(rel(lessThanOrEqual),expr(fun(h),var(x)),data(1100 mm))))")
    rows = [
        {"clause": "Mounted between 900 and 1100 mm above the floor.", "rule": rule},
        {"clause": "Mounted between 900 and 1100 millimetres above the floor.", "rule": rule},
        {"clause": "Mounted between 900 mm and 1100 m above the floor.", "rule": rule},
        {"clause": "Mounted between 900 and 1200 mm above the floor.", "rule": rule},
        {"clause": "Anything.", "rule": None},
        {"clause": "Anything.", "rule": "not a rule"},
    ]
    df = pd.DataFrame([{**dict.fromkeys(REQUIRED_FIELDS, "x"), **r, "id": f"i{k}", "document": f"d{k}"}
                       for k, r in enumerate(rows)])
    out = derive_columns(df.iloc[:4], df.iloc[4:], CorpusParams())
    assert out["numbers_consistent"].tolist() == [True, True, True, False, None, None]
    assert out["units_consistent"].tolist() == [True, True, False, None, None, None]
    assert out["rule_parses"].tolist() == [True] * 4 + [None, False]
    assert out["document_one_side"].all()


def test_huge_clause_and_empty_rule_are_refused_with_file_and_line(tmp_path):
    """Bad input in a real corpus folder: a 100k-character clause and an empty rule."""
    from ccattr.validation import validate_corpus

    for f in Path("data/corpus").glob("*.jsonl"):
        shutil.copy(f, tmp_path / f.name)
    target = tmp_path / "accessibility.jsonl"
    lines = target.read_text(encoding="utf-8").splitlines()
    huge, empty = json.loads(lines[2]), json.loads(lines[4])
    huge["clause"] = huge["clause"] + " Also" * 20_000  # ~100k characters
    empty["rule"] = ""
    lines[2], lines[4] = json.dumps(huge), json.dumps(empty)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")

    refused = validate_corpus(CorpusParams(files=[str(tmp_path)]))
    errors = {i.expectation: i for i in refused.result.errors}
    assert {"text.clause_length", "schema.not_blank.rule"} <= set(errors), refused.result.report()
    assert f"{huge['id']} ({target}:3)" in str(errors["text.clause_length"])
    assert f"{empty['id']} ({target}:5)" in str(errors["schema.not_blank.rule"])

    # With truncation on, the long clause is cut (and counted) instead; the empty rule still fails.
    cut = validate_corpus(CorpusParams(files=[str(tmp_path)], long_clauses="truncate"))
    assert huge["id"] in cut.truncated and cut.result.counts["n_truncated"] == 1
    assert "text.clause_length" not in {i.expectation for i in cut.result.errors}
