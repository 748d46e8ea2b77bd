"""Length-bucketed batches, and `predict` streaming a file of any size: bounded chunks, resumable output."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT
from negotiation_stance import cli

TEXTS = [
    "Talks now.",
    "The foreign minister said her government was ready to sit down with the rebels at any time, anywhere.",
    "Ceasefire first.",
    "A rebel commander dismissed the offer as a stunt meant to win time for a new offensive.",
    "We will talk.",
    "Talks can begin only after all heavy weapons are pulled back from the front line.",
    "No.",
]


def test_batches_are_bucketed_by_token_count_and_come_back_in_input_order(tiny_run):
    from negotiation_stance.modeling.model import (
        batched_logits,
        length_sorted_batches,
        load_labels_and_tokenizer,
        padding_waste,
    )

    tokenizer, _ = load_labels_and_tokenizer(tiny_run["models_dir"] / "latest")
    lengths = [len(ids) for ids in tokenizer(TEXTS)["input_ids"]]
    widths = []

    def forward(batch):  # "logits": each row's real token count, so the output order can be checked
        widths.append(batch["input_ids"].shape[1])
        return batch["attention_mask"].sum(axis=1, keepdims=True).astype(np.float32)

    out = batched_logits(forward, tokenizer, TEXTS, batch_size=2, tensors="np")
    assert out[:, 0].tolist() == lengths  # input order, not sorted order
    by_length = sorted(lengths)
    assert widths == [max(by_length[i : i + 2]) for i in range(0, len(by_length), 2)]  # padded to its own rows
    assert length_sorted_batches(lengths, 2, bucket=False) == [[0, 1], [2, 3], [4, 5], [6]]
    bucketed, unbucketed = (padding_waste(lengths, length_sorted_batches(lengths, 2, bucket=b)) for b in (True, False))
    assert bucketed < 0.1 < unbucketed


def test_predict_stream_pulls_one_chunk_at_a_time(tiny_run):
    from negotiation_stance import StanceClassifier

    clf = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest", batch_size=2)
    pulled = []

    def source():
        for i in range(25):
            pulled.append(i)
            yield TEXTS[i % len(TEXTS)]

    stream = clf.predict_stream(source(), chunk_size=4)
    first = next(stream)
    assert len(pulled) == 4  # bounded: the rest of the input is not read yet
    streamed = [first, *stream]
    assert len(pulled) == 25
    whole = clf.predict([TEXTS[i % len(TEXTS)] for i in range(25)])
    assert [p.label for p in streamed] == [p.label for p in whole]
    for a, b in zip(streamed, whole, strict=True):
        assert a.probabilities == pytest.approx(b.probabilities, abs=1e-5)
    with pytest.raises(ValueError, match="#5 is empty"):
        list(clf.predict_stream(["a", "b", "c", "d", "e", " "], chunk_size=4))  # numbered in the whole stream


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_interrupted_predict_resumes_from_its_last_line(tiny_run, tmp_path, monkeypatch, capsys):
    from negotiation_stance import StanceClassifier

    source = tmp_path / "in.jsonl"
    texts = [TEXTS[i % len(TEXTS)] + f" ({i})" for i in range(10)]
    source.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    model = str(tiny_run["models_dir"] / "latest")
    args = ["predict", "--model", model, "--input", str(source), "--chunk-size", "4"]
    full, out = tmp_path / "full.jsonl", tmp_path / "out.jsonl"
    assert cli.main([*args, "--output", str(full)]) == 0

    labelled: list[str] = []
    original = StanceClassifier._predict

    def interrupt_on_third_chunk(self, items, **kwargs):
        if len(labelled) == 8:
            raise KeyboardInterrupt
        labelled.extend(items)
        return original(self, items, **kwargs)

    monkeypatch.setattr(StanceClassifier, "_predict", interrupt_on_third_chunk)
    assert cli.main([*args, "--output", str(out)]) == 130
    partial = tmp_path / "out.jsonl.partial"
    assert not out.exists() and len(partial.read_text().splitlines()) == 8
    assert "--resume" in capsys.readouterr().err
    with partial.open("a") as handle:
        handle.write('{"text": "torn by the interrupt')  # half a line: written again on resume
    assert cli.main([*args, "--output", str(out)]) == 2  # no silent restart over an interrupted run
    assert "add --resume" in capsys.readouterr().err

    labelled.clear()
    monkeypatch.setattr(sys, "stderr", Terminal())
    assert cli.main([*args, "--output", str(out), "--resume"]) == 0
    assert labelled == texts[8:]  # only what the interrupted run had not written
    assert "sentence/s" in sys.stderr.getvalue() and "10/10" in sys.stderr.getvalue()  # the progress bar
    got, want = ([json.loads(line) for line in path.read_text().splitlines()] for path in (out, full))
    assert [r["text"] for r in got] == texts and [r["label"] for r in got] == [r["label"] for r in want]
    assert not partial.exists()


def test_resume_refuses_another_inputs_output(tiny_run, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("We are ready to talk.\nTheir offer is a trick.\n", encoding="utf-8")
    partial = tmp_path / "out.jsonl.partial"
    partial.write_text(json.dumps({"text": "Something else entirely."}) + "\n", encoding="utf-8")
    model = str(tiny_run["models_dir"] / "latest")
    argv = ["predict", "--model", model, "--input", str(source), "--output", str(tmp_path / "out.jsonl"), "--resume"]
    assert cli.main(argv) == 2
    assert f"{partial}, line 1, field 'text': differs from the input's sentence" in capsys.readouterr().err


def test_predict_to_an_unwritable_output_is_one_line_naming_it(tiny_run, tmp_path, capsys):
    source = tmp_path / "in.txt"
    source.write_text("We are ready to talk.\n", encoding="utf-8")
    model = str(tiny_run["models_dir"] / "latest")
    missing = tmp_path / "no-such-folder" / "out.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "predict", "--model", model, "--input", str(source),
         "--output", str(missing)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert run.stderr.strip() == f"error: cannot write {missing}: {missing.parent} does not exist"
    for output, reason in ((tmp_path, "it is a folder"), (source / "out.jsonl", f"{source} is not a folder")):
        assert cli.main(["predict", "--model", model, "--input", str(source), "--output", str(output)]) == 2
        assert capsys.readouterr().err.strip() == f"error: cannot write {output}: {reason}"
    article = tmp_path / "article.txt"
    article.write_text("Talks resume on Monday, the minister said.\n", encoding="utf-8")
    assert cli.main(["predict", "--model", model, "--article", str(article), "--output", str(missing)]) == 2
    assert capsys.readouterr().err.strip() == f"error: cannot write {missing}: {missing.parent} does not exist"


def test_make_stream_input_repeats_the_corpus_to_any_length(tmp_path):
    out = tmp_path / "big.jsonl"
    subprocess.run(
        [sys.executable, "scripts/make_stream_input.py", "--sentences", "9000", "--output", str(out)],
        cwd=ROOT, check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    corpus = (ROOT / "data" / "processed" / "statements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 9000 > len(corpus) and len({r["id"] for r in rows}) == 9000
    assert rows[len(corpus)]["text"] == rows[0]["text"] == json.loads(corpus[0])["text"]
