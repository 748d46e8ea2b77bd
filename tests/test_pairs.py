"""Sentence-pair models end to end: the export records the pair field, every way in passes the pair, and
inputs that do not fit how the model was trained are refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import PAIRS_FIXTURE
from negotiation_stance import cli
from negotiation_stance.errors import UserError

LABELS = ["pro_negotiation", "skeptical", "conditional"]
TEXTS = ["We are ready to talk at any time.", "Their offer is a trick to buy time.", "Only after the troops leave."]
TARGETS = ["talks with the rebels", "a truce with the militia", "talks with the company"]


def direct_probabilities(folder, texts, pairs) -> np.ndarray:
    """What transformers itself gives for (text, pair): tokenizer(text, pair) and the model, no project code."""
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(texts, pairs, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.inference_mode():
        return torch.softmax(model(**encoded).logits, dim=-1).numpy()


def table(probabilities: list[dict[str, float]]) -> np.ndarray:
    """Rows of probabilities in label order, for comparing several predictions at once."""
    return np.array([[row[label] for label in LABELS] for row in probabilities])


@pytest.fixture(scope="module")
def pair_classifier(pair_run):
    from negotiation_stance import StanceClassifier

    return StanceClassifier.from_pretrained(pair_run["model_dir"])


def test_pair_model_records_its_pair_field_and_predicts_as_transformers_does(pair_run, pair_classifier):
    config = json.loads((pair_run["model_dir"] / "config.json").read_text())
    assert config["negotiation_stance"] == {"pair_field": "target", "mask_names": False}
    assert pair_classifier.pair_field == "target"
    predictions = pair_classifier.predict(TEXTS, pairs=TARGETS)
    expected = direct_probabilities(pair_run["model_dir"], TEXTS, TARGETS)
    for prediction, row in zip(predictions, expected, strict=True):
        assert [prediction.probabilities[label] for label in LABELS] == pytest.approx(row.tolist(), abs=1e-5)
    assert [p.pair for p in predictions] == TARGETS and predictions[0].to_dict()["pair"] == TARGETS[0]
    # One string is every text's pair; another pair gives other scores (the pair reaches the model).
    same = pair_classifier.predict(TEXTS, pairs=TARGETS[0])
    assert same[0].probabilities == pytest.approx(predictions[0].probabilities, abs=1e-6)
    other = pair_classifier.predict(TEXTS[0], pairs="an unrelated subject entirely")[0]
    assert other.probabilities != pytest.approx(predictions[0].probabilities, abs=1e-7)
    streamed = list(pair_classifier.predict_stream(iter(TEXTS), iter(TARGETS), chunk_size=2))
    assert table([p.probabilities for p in streamed]) == pytest.approx(table([p.probabilities for p in predictions]))


def test_inputs_that_do_not_fit_the_model_are_refused(pair_classifier, tiny_run):
    from negotiation_stance import StanceClassifier
    from negotiation_stance.modeling import PairError

    with pytest.raises(PairError, match=r"trained on sentence pairs \(data.pair_field='target'\)") as refused:
        pair_classifier.predict(TEXTS)
    assert isinstance(refused.value, UserError) and "\n" not in str(refused.value)
    with pytest.raises(PairError):
        next(pair_classifier.predict_stream(TEXTS))
    with pytest.raises(ValueError, match="3 texts but 2 pairs"):
        pair_classifier.predict(TEXTS, pairs=TARGETS[:2])
    with pytest.raises(ValueError, match="pair #1 is empty"):
        pair_classifier.predict(TEXTS[:2], pairs=["a target", " "])
    with pytest.raises(ValueError, match="differ in length"):
        list(pair_classifier.predict_stream(TEXTS, iter(TARGETS[:2])))
    single = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest")
    assert single.pair_field is None
    with pytest.raises(PairError, match="trained on single sentences"):
        single.predict(TEXTS, pairs="talks")


def test_onnx_backend_passes_the_pair_as_token_type_ids(onnx_model):
    """The ONNX graph takes token_type_ids, so a pair scores as in PyTorch (the export is the same for any model)."""
    from negotiation_stance import StanceClassifier
    from negotiation_stance.modeling import load_exported, predict_logits
    from negotiation_stance.modeling.onnx_runtime import OnnxLogits

    tokenizer, model, labels = load_exported(onnx_model)
    fp32 = OnnxLogits(onnx_model / "model.onnx", tokenizer)
    assert "token_type_ids" in fp32.names
    reference = predict_logits(model, tokenizer, TEXTS, TARGETS)
    assert fp32(TEXTS, TARGETS) == pytest.approx(reference, abs=1e-4)
    assert not np.allclose(fp32(TEXTS), reference, atol=1e-4)
    # Streaming on the int8 backend (with its fp32 re-check) reads each text's pair alongside it.
    onnx = StanceClassifier.from_pretrained(onnx_model, backend="onnx")
    onnx.pair_field = "target"
    streamed = list(onnx.predict_stream(iter(TEXTS), iter(TARGETS), chunk_size=2))
    assert [p.pair for p in streamed] == TARGETS
    assert [p.label for p in streamed] == [labels[int(i)] for i in reference.argmax(axis=1)]


def test_cli_passes_target_and_row_pairs(pair_run, pair_classifier, tmp_path, capsys):
    model = str(pair_run["model_dir"])
    assert cli.main(["predict", "--model", model, "--target", TARGETS[0], "--format", "jsonl", *TEXTS[:2]]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    expected = pair_classifier.predict(TEXTS[:2], pairs=TARGETS[0])
    assert [r["pair"] for r in rows] == [TARGETS[0]] * 2
    assert table([r["probabilities"] for r in rows]) == pytest.approx(table([p.probabilities for p in expected]))
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    source.write_text("".join(json.dumps({"text": t, "pair": p}) + "\n" for t, p in zip(TEXTS, TARGETS, strict=True)))
    args = ["predict", "--model", model, "--input", str(source), "--output", str(out), "--chunk-size", "2"]
    assert cli.main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["text"], r["pair"]) for r in rows] == list(zip(TEXTS, TARGETS, strict=True))
    expected = pair_classifier.predict(TEXTS, pairs=TARGETS)
    assert [r["label"] for r in rows] == [p.label for p in expected]


def test_cli_refuses_missing_or_unwanted_pairs_in_one_line(pair_run, tiny_run, tmp_path, capsys):
    pair_model, single_model = str(pair_run["model_dir"]), str(tiny_run["models_dir"] / "latest")
    rows = tmp_path / "rows.jsonl"
    rows.write_text(json.dumps({"text": TEXTS[0], "pair": "talks"}) + "\n" + json.dumps({"text": TEXTS[1]}) + "\n")
    cases = [
        (["--model", pair_model, TEXTS[0]], "trained on sentence pairs (data.pair_field='target')"),
        (["--model", pair_model, "--input", str(rows)], f"{rows}, line 2, field 'pair': missing"),
        (["--model", single_model, "--target", "talks", TEXTS[0]], "trained on single sentences"),
        (["--model", single_model, "--input", str(rows)], f"{rows}, line 1, field 'pair': this model was trained"),
        (["--model", pair_model, "--article", str(rows)], "trained on sentence pairs"),
        (["--model", pair_model, "--target", "talks", "--input", str(rows)], f"{rows}, line 1, field 'pair': --target"),
    ]
    for args, message in cases:
        assert cli.main(["predict", *args]) == 2, args
        errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and message in errors[0], (args, errors)


def test_resume_refuses_output_written_for_another_pair(pair_run, tmp_path, capsys):
    """An interrupted --target/--pair-field run resumed with another one would mix two targets in one file."""
    model = str(pair_run["model_dir"])
    source, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    rows = [{"text": t, "pair": p, "other": p.upper()} for t, p in zip(TEXTS, TARGETS, strict=True)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    partial = tmp_path / "out.jsonl.partial"

    def interrupted(pairs):  # the first two lines of a run, as predict writes them (no "pair" without one)
        lines = [
            {"text": t, "label": "skeptical"} | ({"pair": p} if p else {})
            for t, p in zip(TEXTS[:2], pairs, strict=True)
        ]
        partial.write_text("".join(json.dumps(line) + "\n" for line in lines))

    resume = ["predict", "--model", model, "--output", str(out), "--resume"]
    other_target = "line 1, field 'pair': holds pair 'talks' but this run gives pair 'truce'"
    cases = [
        (["talks", "talks"], ["--target", "truce", *TEXTS], other_target),
        ([None, None], ["--target", "truce", *TEXTS], "line 1, field 'pair': holds no pair but this run gives"),
        ([TARGETS[0], TARGETS[1]], ["--input", str(source), "--pair-field", "other"], "line 1, field 'pair'"),
        ([TARGETS[0], "talks"], ["--input", str(source)], "line 2, field 'pair': holds pair 'talks'"),
    ]
    for written, args, message in cases:
        interrupted(written)
        assert cli.main([*resume, *args]) == 2, args
        errors = capsys.readouterr().err.strip().splitlines()
        assert len(errors) == 1 and errors[0].startswith(f"error: {partial}, {message}"), (args, errors)
        assert len(partial.read_text().splitlines()) == 2  # refused, not truncated or continued
    interrupted(TARGETS[:2])  # the same --pair-field: continued after line 2
    assert cli.main([*resume, "--input", str(source)]) == 0
    assert [(r["text"], r["pair"]) for r in map(json.loads, out.read_text().splitlines())] == list(
        zip(TEXTS, TARGETS, strict=True)
    )


def test_http_pair_field(pair_classifier, tiny_run):
    from fastapi.testclient import TestClient

    from negotiation_stance import StanceClassifier
    from negotiation_stance.inference.serving import create_app

    client = TestClient(create_app(pair_classifier, max_text_chars=60))
    assert client.get("/health").json()["pair_field"] == "target"
    answer = client.post("/predict", json={"texts": TEXTS, "pair": TARGETS})
    assert answer.status_code == 200
    expected = pair_classifier.predict(TEXTS, pairs=TARGETS)
    got = answer.json()["predictions"]
    assert [p["pair"] for p in got] == TARGETS
    assert table([p["probabilities"] for p in got]) == pytest.approx(table([p.probabilities for p in expected]))
    one = client.post("/predict", json={"texts": TEXTS[:1], "pair": TARGETS[0]}).json()["predictions"][0]
    assert one["probabilities"] == pytest.approx(got[0]["probabilities"], abs=1e-6)
    for payload, message in [
        ({"texts": TEXTS}, "trained on sentence pairs"),
        ({"texts": TEXTS, "pair": TARGETS[:2]}, "pair has 2 items for 3 texts"),
        ({"texts": TEXTS[:1], "pair": [" "]}, "pair[0] is empty"),
        ({"text": "We are ready to talk."}, "trained on sentence pairs"),
        ({"text": "We are ready to talk.", "pair": " "}, "pair[0] is empty"),  # was a 500
        ({"text": "We are ready to talk.", "pair": "t" * 61}, "pair[0] has 61 characters; the limit is 60"),
        ({"texts": TEXTS[:1], "pair": "t" * 61}, "pair[0] has 61 characters; the limit is 60"),
    ]:
        path = "/predict_article" if "text" in payload else "/predict"
        refused = client.post(path, json=payload)
        assert refused.status_code == 422 and message in refused.text, (payload, refused.text)
    single = TestClient(create_app(StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest")))
    refused = single.post("/predict", json={"texts": TEXTS, "pair": "talks"})
    assert refused.status_code == 422 and "trained on single sentences" in refused.text


def test_evaluate_refuses_data_that_does_not_fit_the_pair_model():
    from negotiation_stance.errors import ConfigError
    from negotiation_stance.evaluation.evaluate import check_pair_field

    check_pair_field("target", "target")
    check_pair_field(None, None)
    with pytest.raises(ConfigError, match="trained on sentence pairs"):
        check_pair_field("target", None)
    with pytest.raises(ConfigError, match=r"set data\.pair_field=null"):
        check_pair_field(None, "target")
    check_pair_field("target", "stance_target")  # a target may sit under any field name
    with pytest.raises(ConfigError, match=r"trained with data\.pair_field='context_before', not 'target'"):
        check_pair_field("context_before", "target")  # a previous sentence is not a stance target
    with pytest.raises(ConfigError, match=r"set data\.pair_field=target"):
        check_pair_field("target", "context_before")


def test_pairs_fixture_is_the_tiny_fixture_with_a_target():
    rows = [json.loads(line) for line in PAIRS_FIXTURE.read_text().splitlines()]
    assert all(isinstance(r["target"], str) and r["target"] for r in rows) and len(rows) == 22


def test_a_pair_model_is_not_scored_on_real_sets_that_have_no_pair(pair_run):
    """The real sets carry no pair: scoring a pair model on lone sentences would report another task."""
    assert pair_run["metrics"]["real"] == {}
    assert pair_run["metrics"]["test"]["n"] > 0
