"""The judge's own limits (issue 23): what one submission can cost the grading run, and only itself.

Unit tests of the pieces (walking, deleting, reading replies, the state
file, the caps on a result, names on the terminal), then two grading runs:
the trees no walk may recurse on, graded in a private temporary folder that
must be left empty, and the flood (ten 19 MB written answers in a 2 MB zip,
and replies of 64 MB listing ~1.4 million entries) whose judge's peak memory
and gradebook size are measured in a process of their own.
"""
# instructor-only

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import numpy as np
import pytest

from mlp_instructor.grading import results as results_module
from mlp_instructor.grading.command import grade
from mlp_instructor.grading.documents import terminal_text
from mlp_instructor.grading.results import (MAX_MESSAGE_CHARS, MAX_NOTE_CHARS, MAX_NOTES, MAX_STATUS_CHARS,
                                            STATE_FILE, CheckResult, SubmissionResult, append_result, bounded,
                                            read_state, write_state)
from mlp_instructor.grading.submissions import (MAX_DEPTH, SubmissionError, content_hash, discover_submissions,
                                                find_kits, remove_tree, unpack_zip)
from mlp_instructor.notebooks import MAX_ANSWER_CHARS, collect_answers
from mlp_instructor.sandbox import replies
from mlp_instructor.sandbox.process import WorkerFailure, load_arrays
from mlp_instructor.sandbox.replies import load_header, zip_directory

from . import grading_attacks as attacks
from ._mnist import require_mnist

REPO = Path(__file__).resolve().parents[1]


def flood_npz() -> bytes:
    namespace: dict = {}
    exec(attacks.NPZ_FLOOD_BUILDER, namespace)
    return namespace["_flood_npz"](replies.MAX_REPLY_BYTES)


# ----------------------------------------------------------------------------
# Walking, hashing and deleting a student's tree
# ----------------------------------------------------------------------------


def test_a_tree_deeper_than_the_recursion_limit_is_hashed_refused_and_deleted(tmp_path):
    top = tmp_path / "student"
    top.mkdir()
    attacks._nest(top, attacks.DEEP_FOLDERS)
    before = content_hash(top)
    assert before == content_hash(top) and len(before) == 64
    with pytest.raises(SubmissionError, match=f"more than {MAX_DEPTH} levels deep"):
        find_kits(top)
    assert remove_tree(top) and not top.exists()
    assert remove_tree(top)  # already gone: nothing to do, no error


def test_remove_tree_never_raises_and_says_what_it_left(tmp_path, monkeypatch):
    top = tmp_path / "copy"
    (top / "a" / "b").mkdir(parents=True)
    (top / "a" / "b" / "f.py").write_text("x")
    os.chmod(top / "a" / "b", 0o500)  # a folder made read-only inside the tree
    assert remove_tree(top) and not top.exists()
    (top / "x").mkdir(parents=True)
    monkeypatch.setattr(os, "rmdir", lambda *a, **k: (_ for _ in ()).throw(OSError(16, "busy")))
    assert remove_tree(top) is False  # a folder that cannot go: reported, not raised


def test_a_folder_of_too_many_entries_is_refused_for_itself(tmp_path):
    from mlp_instructor.grading import submissions

    top = tmp_path / "student"
    (top / "kit" / "mlp_core").mkdir(parents=True)
    (top / "kit" / "mlp_core" / "__init__.py").write_text("")
    for k in range(20):
        (top / f"junk{k}").write_text("x")
    with pytest.raises(SubmissionError, match="more than 10 files and folders"):
        list(submissions.walk(top, max_entries=10))


def test_a_zip_is_refused_from_its_directory_before_any_entry_is_built(tmp_path, monkeypatch):
    path = tmp_path / "s.zip"
    path.write_bytes(flood_npz())  # a directory of ~1.4 million entries

    def never(*args, **kwargs):
        raise AssertionError("zipfile.ZipFile built the entries")

    monkeypatch.setattr(zipfile, "ZipFile", never)
    with pytest.raises(SubmissionError, match="the zip lists 1427842 entries, more than 5000"):
        unpack_zip(path, tmp_path / "out")


def test_zip_directory_reads_what_zipfile_reads(tmp_path):
    samples = [flood_npz()]
    for comment, count in ((b"", 3), (b"a comment PK\x05\x06 that looks like an end", 2), (b"", 70000)):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for k in range(count):
                archive.writestr(f"{k}", b"")
            archive.comment = comment
        samples.append(buffer.getvalue())
    for blob in samples:
        end = zipfile._EndRecData(io.BytesIO(blob))
        assert zip_directory(io.BytesIO(blob)) == (end[zipfile._ECD_ENTRIES_TOTAL], end[zipfile._ECD_SIZE])
    with pytest.raises(ValueError, match="not a zip"):
        zip_directory(io.BytesIO(b"PK\x03\x04 no end record"))


# ----------------------------------------------------------------------------
# Replies: the entry count and the header's nesting read before anything is built
# ----------------------------------------------------------------------------


def test_a_reply_listing_a_million_entries_is_refused_from_its_directory(monkeypatch):
    blob = flood_npz()
    assert len(blob) <= replies.MAX_REPLY_BYTES

    def never(*args, **kwargs):
        raise AssertionError("zipfile.ZipFile built the entries")

    monkeypatch.setattr(replies.zipfile, "ZipFile", never)
    with pytest.raises(WorkerFailure, match="the reply lists 1427842 entries, more than 256") as caught:
        load_arrays(blob)
    assert not caught.value.fatal


def test_a_reply_is_read_with_its_dtypes_shapes_and_order():
    buffer = io.BytesIO()
    arrays = {"y": np.arange(6.0).reshape(2, 3), "f": np.asfortranarray(np.arange(6).reshape(3, 2)),
              "b": np.array([True, False]), "s": np.float32(2.5)}
    np.savez(buffer, **arrays)
    read = load_arrays(buffer.getvalue())
    assert set(read) == set(arrays)
    for key, value in arrays.items():
        assert read[key].dtype == np.asarray(value).dtype and np.array_equal(read[key], value)
        assert read[key].flags.writeable


def test_an_array_larger_than_its_entry_is_malformed_not_allocated():
    buffer = io.BytesIO()
    np.savez(buffer, y=np.zeros(4))
    blob = buffer.getvalue()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(4))
    huge = io.BytesIO()
    with zipfile.ZipFile(huge, "w") as archive:
        raw = io.BytesIO()
        np.lib.format.write_array_header_1_0(raw, header | {"shape": (10**12,)})
        archive.writestr("y.npy", raw.getvalue() + np.zeros(4).tobytes())
    with pytest.raises(WorkerFailure, match="cannot be read"):
        load_arrays(huge.getvalue())
    assert load_arrays(blob)["y"].shape == (4,)


def test_a_header_300000_brackets_deep_is_a_malformed_reply_not_a_recursion_error():
    deep = b'{"id": 1, "x": ' + b"[" * 300000 + b"]" * 300000 + b"}"
    with pytest.raises(WorkerFailure, match="nested deeper than 16 levels"):
        load_header(deep)
    with pytest.raises(WorkerFailure, match="nested deeper than 16 levels"):
        load_header(b'{"id": 1, "x": ' + b"[" * 200 + b"]" * 200 + b"}")  # parsed, then refused
    with pytest.raises(WorkerFailure, match="not a JSON object"):
        load_header(b"[1]")
    assert load_header(b'{"id": 3, "ok": true, "warnings": ["RuntimeWarning: x"]}')["id"] == 3


# ----------------------------------------------------------------------------
# What one result may hold, and the state file
# ----------------------------------------------------------------------------


def test_a_result_is_cut_to_the_judges_limits():
    huge = "x" * 10**6
    result = SubmissionResult("s", "h", status=huge, notes=[huge] * 500,
                              checks=[CheckResult(f"c{k}", False, huge) for k in range(70)],
                              answers={"00_setup_and_data/Q1": huge, **{f"made-up/Q{k}": huge for k in range(300)}})
    questions = [f"00_setup_and_data/Q{k}" for k in range(1, 54)]
    result.answers |= {key: huge for key in questions[1:]}
    kept = bounded(result, questions)
    assert len(kept.status) < MAX_STATUS_CHARS + 100
    assert len(kept.notes) == MAX_NOTES + 1 and all(len(n) < MAX_NOTE_CHARS + 100 for n in kept.notes)
    assert all(len(c.message) < MAX_MESSAGE_CHARS + 100 for c in kept.checks)
    assert set(kept.answers) == set(questions) and len(kept.answers["00_setup_and_data/Q1"]) < 2 * MAX_ANSWER_CHARS
    assert sum(map(len, kept.answers.values())) < results_module.MAX_ANSWERS_TOTAL_CHARS + 53 * 50
    assert len(json.dumps(results_module.asdict(kept))) < 300_000  # from over 420 MB
    assert result.status == huge  # the original is left as it was


def test_answers_are_cut_as_they_are_read(tmp_path):
    cell = {"cell_type": "markdown", "source": "A" * (MAX_ANSWER_CHARS * 5),
            "metadata": {"tags": ["answer"], "mlp_course": {"question": "03_losses/Q1"}}}
    (tmp_path / "x.ipynb").write_text(json.dumps({"nbformat": 4, "metadata": {}, "cells": [cell] * 300}))
    answers, notes = collect_answers(tmp_path)
    assert len(answers["03_losses/Q1"]) < MAX_ANSWER_CHARS + 20
    assert any("only the first 10000 are kept" in n for n in notes)
    assert any("more than 200 answer cells" in n for n in notes)


def test_the_state_file_is_appended_per_result_and_survives_a_cut_line(tmp_path):
    first = [SubmissionResult(f"s{k}", f"h{k}") for k in range(3)]
    write_state(tmp_path, "fp", first)
    size = (tmp_path / STATE_FILE).stat().st_size
    append_result(tmp_path, SubmissionResult("s1", "n1"))
    grown = (tmp_path / STATE_FILE).stat().st_size - size
    append_result(tmp_path, SubmissionResult("s9", "h9"))
    assert (tmp_path / STATE_FILE).stat().st_size - size == 2 * grown  # each append costs one line, whatever came before
    with open(tmp_path / STATE_FILE, "a") as f:
        f.write('{"student": "s2", "hash": "cut sh')  # a crash in the middle of a line
    logged = []
    state = read_state(tmp_path, logged.append)
    assert state["grader"] == "fp" and sorted(state["results"]) == ["s0", "s1", "s2", "s9"]
    assert state["results"]["s1"]["hash"] == "n1" and state["results"]["s2"]["hash"] == "h2"
    assert "1 damaged line(s) skipped" in logged[0]
    old = {"grader": "fp", "results": {"a": results_module.asdict(SubmissionResult("a", "h"))}}
    (tmp_path / STATE_FILE).write_text(json.dumps(old, indent=1))  # the format before: one object
    assert read_state(tmp_path, logged.append) == old


# ----------------------------------------------------------------------------
# Names
# ----------------------------------------------------------------------------


def test_terminal_text_shows_control_characters_as_escapes():
    assert terminal_text("a\nvictim 100") == "a\\nvictim 100"
    assert terminal_text("x\x1b[2J\x1b[Hy\r\x7f\x9b") == "x\\x1b[2J\\x1b[Hy\\r\\x7f\\x9b"
    assert terminal_text("\u202eevil\u2028") == "\\u202eevil\\u2028"
    assert terminal_text("Zoë josé 李") == "Zoë josé 李"


def test_two_spellings_of_one_name_are_one_student_or_a_collision(tmp_path):
    nfd, nfc = unicodedata.normalize("NFD", "josé"), unicodedata.normalize("NFC", "josé")
    (tmp_path / nfd).mkdir()
    alone = discover_submissions(tmp_path)
    assert list(alone) == [nfc] and alone[nfc].problem == ""
    (tmp_path / f"{nfc}.zip").write_bytes(b"")
    both = discover_submissions(tmp_path)
    assert list(both) == [nfc]
    assert "two submissions with this id" in both[nfc].problem and "two Unicode spellings" in both[nfc].problem
    (tmp_path / f"{nfc}.zip").unlink()
    (tmp_path / f"{nfd}.zip").write_bytes(b"")
    same = discover_submissions(tmp_path)  # a folder and a zip of one spelling: no word of spellings
    assert "two submissions with this id" in same[nfc].problem and "spellings" not in same[nfc].problem


# ----------------------------------------------------------------------------
# Grading runs
# ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kit(tmp_path_factory) -> Path:
    from mlp_instructor.release.command import release

    kit = tmp_path_factory.mktemp("release") / "kit"
    release(kit, import_check=False)
    return kit


def test_one_students_failure_at_any_step_costs_only_that_student(tmp_path, monkeypatch):
    from mlp_instructor.grading import command

    subs = tmp_path / "subs"
    for name in ("ada", "bob", "cy"):
        (subs / name).mkdir(parents=True)
    real_hash, real_feedback = command.content_hash, command.write_feedback

    def content_hash_failing(path):
        if path.name == "ada":
            raise RecursionError("deep")
        return real_hash(path)

    def feedback_failing(out, result, *args):
        if result.student == "bob" and not result.status.startswith("grader error"):
            raise OSError("disk")
        return real_feedback(out, result, *args)

    monkeypatch.setattr(command, "content_hash", content_hash_failing)
    monkeypatch.setattr(command, "write_feedback", feedback_failing)
    out = tmp_path / "out"
    grade(subs, out, data_dir=require_mnist(), log=lambda line: None)
    with open(out / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row["status"] for row in csv.DictReader(f)}
    assert rows == {"ada": "grader error (RecursionError: deep); please report it",
                    "bob": "grader error (OSError: disk); please report it",
                    "cy": "no mlp_core package (mlp_core/__init__.py) in the submission"}
    monkeypatch.undo()
    again = grade(subs, out, data_dir=require_mnist(), log=lambda line: None)
    assert again.graded == ["ada", "bob"] and again.unchanged == ["cy"]  # a grader error is never kept


def test_trees_no_walk_may_recurse_on_cost_only_their_student_and_leave_nothing(kit, tmp_path, monkeypatch):
    subs = tmp_path / "subs"
    names = ["attack_deep_folders", "attack_deep_zip", "attack_jos\u00e9", "attack_all_zeros"]
    attacks.write_class(kit, subs, names)
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    writes = []
    real_write = results_module.atomic_write_text
    monkeypatch.setattr(results_module, "atomic_write_text", lambda path, text: (writes.append(path),
                                                                                 real_write(path, text)))
    report = grade(subs, tmp_path / "out", data_dir=require_mnist(), jobs=2, log=lambda line: None)
    assert sorted(report.graded) == sorted(names)
    assert list(private.iterdir()) == []  # the grader's workspace is gone, deep trees and all
    with open(tmp_path / "out" / "gradebook.csv", newline="") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    assert rows["attack_all_zeros"]["status"] == "graded"
    assert rows["attack_deep_folders"]["status"].startswith("the submission has folders more than 32 levels deep")
    assert "the zip has folders more than 32 levels deep" in rows["attack_deep_zip"]["status"]
    assert "two Unicode spellings" in rows["attack_jos\u00e9"]["status"]
    assert writes == [tmp_path / "out" / STATE_FILE] * 2  # written whole at the start and the end, appended between
    assert len((tmp_path / "out" / STATE_FILE).read_text().splitlines()) == 1 + len(names)
    remove_tree(subs)


#: The judge's peak memory in the flood (the issue measured 798 MB for the answers alone before).
FLOOD_PEAK_MB = 512
#: Everything written for one student of the flood: gradebook row, feedback, answers, state.
FLOOD_BYTES_PER_STUDENT = 1 << 20


def test_the_flood_leaves_the_judge_and_the_gradebook_small(kit, tmp_path):
    """Ten written answers of 19 MB in a 2 MB zip, and 64 MB replies listing ~1.4 million entries."""
    subs = tmp_path / "subs"
    names = ["attack_answer_flood", "attack_npz_flood"]
    attacks.write_class(kit, subs, names)
    out = tmp_path / "out"
    # The judge's own high-water mark: /proc's VmHWM starts anew at exec (getrusage's ru_maxrss would carry
    # pytest's size over from the fork).
    script = ("import json, re, sys\nfrom mlp_instructor.grading.command import grade\n"
              "r = grade(sys.argv[1], sys.argv[2], data_dir=sys.argv[3], jobs=2, log=lambda line: None)\n"
              "hwm = int(re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read())[1])\n"
              "print(json.dumps({'peak_mb': hwm / 1024, 'totals': [x.total for x in r.results]}))")
    proc = subprocess.run([sys.executable, "-c", script, str(subs), str(out), str(require_mnist())],
                          capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    measured = json.loads(proc.stdout.splitlines()[-1])
    assert measured["totals"] == [0, 0]
    written = sum(p.stat().st_size for p in attacks.every_path(out) if p.is_file())
    print(f"flood: judge peak {measured['peak_mb']:.0f} MB, gradebook folder {written} bytes")
    assert measured["peak_mb"] < FLOOD_PEAK_MB
    assert written < FLOOD_BYTES_PER_STUDENT * len(names)
    feedback = next((out / "feedback").glob("attack-answer-flood-*.md")).read_text()
    assert "has 19000000 characters: only the first 10000 are kept" in feedback
    remove_tree(subs)
