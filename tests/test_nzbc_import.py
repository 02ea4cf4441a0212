"""Importing the published NZBC LegalRuleML layout: mapping, notation, fixed splits, bad input.

The fixture (tests/fixtures/nzbc_lrml_sample.csv) is written for these tests in the layout and
notation of the published v8 set (file, number, text, lrml, paraphrase, random_split,
doc_split); it is not copied from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ccattr.config import CorpusParams
from ccattr.corpus import CorpusError, import_corpus, load_corpus, split_corpus
from ccattr.io import read_jsonl
from ccattr.validation import validate_corpus

FIXTURE = Path(__file__).parent / "fixtures" / "nzbc_lrml_sample.csv"
TEST_DOCS = ["G14VM1", "D1AS1", "B2AS1"]  # the published document split's test documents


@pytest.fixture
def imported(tmp_path) -> Path:
    out = tmp_path / "nzbc" / "sample.jsonl"
    import_corpus(FIXTURE, None, out)
    return out


def test_import_maps_the_layout_detects_lrml_and_says_what_it_did(tmp_path):
    out = tmp_path / "sample.jsonl"
    report = import_corpus(FIXTURE, None, out)
    rows = read_jsonl(out)
    assert len(rows) == 36 and report.n_documents == 8
    assert (report.notation, report.detected, report.unparsable) == ("lrml", True, [])
    assert {r["notation"] for r in rows} == {"lrml"}
    assert rows[0]["paraphrase"].startswith("If a gutter exists")
    assert (rows[0]["random_split"], rows[0]["doc_split"]) == ("1", "1")  # kept for split_column
    assert report.fields["clause"] == "text" and report.fields["paraphrase"] == "paraphrase"
    text = str(report)
    assert "notation: lrml (detected: every rule parses in it)" in text
    assert "kept as they are: random_split, doc_split" in text and "corpus.files: [" in text


def test_imported_fixture_validates_under_lrml_with_the_published_document_split(imported):
    params = CorpusParams(files=[str(imported)], notation="lrml", split="fixed", test_documents=TEST_DOCS,
                          max_clause_chars=1000)
    run = validate_corpus(params)
    assert run.result.success, run.result.report()
    c = run.result.counts
    assert (c["n_train"], c["n_test"]) == (26, 10)
    assert {r for r in run.test["document"]} == {"NZ_NZBC-G14VM1#1.0", "NZ_NZBC-D1AS1#1.0", "NZ_NZBC-B2AS1#1.0"}
    assert c["notation"] == "lrml" and c["n_rules_unparsed"] == 0
    # the fixture has rules with names outside the published vocabulary and numbers in another
    # form than the clause's: warnings, counted, never errors
    warnings = {w.expectation: w for w in run.result.warnings}
    assert warnings["rules.known_names"].unexpected_count == 2 and c["n_unknown_names"] == 3
    assert set(c["unknown_names"]) == {"receive", "provide", "detect"}
    assert c["numbers_severity"] == "warning" and c["n_numbers_inconsistent"] == 2
    assert warnings["consistency.numbers"].unexpected_count == 2
    assert "split.test_fraction" not in run.result.expectations  # a fixed split is taken as given


def test_split_column_with_a_value_mapping(imported):
    params = CorpusParams(files=[str(imported)], notation="lrml", split="fixed", split_column="doc_split",
                          split_values={"1": "train", "2": "train", "3": "test", "0": "drop"},
                          max_clause_chars=1000)
    run = validate_corpus(params)
    assert run.result.success, run.result.report()
    assert (len(run.train), len(run.test), run.result.counts["n_dropped_by_split"]) == (24, 10, 2)
    with pytest.raises(CorpusError, match=r"no entry for doc_split value\(s\) '0'") as err:
        split_corpus(load_corpus([str(imported)]), "fixed", split_column="doc_split",
                     split_values={"1": "train", "2": "train", "3": "test"})
    assert any(":35: doc_split = '0'" in p for p in err.value.problems)  # file:line of each record


def test_fixed_split_params_are_checked():
    with pytest.raises(ValueError, match="exactly one of test_documents"):
        CorpusParams(split="fixed")
    with pytest.raises(ValueError, match="need split 'fixed'"):
        CorpusParams(test_documents=["G14VM1"])
    with pytest.raises(ValueError, match="at least one value of split_column to 'test'"):
        CorpusParams(split="fixed", split_column="doc_split", split_values={"1": "train"})
    with pytest.raises(ValueError, match="unknown notation 'xml'"):
        CorpusParams(notation="xml")


def test_unmatched_test_document_pattern_is_named(imported):
    with pytest.raises(CorpusError, match="no document matches 'G99VM9'"):
        split_corpus(load_corpus([str(imported)]), "fixed", test_documents=["G14VM1", "G99VM9"])


def test_long_clauses_refused_skipped_or_truncated_and_counted(imported):
    base = dict(files=[str(imported)], notation="lrml", split="fixed", test_documents=TEST_DOCS)
    refused = validate_corpus(CorpusParams(**base))  # max_clause_chars 600: the 704-character clause
    assert not refused.result.success
    err = next(e for e in refused.result.errors if e.expectation == "text.clause_length")
    assert err.where()[0].startswith("nz-nzbc-g12as1-3-0-1-1-0-1 (") and "704 characters" in err.where()[0]
    skipped = validate_corpus(CorpusParams(**base, long_clauses="skip"))
    assert skipped.result.success and skipped.result.counts["n_skipped_long"] == 1
    assert skipped.skipped == ["nz-nzbc-g12as1-3-0-1-1-0-1"] and len(skipped.train) == 25
    cut = validate_corpus(CorpusParams(**base, long_clauses="truncate"))
    assert cut.result.counts["n_truncated"] == 1 and cut.train["clause"].str.len().max() <= 600


def test_file_notation_override_and_contradiction(imported, tmp_path):
    df = load_corpus([(str(imported), "lrml")], default_notation="ccattr")
    assert set(df["notation"]) == {"lrml"}
    bare = tmp_path / "bare.jsonl"  # records without their own notation field
    bare.write_text("".join(json.dumps({k: v for k, v in r.items() if k != "notation"}) + "\n"
                            for r in read_jsonl(imported)))
    assert set(load_corpus([(str(bare), "lrml")], "ccattr")["notation"]) == {"lrml"}
    assert set(load_corpus([str(bare)], "ccattr")["notation"]) == {"ccattr"}
    with pytest.raises(CorpusError, match=r"sample.jsonl:1: the record's notation 'lrml' contradicts notation "
                                          r"'python'"):
        load_corpus([(str(imported), "python")])


# ------------------------------------------------------------------------------ bad input

HEADER = "file,number,text,lrml\n"
GOOD = 'NZ_NZBC-E1AS1,1.1,Gutters shall fall 1:500.,"if(exist(gutter)),then(obligation(greaterThan(g.slope,1/500)))"\n'


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize("name, content", [
    ("bom.csv", "\ufeff" + HEADER + GOOD),
    ("crlf.csv", (HEADER + GOOD + GOOD.replace("1.1", "1.2")).replace("\n", "\r\n")),
    ("semicolon.csv", HEADER.replace(",", ";") + GOOD.replace(",", ";", 3).replace(
        '"if(exist(gutter)),then(obligation(greaterThan(g.slope,1/500)))"',
        '"if(exist(gutter)),then(obligation(greaterThan(g.slope,1/500)))"')),
])
def test_bom_crlf_and_semicolon_tables_are_read(tmp_path, name, content):
    src = write(tmp_path / name, content)
    report = import_corpus(src, None, tmp_path / "out.jsonl", notation="lrml")
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert report.unparsable == [] and rows[0]["document"] == "NZ_NZBC-E1AS1"
    assert rows[0]["rule"] == "if(exist(gutter)),then(obligation(greaterThan(g.slope,1/500)))"


@pytest.mark.parametrize("content, problem", [
    (HEADER + GOOD + 'NZ_NZBC-E1AS1,1.2,Downpipes shall be 75 mm.,""\n', r"bad.csv:3: empty rule \(column 'lrml'\)"),
    ("file,number,text\n" + "NZ,1.1,Gutters shall fall.\n", r"no column\(s\) lrml; columns: file, number, text"),
    (HEADER + GOOD + "NZ,1.2,too,many,fields\n", r"bad.csv:3: 5 field\(s\), the header has 4"),
    ("just one column\nvalue\n", r"bad.csv:1: cannot tell the delimiter"),
    (HEADER + 'NZ,1.1,"an unterminated quote,x\n', r"bad.csv:\d+: not a readable CSV table"),
])
def test_bad_tables_are_refused_with_file_line_and_nothing_is_written(tmp_path, content, problem):
    corpus = tmp_path / "data" / "corpus"
    corpus.mkdir(parents=True)
    existing = write(corpus / "keep.jsonl", '{"id": "x"}\n')
    out = corpus / "new.jsonl"
    with pytest.raises(CorpusError, match=problem):
        import_corpus(write(tmp_path / "bad.csv", content), None, out)
    assert not out.exists() and sorted(p.name for p in corpus.iterdir()) == ["keep.jsonl"]
    assert existing.read_text() == '{"id": "x"}\n'


def test_not_utf8_is_refused_with_the_line(tmp_path):
    src = write(tmp_path / "latin.csv", HEADER + GOOD + "NZ,1.2,Fl\u00e4che 5 m2.,\"if(a(b))\"\n", "latin-1")
    with pytest.raises(CorpusError, match=r"latin.csv:3: not valid UTF-8 \(byte 0xe4\)"):
        import_corpus(src, None, tmp_path / "out.jsonl")


def test_unbalanced_rule_is_kept_and_reported_with_its_line_and_column(tmp_path):
    src = write(tmp_path / "t.csv", HEADER + GOOD + 'NZ_NZBC-E1AS1,1.2,Gutters shall fall 1:200.,"if(exist(gutter),then(x(y))"\n')
    report = import_corpus(src, None, tmp_path / "out.jsonl", notation="lrml")
    assert len(read_jsonl(tmp_path / "out.jsonl")) == 2
    assert report.unparsable == [f"{src}:3 (nz-nzbc-e1as1-1-2): unexpected end of rule "
                                 "(1 unclosed parenthesis) at column 28; expected ')' or ','"]
    params = CorpusParams(files=[str(tmp_path / "out.jsonl")], split="random", test_fraction=0.5)
    run = validate_corpus(params)  # the records carry "notation": "lrml", whatever corpus.notation says
    err = next(e for e in run.result.errors if e.expectation == "rules.parse")
    assert err.where() == [f"nz-nzbc-e1as1-1-2 ({tmp_path / 'out.jsonl'}:2): unexpected end of rule "
                           "(1 unclosed parenthesis) at column 28; expected ')' or ','"]
