"""Loading (with file:line errors), deterministic splits and caps, the importer. No GE here."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ccattr.corpus import (
    REQUIRED_FIELDS,
    SOURCE_COLUMNS,
    CorpusError,
    apply_caps,
    import_corpus,
    load_corpus,
    records,
    split_corpus,
    truncate_clauses,
)

RULE = "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(route)),data({n} mm)))"


def rec(i: int, doc: str = "Doc A", **over) -> dict:
    r = {"id": f"r{i:03d}", "document": doc, "clause_number": f"1.{i}",
         "clause": f"1.{i} The clear width of route {i} shall be not less than {1000 + i} mm.",
         "rule": RULE.format(n=1000 + i), "topic": "access", "provenance": "test"}
    return {**r, **over}


def write_lines(path, lines) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def corpus(sizes: list[int]) -> pd.DataFrame:
    rows, i = [], 0
    for d, size in enumerate(sizes):
        for _ in range(size):
            rows.append(rec(i, doc=f"Doc {d}"))
            i += 1
    return pd.DataFrame(rows)


# --- loading ------------------------------------------------------------------------------


def test_load_folder_sorted_with_source_columns(tmp_path):
    write_lines(tmp_path / "b.jsonl", [json.dumps(rec(2)), "", json.dumps(rec(3))])
    write_lines(tmp_path / "a.jsonl", [json.dumps(rec(1, extra="kept"))])
    (tmp_path / "notes.txt").write_text("ignored")
    df = load_corpus([str(tmp_path)])
    assert list(df["id"]) == ["r001", "r002", "r003"]
    assert list(df.columns[: len(REQUIRED_FIELDS)]) == list(REQUIRED_FIELDS)
    assert list(df.columns[-2:]) == list(SOURCE_COLUMNS)
    assert list(df["source_line"]) == [1, 1, 3]
    assert df["source_file"].iloc[0].endswith("a.jsonl")
    assert records(df)[0] == {**rec(1), "notation": "ccattr"}  # record fields + resolved notation only


def test_broken_json_reports_file_and_line(tmp_path):
    f = tmp_path / "c.jsonl"
    write_lines(f, [json.dumps(rec(1)), '{"id": "r2", "clause": ', json.dumps(rec(3))])
    with pytest.raises(CorpusError) as err:
        load_corpus([f])
    assert f"{f}:2: invalid JSON" in str(err.value)
    assert err.value.problems == [str(err.value)]


def test_non_utf8_reports_the_line(tmp_path):
    f = tmp_path / "latin1.jsonl"
    f.write_bytes(json.dumps(rec(1)).encode() + b"\n" + json.dumps(rec(2)).encode().replace(b"route", b"r\xe9ute") + b"\n")
    with pytest.raises(CorpusError, match=rf"{f}:2: not valid UTF-8 \(byte 0xe9"):
        load_corpus([f])


def test_missing_field_not_object_and_all_problems_at_once(tmp_path):
    f = tmp_path / "d.jsonl"
    bad = rec(2)
    del bad["rule"]
    write_lines(f, [json.dumps(rec(1)), json.dumps(bad), "[1, 2]", "{broken"])
    with pytest.raises(CorpusError) as err:
        load_corpus([f])
    problems = err.value.problems
    assert problems[0] == f"{f}:2: missing field(s) rule (id 'r002')"
    assert problems[1] == f"{f}:3: expected a JSON object, got an array"
    assert problems[2].startswith(f"{f}:4: invalid JSON")


def test_missing_paths_and_empty_inputs(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus([tmp_path / "nope.jsonl"])
    with pytest.raises(CorpusError, match="no \\*.jsonl files"):
        load_corpus([tmp_path])
    (tmp_path / "empty.jsonl").write_text("\n\n")
    with pytest.raises(CorpusError, match="no records"):
        load_corpus([tmp_path])


def test_values_are_kept_as_found_for_validation(tmp_path):
    f = tmp_path / "e.jsonl"
    write_lines(f, [json.dumps(rec(1, clause_number=7, rule=None))])
    df = load_corpus(f)
    assert df["clause_number"].iloc[0] == 7
    assert records(df)[0]["rule"] is None


def test_truncate_clauses_at_word_boundary():
    df = pd.DataFrame([rec(1), rec(2, clause="word " * 30)])
    out, ids = truncate_clauses(df, 80)
    assert ids == ["r002"]
    assert len(out["clause"].iloc[1]) <= 80 and not out["clause"].iloc[1].endswith(" ")
    assert out["clause"].iloc[0] == df["clause"].iloc[0]


# --- splitting ----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 12), min_size=2, max_size=12),
       seed=st.integers(0, 2**31), fraction=st.floats(0.05, 0.6))
def test_document_split_never_splits_a_document(sizes, seed, fraction):
    df = corpus(sizes)
    train, test = split_corpus(df, "document", fraction, seed)
    assert not set(train["document"]) & set(test["document"])
    assert len(train) and len(test)
    assert sorted(train["id"].tolist() + test["id"].tolist()) == sorted(df["id"])
    assert train["id"].is_monotonic_increasing and test["id"].is_monotonic_increasing
    again = split_corpus(df.sample(frac=1, random_state=seed % 1000), "document", fraction, seed)
    assert again[1]["id"].tolist() == test["id"].tolist()  # input order does not matter


def test_document_split_hits_the_target_on_many_documents():
    df = corpus([5] * 40)
    train, test = split_corpus(df, "document", 0.2, 13)
    assert abs(len(test) / len(df) - 0.2) <= 5 / len(df)
    other = split_corpus(df, "document", 0.2, 14)[1]
    assert set(other["document"]) != set(test["document"])  # the seed matters


def test_document_split_needs_two_documents():
    with pytest.raises(CorpusError, match="1 document"):
        split_corpus(corpus([6]), "document", 0.2, 1)


def test_random_split_is_seeded_and_sized():
    df = corpus([10, 10, 10])
    train, test = split_corpus(df, "random", 0.2, 5)
    assert len(test) == 6 and len(train) == 24
    assert split_corpus(df, "random", 0.2, 5)[1].equals(test)
    assert not split_corpus(df, "random", 0.2, 6)[1]["id"].equals(test["id"])


def test_split_rejects_bad_arguments():
    with pytest.raises(ValueError, match="split must be"):
        split_corpus(corpus([3, 3]), "topic", 0.2, 1)
    with pytest.raises(ValueError, match="test_fraction"):
        split_corpus(corpus([3, 3]), "random", 1.5, 1)


def test_caps_are_deterministic_subsets():
    df = corpus([10, 10, 10, 10])
    train, test = split_corpus(df, "random", 0.25, 3)
    c_train, c_test = apply_caps(train, test, max_train=7, max_test=4, seed=3)
    assert len(c_train) == 7 and len(c_test) == 4
    assert set(c_train["id"]) <= set(train["id"]) and set(c_test["id"]) <= set(test["id"])
    assert c_test["id"].is_monotonic_increasing
    again = split_corpus(df, "random", 0.25, 3, max_train=7, max_test=4)
    assert again[0].equals(c_train) and again[1].equals(c_test)
    assert apply_caps(train, test, None, 100, 3)[1].equals(test)


# --- importing ----------------------------------------------------------------------------

LRML_ROWS = [  # file, number, text, lrml
    ("B1_AS1", "1.1", "The clear width of an accessible route shall be not less than 1200 mm.",
     "obligation(atom(rel(greaterThanOrEqual),expr(fun(clear_width),var(accessible_route)),data(1200 mm)))"),
    ("B1_AS1", "1.1", "Ramps shall have a gradient no steeper than 1:12.",
     "obligation(atom(rel(lessThanOrEqual),expr(fun(gradient),var(ramp)),data(1:12)))"),
    ("B1_AS1", "", "Every landing shall be at least 900 mm long.",
     "<lrml:Rule key='x'>not the project notation</lrml:Rule>"),
    ("G13_AS1", "3.1", "Sanitary fixtures shall not discharge\n directly into a stormwater drain.",
     "prohibition(atom(fun(discharges_into),var(sanitary_fixture),data(stormwater drain)))"),
]


def write_lrml(path, rows=LRML_ROWS) -> None:
    pd.DataFrame(rows, columns=["file", "number", "text", "lrml"]).to_csv(path, index=False)


def test_import_lrml_layout(tmp_path):
    src = tmp_path / "lrml.csv"
    write_lrml(src)
    out = tmp_path / "corpus" / "lrml.jsonl"
    report = import_corpus(src, {"text": "text", "rule": "lrml", "document": "file",
                                 "clause_number": "number"}, out, topic="structure")
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["b1-as1-1-1", "b1-as1-1-1-2", "b1-as1-3", "g13-as1-3-1"]
    assert set(rows[0]) == {*REQUIRED_FIELDS, "notation"}
    assert rows[0]["provenance"] == "imported from lrml.csv"
    assert {r["topic"] for r in rows} == {"structure"}
    assert rows[3]["clause"] == "Sanitary fixtures shall not discharge directly into a stormwater drain."
    assert (report.n_records, report.n_documents) == (4, 2)
    # 3 of 4 rules parse in the strict ccattr grammar: detected as ccattr, the broken one named
    assert (report.notation, report.detected) == ("ccattr", True)
    assert {r["notation"] for r in rows} == {"ccattr"}
    assert len(report.unparsable) == 1 and report.unparsable[0].startswith(f"{src}:4 (b1-as1-3): ")
    assert "1 rule(s) do not parse in ccattr" in str(report)
    # stable ids: a re-import gives the same file
    again = import_corpus(src, {}, tmp_path / "again.jsonl", topic="structure")
    assert (tmp_path / "again.jsonl").read_text() == out.read_text()
    assert again.n_records == 4


def test_import_refuses_to_overwrite(tmp_path):
    src = tmp_path / "lrml.csv"
    write_lrml(src)
    out = tmp_path / "data" / "corpus" / "access.jsonl"
    write_lines(out, [json.dumps(rec(1))])
    before = out.read_bytes()
    with pytest.raises(CorpusError, match=rf"{out}: already exists"):
        import_corpus(src, {}, out)
    assert out.read_bytes() == before
    report = import_corpus(src, {}, out, overwrite=True)
    assert report.replaced and "replaced" in str(report)
    with pytest.raises(CorpusError, match="source file"):
        import_corpus(out, {"clause": "clause", "rule": "rule"}, out, overwrite=True)


def test_import_errors_name_the_problem(tmp_path):
    src = tmp_path / "lrml.csv"
    write_lrml(src)
    with pytest.raises(CorpusError, match="no column\\(s\\) lrml_text"):
        import_corpus(src, {"clause": "text", "rule": "lrml_text"}, tmp_path / "x.jsonl")
    with pytest.raises(CorpusError, match="unknown field 'body'"):
        import_corpus(src, {"body": "text", "rule": "lrml"}, tmp_path / "x.jsonl")
    with pytest.raises(CorpusError, match="'rule' is not mapped"):
        import_corpus(src, {"clause": "text"}, tmp_path / "x.jsonl")
    with pytest.raises(CorpusError, match="must be a .jsonl"):
        import_corpus(src, {}, tmp_path / "x.csv")
    assert not (tmp_path / "x.jsonl").exists()


def test_import_jsonl_source_with_document_from_filename(tmp_path):
    src = tmp_path / "nzbc_d1.jsonl"
    write_lines(src, [json.dumps({"body": "Handrails are required on stairs.", "r": "x"}),
                      json.dumps({"body": "Ramps need landings.", "r": "y"})])
    import_corpus(src, {"clause": "body", "rule": "r"}, tmp_path / "out.jsonl",
                  document_from="filename", id_prefix="ext")
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["ext-nzbc-d1-1", "ext-nzbc-d1-2"]
    assert {r["document"] for r in rows} == {"nzbc_d1"} and rows[0]["topic"] == "imported"
