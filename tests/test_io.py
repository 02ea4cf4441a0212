"""A write that fails midway leaves the previous output intact and no temp files behind."""

from __future__ import annotations

import errno
import os

import pandas as pd
import pytest

from ccattr import io
from ccattr.io import atomic_dir, read_json, recover_swap, write_json, write_jsonl
from ccattr.tables import write_parquet


def _disk_full(*_a, **_k):
    raise OSError(errno.ENOSPC, "No space left on device (simulated)")


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def test_json_write_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "metrics.json"
    write_json(out, {"similarity": 0.5})
    monkeypatch.setattr(io.os, "fsync", _disk_full)  # the new content is half on disk when it fails
    with pytest.raises(OSError, match="No space"):
        write_json(out, {"similarity": 0.9, "padding": "x" * 100_000})
    assert read_json(out) == {"similarity": 0.5}
    assert _leftovers(tmp_path) == []


def test_jsonl_write_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    out = tmp_path / "predictions.jsonl"
    write_jsonl(out, [{"id": 1}])
    monkeypatch.setattr(io.os, "replace", _disk_full)
    with pytest.raises(OSError):
        write_jsonl(out, [{"id": 2}])
    assert out.read_text() == '{"id": 1}\n' and _leftovers(tmp_path) == []


def test_parquet_write_failing_midway_keeps_the_previous_table(tmp_path, monkeypatch):
    out = tmp_path / "lora-x.parquet"
    write_parquet(pd.DataFrame({"a": [1, 2]}), out)

    def half_then_fail(self, path, **kw):
        with open(path, "wb") as fh:
            fh.write(b"PAR1 half a table")
        _disk_full()

    monkeypatch.setattr(pd.DataFrame, "to_parquet", half_then_fail)
    with pytest.raises(OSError):
        write_parquet(pd.DataFrame({"a": [3]}), out)
    assert pd.read_parquet(out)["a"].tolist() == [1, 2] and _leftovers(tmp_path) == []


def test_folder_write_failing_midway_keeps_the_previous_folder(tmp_path):
    out = tmp_path / "model"
    with atomic_dir(out) as tmp:
        (tmp / "weights").write_text("good")
    with pytest.raises(RuntimeError), atomic_dir(out) as tmp:
        (tmp / "weights").write_text("half")
        raise RuntimeError("killed while saving")
    assert (out / "weights").read_text() == "good" and _leftovers(tmp_path) == []


def test_a_swap_cut_between_its_two_renames_is_undone(tmp_path):
    out = tmp_path / "ckpt"
    with atomic_dir(out) as tmp:
        (tmp / "progress.json").write_text("{}")
    os.replace(out, tmp_path / ".ckpt.old")  # the kill came after the first rename
    assert recover_swap(out) and (out / "progress.json").exists()
    assert not recover_swap(out)  # nothing to undo
