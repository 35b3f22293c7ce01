"""Training-label mending, the cross-validation acceptance rule and the audited held-out manifest."""

from __future__ import annotations

import csv
import zlib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.plate.text import VN_RE
from edge.plate.training import data, heldout, labels


@pytest.mark.parametrize("label,grammar,rows,expected", [
    ("51F06532", "VN", 1, "51F06532"),          # already fits
    ("29M0105200", "VN", 2, "29MD105200"),      # series MĐ labelled M0
    ("29MD105200", "VN", 2, "29MD105200"),
    ("608736638", "VN", 2, "60B736638"),        # B typed 8
    ("590206428", "VN", 2, "59D206428"),        # D typed 0
    ("52176661", "VN", 2, "52L76661"),          # L typed 1
    ("5976654", "VN", 2, None),                 # a two-row plate has at least 8 characters
    ("6S792073", "VN", 2, None),                # the province is wrong: nothing to mend
    ("1F59011", "VN", 1, None),                 # lost its province
    ("CZ4B83940", "CZ", 1, "4B83940"),          # EU band counted
    ("9B38368CZ", "CZ", 1, "9B38368"),
    ("7810307", "CZ", 1, "7B10307"),            # region letter B typed 8
    ("CZ8886266", "CZ", 1, "8B86266"),
    ("3A0851", "CZ", 1, None),                  # a digit short
    ("6867033UZSERVISAUTONOVABMO", "CZ", 1, None),
    ("ZG4256AI", "XX", 1, "ZG4256AI"),
    ("LJV544S", "XX", 1, "LJV544S"),
    ("AB", "XX", 1, None),
])
def test_mend(label: str, grammar: labels.Grammar, rows: int, expected: str | None):
    assert labels.mend(label, grammar, rows) == expected


@pytest.mark.parametrize("text,grammar,expected", [
    ("ZG4256-A1", "XX", "ZG4256-AI"),           # series letter I typed 1
    ("ZG906-1S", "XX", "ZG906-IS"),
    ("S1569-AD", "XX", "SI569-AD"),             # region code SI (Šibenik)
    ("KR691-C1", "XX", "KR691-CI"),
    ("ZG9130-AG", "XX", "ZG9130-AG"),           # nothing to mend
    ("ZG4154A0", "XX", "ZG4154A0"),             # no dash: the groups are not known, left alone
    ("LJT7-31F", "XX", "LJT7-31F"),             # Slovenian: not the Croatian layout
    ("ZG4256-A1", "VN", "ZG4256-A1"),           # only the mixed European source
])
def test_mend_printed_croatian_i(text: str, grammar: labels.Grammar, expected: str):
    assert labels.mend_printed(text, grammar) == expected


@pytest.mark.parametrize("path,grammar", [
    ("images/iwt115.jpg", "CZ"), ("images/3PlateBaza309.jpg", "XX"), ("images/2xemay1903.jpg", "VN"),
    ("images/ndata13.jpg", "VN"), ("images/5CarLongPlate330.jpg", "VN"),
])
def test_grammar_of_the_source(path: str, grammar: str):
    assert labels.grammar_of(path) == grammar


@given(st.text(alphabet="0123456789ABDMZTSGLCZ", min_size=1, max_size=12), st.sampled_from(["VN", "CZ"]),
       st.sampled_from([1, 2]))
def test_mended_labels_fit_their_grammar_and_mending_is_idempotent(label: str, grammar: labels.Grammar,
                                                                   rows: int):
    fixed = labels.mend(label, grammar, rows)
    if fixed is None:
        return
    assert (VN_RE if grammar == "VN" else labels.CZ_RE).match(fixed)
    assert labels.mend(fixed, grammar, rows) == fixed
    assert labels.distance(fixed, label) <= 4  # a swap, or a band of two letters dropped


def test_accept_only_confident_grammar_valid_reads_close_to_the_label():
    sure = (0.99,) * 9
    assert labels.accept("54H75326", "54H15326", sure[:8], "VN", 2, 0.95)
    assert not labels.accept("54H15326", "54H15326", sure[:8], "VN", 2, 0.95)      # same text
    assert not labels.accept("54H75326", "54H15326", (0.99,) * 7 + (0.9,), "VN", 2, 0.95)  # one weak char
    assert not labels.accept("54H75326", "5411532", sure[:7], "VN", 2, 0.95)         # breaks the grammar
    assert not labels.accept("54H75326", "59C11111", sure[:8], "VN", 2, 0.95)        # another plate
    assert not labels.accept("54H75326", "", (), "VN", 2, 0.95)
    assert labels.distance("kitten", "sitting") == 3


def test_shipped_audit_is_well_formed_and_covers_held_out_crops_only():
    audit = heldout.load_audit()
    assert len(audit) >= 99
    assert all(data.is_validation(p) for p in audit)
    for p, a in audit.items():
        if a.verdict == "label":
            assert a.true_text == a.label, p
        if a.verdict in ("model", "neither"):
            assert a.true_text != a.label, p


def test_audited_text_follows_the_audit_then_one_spelling():
    audit = {"images/a.jpg": heldout.Audit("608562583", "60B562583", "neither"),
             "images/b.jpg": heldout.Audit("ON3637", "", "unreadable")}
    assert heldout.audited_text("images/a.jpg", "60-85 625.83", 2, audit) == "60B562583"
    assert heldout.audited_text("images/b.jpg", "O-N3 637", 2, audit) is None
    assert heldout.audited_text("images/ndata1.jpg", "29-M0 191.692", 2, audit) == "29MD191692"
    assert heldout.audited_text("images/iwt1.jpg", "CZ 4B8 3940", 1, audit) == "4B83940"
    assert heldout.audited_text("images/xemay1.jpg", "6S-79 2073", 2, audit) == "6S792073"  # unmendable: kept


@pytest.mark.parametrize("row,problem", [
    ("images/a.jpg,1,1,2,maybe,x", "verdict"),
    ("images/a.jpg,1,1,,label,x", "true_text"),
    ("images/a.jpg,1,1,59-L2,model,x", "true_text"),
])
def test_a_malformed_audit_row_is_refused_with_its_line(tmp_path: Path, row: str, problem: str):
    f = tmp_path / "audit.csv"
    f.write_text("path,label,model_read,true_text,verdict,note\n" + row + "\n")
    with pytest.raises(ValueError, match=rf"audit.csv:2: .*{problem}"):
        heldout.load_audit(f)


def _paths(held: bool, n: int) -> list[str]:
    out, i = [], 0
    while len(out) < n:
        p = f"images/{i}xemay{i}.jpg"
        if data.is_validation(p) == held:
            out.append(p)
        i += 1
    return out


def test_write_keeps_held_out_rows_with_paths_relative_to_the_new_manifest(tmp_path: Path):
    src = tmp_path / "crops" / "manifest.csv"
    src.parent.mkdir()
    held, trained = _paths(True, 3), _paths(False, 2)
    with src.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["path", "text", "rows"])
        for p in held + trained:
            w.writerow([p, "29-M0 191.692", 2])
    dest = tmp_path / "out" / "heldout.csv"
    assert heldout.write(src, dest, audited=True) == (3, 0)
    rows = list(csv.DictReader(dest.open()))
    assert [r["path"] for r in rows] == [f"../crops/{p}" for p in held]
    assert {r["text"] for r in rows} == {"29MD191692"}
    assert heldout.write(src, dest, audited=False) == (3, 0)
    assert {r["text"] for r in csv.DictReader(dest.open())} == {"29-M0 191.692"}
    assert all(zlib.crc32(p.encode()) % 5 == 0 for p in held)
