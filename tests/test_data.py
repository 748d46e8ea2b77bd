import json

import pytest
from omegaconf import OmegaConf

from negotiation_stance.data import DataError, load_split, load_splits, subsample_groups

LABELS = ["pro_negotiation", "skeptical", "conditional"]


def write(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def row(**kw):
    base = {"id": "a-1", "text": "They are ready to talk.", "label": "pro_negotiation"}
    base.update(kw)
    return json.dumps(base)


def test_malformed_json_names_file_and_line(tmp_path):
    path = write(tmp_path / "bad.jsonl", [row(id="1"), '{"id": "2", "text": "oops"', row(id="3")])
    with pytest.raises(DataError) as info:
        load_split(path, labels=LABELS)
    assert info.value.line == 2
    assert "bad.jsonl, line 2" in str(info.value) and "malformed JSON" in str(info.value)


@pytest.mark.parametrize(
    ("record", "field", "needle"),
    [
        ({"id": "x", "label": "skeptical"}, "text", "missing"),
        ({"id": "x", "text": "   ", "label": "skeptical"}, "text", "empty"),
        ({"id": "x", "text": 7, "label": "skeptical"}, "text", "must be a string"),
        ({"id": "x", "text": "We will talk."}, "label", "missing"),
        ({"id": "x", "text": "We will talk.", "label": "maybe"}, "label", "unknown label 'maybe'"),
        ({"id": "x", "text": "We will talk.", "label": ["skeptical"]}, "label", "must be a string"),
        ({"id": "x", "text": "We will talk.", "label": {"name": "skeptical"}}, "label", "got a JSON object"),
    ],
)
def test_bad_rows_name_line_and_field(tmp_path, record, field, needle):
    path = write(tmp_path / "rows.jsonl", [row(id="ok"), json.dumps(record)])
    with pytest.raises(DataError) as info:
        load_split(path, labels=LABELS, id_field="id")
    assert (info.value.line, info.value.field) == (2, field)
    assert needle in str(info.value) and f"field '{field}'" in str(info.value)


def test_duplicate_id(tmp_path):
    path = write(tmp_path / "dup.jsonl", [row(id="a"), row(id="b"), row(id="a")])
    with pytest.raises(DataError, match=r"line 3, field 'id': duplicate id 'a' \(first on line 1\)"):
        load_split(path, labels=LABELS, id_field="id")


def test_repeated_text_without_ids_warns_and_a_second_label_is_an_error(tmp_path, caplog):
    """Issue #14.7: without data.id_field, repeats are found by text (and pair), not left unchecked."""
    rows = [{"text": "We will talk.", "label": "pro_negotiation"}, {"text": "Never.", "label": "skeptical"}]
    repeat = write(tmp_path / "r.jsonl", [json.dumps(r) for r in [*rows, {**rows[0], "text": " We will  talk. "}]])
    with caplog.at_level("WARNING"):
        kept, _ = load_split(repeat, labels=LABELS)
    assert len(kept) == 3
    assert "1 row(s) repeat an earlier row's text and label (e.g. line 3 repeats line 1)" in caplog.text
    conflict = write(tmp_path / "c.jsonl", [json.dumps(r) for r in [*rows, {**rows[0], "label": "conditional"}]])
    with pytest.raises(DataError, match=r"line 3, field 'label': 'conditional', but line 1 has the same text labelled"):
        load_split(conflict, labels=LABELS)
    ids = write(tmp_path / "i.jsonl", [json.dumps({**r, "id": str(i)}) for i, r in enumerate([*rows, rows[0]])])
    caplog.clear()
    with caplog.at_level("WARNING"):
        load_split(ids, labels=LABELS, id_field="id")  # distinct ids: distinct sentences, no check
    assert "repeat" not in caplog.text


def test_a_scored_split_without_some_label_warns_that_macro_f1_is_capped(tmp_path, caplog):
    every_label = [row(id=str(i), text=f"s{i}", label=label) for i, label in enumerate(LABELS)]
    train = write(tmp_path / "train.jsonl", every_label)
    dev = write(tmp_path / "dev.jsonl", [row(id="a", text="x"), row(id="b", text="y", label="conditional")])
    keys = {"split_field": None, "text_field": "text", "pair_field": None, "label_field": "label", "id_field": "id"}
    cfg = OmegaConf.create(
        {
            "labels": LABELS, "train_path": str(train), "validation_path": str(dev), "test_path": str(train),
            "drop_labels": [], "max_train_samples": None, "max_eval_samples": None, **keys,
        }
    )  # fmt: skip
    with caplog.at_level("WARNING"):
        load_splits(cfg)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1, warnings  # the test split has every label
    assert "validation set (2 rows) has no rows labelled ['skeptical']" in warnings[0]
    assert "cannot exceed 0.667" in warnings[0]


def test_wrong_encoding_and_empty_file(tmp_path):
    latin = tmp_path / "latin.jsonl"
    latin.write_bytes(row().encode() + b"\n" + '{"text": "caf\u00e9"}'.encode("latin-1") + b"\n")
    with pytest.raises(DataError, match=r"latin.jsonl, line 2: is not valid UTF-8"):
        load_split(latin, labels=LABELS)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(DataError, match="file is empty"):
        load_split(empty, labels=LABELS)
    with pytest.raises(DataError, match="file not found"):
        load_split(tmp_path / "nope.jsonl", labels=LABELS)


def test_dropped_labels_are_counted_not_silent(tmp_path):
    path = write(tmp_path / "d.jsonl", [row(id="1"), row(id="2", label="none"), row(id="3", label="none")])
    rows, dropped = load_split(path, labels=LABELS, drop_labels=["none"])
    assert len(rows) == 1 and dropped == {"none": 2}


def test_csv_with_pair_field(tmp_path):
    path = tmp_path / "stance.csv"
    path.write_text("sentence,target,stance\nWe back the truce.,truce,favor\nNo deal with them.,deal,against\n")
    rows, _ = load_split(
        path, labels=["favor", "against"], text_field="sentence", pair_field="target", label_field="stance"
    )
    assert rows[0] == {"text": "We back the truce.", "pair": "truce", "label": 0, "line": 2, "id": "stance.csv:2"}
    bad = tmp_path / "bad.csv"
    bad.write_text("sentence,stance\nok,favor\n,against\n")
    with pytest.raises(DataError, match=r"bad.csv, line 3, field 'sentence': is empty"):
        load_split(bad, labels=["favor", "against"], text_field="sentence", label_field="stance")


def test_split_field_and_label_mismatch(tmp_path):
    lines = [row(id="1", split="train"), row(id="2", split="train", label="skeptical"), row(id="3", split="dev")]
    path = write(tmp_path / "s.jsonl", lines)
    with pytest.raises(DataError, match=r"line 3, field 'split': must be one of"):
        load_split(path, labels=LABELS, id_field="id", split_field="split", split="train")

    train = str(write(tmp_path / "t.jsonl", lines[:2]))
    cfg = OmegaConf.create(
        {
            "labels": ["pro_negotiation", "skeptical", "conditional", "none"],
            "train_path": train,
            "validation_path": train,
            "test_path": train,
            "split_field": None,
            "text_field": "text",
            "pair_field": None,
            "label_field": "label",
            "id_field": "id",
            "drop_labels": [],
            "max_train_samples": None,
            "max_eval_samples": None,
        }
    )
    with pytest.raises(ValueError, match=r"no training rows for \['conditional', 'none'\]"):
        load_splits(cfg)


def test_filter_keeps_listed_values_and_names_a_missing_field(tmp_path):
    lines = [row(id="1", version="v2"), row(id="2", version="v3", label="skeptical"), row(id="3", version="v3")]
    path = write(tmp_path / "s.jsonl", lines)
    rows, _ = load_split(path, labels=LABELS, id_field="id", keep={"version": ["v3"]})
    assert [r["id"] for r in rows] == ["2", "3"]
    path = write(tmp_path / "m.jsonl", [*lines, row(id="4")])
    with pytest.raises(DataError, match=r"line 4, field 'version': missing \(named in data.filter\)"):
        load_split(path, labels=LABELS, id_field="id", keep={"version": ["v3"]})


def test_train_fraction_keeps_whole_groups_nested_and_fixed():
    rows = [{"id": f"{g}-{i}", "group": f"art-{g}"} for g in range(40) for i in range(3)]
    quarter, half = subsample_groups(rows, 0.25), subsample_groups(rows, 0.5)
    groups = lambda rs: {r["group"] for r in rs}  # noqa: E731
    assert len(groups(quarter)) == 10 and len(groups(half)) == 20
    assert groups(quarter) < groups(half)
    assert len(quarter) == 30  # every row of a chosen article, none of the others
    assert subsample_groups(rows, 0.25) == quarter
    assert subsample_groups(rows, 1.0) is rows
    with pytest.raises(ValueError, match="train_fraction must be in"):
        subsample_groups(rows, 0.0)
    with pytest.raises(ValueError, match=r"needs data\.group_field"):
        subsample_groups([{"id": "1"}], 0.5)


def test_quoted_newline_in_csv_is_kept_and_unicode_separators_stay_inside_a_line(tmp_path):
    """Issue #14.3: "after\\nthe guns" was joined to "afterthe guns"; U+2028/U+0085 lines were called malformed."""
    csv_path = tmp_path / "s.csv"
    csv_path.write_text('id,text,label\n1,"after\nthe guns fall silent, talks",pro_negotiation\n2,No.,skeptical\n')
    rows, _ = load_split(csv_path, labels=LABELS, id_field="id")
    assert [r["text"] for r in rows] == ["after\nthe guns fall silent, talks", "No."]
    assert rows[1]["line"] == 4  # the physical line where the second record ends
    jsonl = tmp_path / "s.jsonl"
    texts = ["We are ready\u2028to talk.", "Talks\u0085only after a ceasefire.", "Nothing\u2029here."]
    jsonl.write_text("".join(json.dumps({"text": t, "label": "skeptical"}, ensure_ascii=False) + "\n" for t in texts))
    rows, _ = load_split(jsonl, labels=LABELS)
    assert [r["text"] for r in rows] == texts and [r["line"] for r in rows] == [1, 2, 3]


def test_text_lines_split_on_newlines_only_and_name_bad_bytes(tmp_path):
    from negotiation_stance.io import text_lines

    path = tmp_path / "in.txt"
    path.write_text("first\u2028still first\r\n\n  second  \n", encoding="utf-8")
    assert text_lines(path) == ["first\u2028still first", "second"]
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"fine\ncaf\xe9\n")
    with pytest.raises(DataError, match=r"latin.txt, line 2: is not valid UTF-8"):
        text_lines(latin)
