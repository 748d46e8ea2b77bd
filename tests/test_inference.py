"""Article mode with speakers, the ONNX backends and the HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED
from negotiation_stance.inference.speakers import attribute_speakers, clean_name
from negotiation_stance.text import split_sentences

# Written for the tests: the attribution patterns of wire copy.
ARTICLE = """Foreign Minister Ilse Varga said on Monday that her government was ready to resume talks with the rebels.
Rebel commander Tomas Brenner, speaking by telephone from the hills, said the offer was a trick.
“We will not sit down while the shelling continues.
They know our terms,” Brenner told reporters.
The talks could start next week, according to Varga.
She added that monitors would be invited.
“A ceasefire must come first,” said the United Nations envoy Maria Oduya.
Heavy rain fell on the capital."""


def test_speakers_follow_reported_speech():
    speakers = attribute_speakers(split_sentences(ARTICLE))
    assert speakers == [
        "Ilse Varga",  # "X said", title dropped
        "Tomas Brenner",  # "X, speaking ..., said"
        "Tomas Brenner",  # a quote whose attribution comes in the next sentence
        "Tomas Brenner",  # "X told reporters", surname mapped to the full name
        "Ilse Varga",  # "according to X"
        "Ilse Varga",  # "she" -> the last named speaker
        "Maria Oduya",  # "said X"
        None,
    ]
    assert clean_name("U.S. Secretary of State Jane Doe") == "Jane Doe"
    assert attribute_speakers(["The Kremlin spokesman said Moscow was ready."]) == ["The Kremlin spokesman"]


@pytest.mark.skipif(not (SHARED / "seed_article.txt").is_file(), reason="../shared/seed_article.txt not present")
def test_seed_article_speakers_via_cli(tiny_run):
    out = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "predict", "--model", str(tiny_run["models_dir"] / "latest"),
         "--article", str(SHARED / "seed_article.txt"), "--format", "jsonl"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    sentences = [r for r in lines if r["type"] == "sentence"]
    speakers = {r["speaker"] for r in sentences}
    assert {"Vladimir Putin", "John Kirby", "Antony Blinken"} <= speakers
    kirby = next(r for r in sentences if r["text"].startswith("Kirby said"))
    assert kirby["speaker"] == "John Kirby"
    assert lines[-1]["type"] == "summary" and "keyword" in lines[-1]["relevance"]


def test_predict_article_summary(tiny_run):
    from negotiation_stance import StanceClassifier

    clf = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest")
    result = clf.predict_article(ARTICLE, threshold=0.0)
    assert len(result.sentences) == 8
    rain = result.sentences[-1]
    assert not rain.is_statement and rain.label == "none"  # no talks keyword: not a statement
    assert set(result.speakers) <= {"Ilse Varga", "Tomas Brenner", "Maria Oduya"}
    varga = result.speakers["Ilse Varga"]
    assert varga["statements"] == sum(varga["counts"].values())
    with pytest.raises(ValueError, match="empty"):
        clf.predict_article("   ")


def test_onnx_backends_match_pytorch(onnx_model):
    from negotiation_stance import StanceClassifier

    texts = [line for line in ARTICLE.splitlines() if line] * 3
    ref = StanceClassifier.from_pretrained(onnx_model)
    fp32 = StanceClassifier.from_pretrained(onnx_model, backend="onnx", quantized=False)
    int8 = StanceClassifier.from_pretrained(onnx_model, backend="onnx", recheck_margin=0)
    assert (fp32.backend, int8.backend) == ("onnx-fp32", "onnx-int8")
    a, b, c = (clf.logits_fn(texts) for clf in (ref, fp32, int8))
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a, c, atol=0.1)  # int8 weights: close, not equal
    assert not np.allclose(a, c, atol=1e-6)  # ...and really quantised
    assert [p.label for p in fp32.predict(texts)] == [p.label for p in ref.predict(texts)]


def test_int8_recheck_recomputes_near_ties_in_fp32(onnx_model, tmp_path):
    import shutil

    from negotiation_stance import StanceClassifier
    from negotiation_stance.export.onnx import ONNX_CONFIG, onnx_settings
    from negotiation_stance.modeling.onnx_runtime import top2_margin

    texts = [line for line in ARTICLE.splitlines() if line]
    settings = onnx_settings(onnx_model)
    assert settings["quantization"]["fp32_ffn_layers"] == 0
    assert settings["calibration"]["n"] == 18  # the fixture's train and validation rows, not its test rows

    fp32 = StanceClassifier.from_pretrained(onnx_model, backend="onnx", quantized=False).logits_fn(texts)
    int8 = StanceClassifier.from_pretrained(onnx_model, backend="onnx", recheck_margin=0).logits_fn(texts)
    margins = top2_margin(int8)
    # A margin between the int8 margins: exactly the rows below it come back in fp32.
    margin = float(np.median(margins))
    clf = StanceClassifier.from_pretrained(onnx_model, backend="onnx", recheck_margin=margin)
    got = clf.logits_fn(texts)
    low = margins < margin
    assert 0 < low.sum() < len(texts) and clf.logits_fn.rechecked == low.sum()
    np.testing.assert_allclose(got[low], fp32[low], atol=1e-5)
    np.testing.assert_array_equal(got[~low], int8[~low])
    # A margin below every row re-checks nothing.
    none = StanceClassifier.from_pretrained(onnx_model, backend="onnx", recheck_margin=float(margins.min()) / 2)
    np.testing.assert_array_equal(none.logits_fn(texts), int8)
    assert none.logits_fn.rechecked == 0

    # By default the margin comes from onnx_config.json: one above every row makes int8 give fp32's answers.
    copy = tmp_path / "model"
    shutil.copytree(onnx_model, copy)
    (copy / ONNX_CONFIG).write_text(json.dumps({**settings, "recheck_margin": float(margins.max()) + 1}))
    default = StanceClassifier.from_pretrained(copy, backend="onnx")
    assert default.backend == "onnx-int8+recheck"
    np.testing.assert_allclose(default.logits_fn(texts), fp32, atol=1e-5)
    with pytest.raises(ValueError, match="int8 ONNX backend only"):
        StanceClassifier.from_pretrained(copy, recheck_margin=1.0)
    (copy / "model.onnx").unlink()
    with pytest.raises(FileNotFoundError, match="re-check needs it"):
        StanceClassifier.from_pretrained(copy, backend="onnx")


def test_export_fuses_the_graph_then_quantises_every_encoder_matmul(onnx_model):
    import onnx

    from negotiation_stance.export.onnx import onnx_settings

    layers = json.loads((onnx_model / "config.json").read_text())["num_hidden_layers"]
    fp32 = onnx.load(str(onnx_model / "model.onnx"), load_external_data=False).graph.node
    ops = {node.op_type for node in fp32}
    assert "BiasGelu" in ops and "LayerNormalization" in ops  # fused by onnxruntime.transformers.optimizer
    assert not ops & {"IsNaN", "Erf"}  # eager attention (no SDPA NaN guards); GELU fused with its bias
    assert onnx_settings(onnx_model)["graph"]["fused"]["BiasGelu"] == layers
    int8 = onnx.load(str(onnx_model / "model.int8.onnx"), load_external_data=False).graph.node
    left = [n.name for n in int8 if n.op_type == "MatMul" and "/encoder/" in n.name and "dense" in n.name]
    assert left == [] and sum(n.op_type == "MatMulInteger" for n in int8) == 6 * layers  # Q, K, V, out, 2 FFN


def test_a_fused_graph_that_changes_the_logits_is_not_kept(tiny_run, tmp_path, monkeypatch, caplog):
    import onnx

    from negotiation_stance.export import onnx as export
    from negotiation_stance.modeling.model import load_exported, predict_logits
    from negotiation_stance.modeling.onnx_runtime import OnnxLogits

    def wrong_fusion(source, target, config, fusions=None):  # an optimizer that doubles the logits
        graph = onnx.load(str(source))
        next(n for n in graph.graph.node if "logits" in n.output).output[0] = "raw"
        graph.graph.initializer.append(onnx.numpy_helper.from_array(np.array(2.0, dtype=np.float32), "two"))
        graph.graph.node.append(onnx.helper.make_node("Mul", ["raw", "two"], ["logits"]))
        onnx.save(graph, str(target))
        return {"Mul": 1}

    monkeypatch.setattr(export, "fuse_graph", wrong_fusion)
    tokenizer, model, _ = load_exported(tiny_run["run_dir"] / "model")
    target = tmp_path / "model.onnx"
    with caplog.at_level("WARNING"):
        record = export.build_fp32_graph(model, tokenizer, target)
    assert record["optimizer"] is None and "differ from unfused" in record["fusion_error"]
    assert "unfused graph is kept" in caplog.text
    texts = [line for line in ARTICLE.splitlines() if line]
    np.testing.assert_allclose(OnnxLogits(target, tokenizer)(texts), predict_logits(model, tokenizer, texts), atol=1e-4)


def test_recheck_margin_repairs_just_enough_flips():
    from negotiation_stance.export.onnx import choose_recheck_margin

    reference = np.array([[2.0, 0.0], [0.0, 2.0], [1.0, 0.0], [0.0, 1.0]] * 25)  # 100 rows
    int8 = reference.copy()
    int8[0] = [0.75, 1.0]  # flipped, int8 margin 0.25
    int8[1] = [1.5, 1.0]  # flipped, int8 margin 0.5
    assert choose_recheck_margin(reference, reference, 0.999) == 0.0
    assert 0.5 < choose_recheck_margin(reference, int8, 1.0) < 0.51  # both repaired
    assert 0.25 < choose_recheck_margin(reference, int8, 0.99) < 0.26  # one flip of 100 may stay
    assert choose_recheck_margin(reference, int8, 0.98) == 0.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        choose_recheck_margin(reference, int8, 99.9)  # a percentage, not a fraction


def test_calibration_sentences_skip_test_rows_and_name_bad_lines(tmp_path):
    from negotiation_stance.data import DataError
    from negotiation_stance.export.onnx import calibration_sentences

    rows = [{"text": "a", "split": "train"}, {"text": "b", "split": "test"}, {"text": "c", "split": "validation"}]
    good = tmp_path / "c.jsonl"
    good.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert calibration_sentences(good) == ["a", "c"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"text": "a"}) + "\n" + json.dumps({"text": " "}) + "\n")
    with pytest.raises(DataError, match=r"bad.jsonl, line 2, field 'text'"):
        calibration_sentences(bad)
    with pytest.raises(DataError, match="not found"):
        calibration_sentences(tmp_path / "missing.jsonl")
    table = tmp_path / "c.csv"
    table.write_text("text,label\na,b\n")
    with pytest.raises(DataError, match=r"\.txt or \.jsonl"):
        calibration_sentences(table)


def test_onnx_missing_file_is_explained(tiny_run):
    from negotiation_stance import StanceClassifier

    with pytest.raises(FileNotFoundError, match="make export-onnx"):
        StanceClassifier.from_pretrained(tiny_run["run_dir"] / "model", backend="onnx")


def test_http_api(tiny_run):
    from fastapi.testclient import TestClient

    from negotiation_stance import StanceClassifier
    from negotiation_stance.inference.serving import create_app

    client = TestClient(create_app(StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest")))
    assert client.get("/health").json()["labels"] == tiny_run["metrics"]["labels"]
    response = client.post("/predict", json={"texts": ["We are ready to talk.", "Their offer is a trick."]})
    assert response.status_code == 200
    assert [p["text"] for p in response.json()["predictions"]] == ["We are ready to talk.", "Their offer is a trick."]
    assert client.post("/predict", json={"texts": []}).status_code == 422
    bad = client.post("/predict", json={"texts": ["fine", "  "]})
    assert bad.status_code == 422 and "texts[1] is empty" in bad.text
    assert client.post("/predict", json={"texts": "not a list"}).status_code == 422
    article = client.post("/predict_article", json={"text": ARTICLE}).json()
    assert len(article["sentences"]) == 8 and "Ilse Varga" in {s["speaker"] for s in article["sentences"]}


def test_http_limits_answer_413_and_422_and_a_lone_surrogate_is_not_a_500(tiny_run):
    """Issue #14.8: a 5 MB text took 12 s and kept 660 MB; body and text sizes are now capped."""
    from fastapi.testclient import TestClient

    from negotiation_stance import StanceClassifier
    from negotiation_stance.inference.serving import create_app

    classifier = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest")
    client = TestClient(create_app(classifier, max_body_bytes=2000, max_text_chars=50))
    as_json = {"content-type": "application/json"}
    assert client.post("/predict", json={"texts": ["We are ready to talk."] * 20}).status_code == 200
    big = json.dumps({"texts": ["Talks."] * 300}).encode()
    refused = client.post("/predict", content=big, headers=as_json)
    assert refused.status_code == 413 and "over 2000 bytes" in refused.json()["detail"]
    chunked = client.post("/predict", content=iter([big[:1500], big[1500:]]), headers=as_json)  # no Content-Length
    assert chunked.status_code == 413
    long = client.post("/predict", json={"texts": ["ok", "x" * 51]})
    assert long.status_code == 422
    assert long.json()["detail"] == [
        {
            "type": "string_too_long",
            "loc": ["body", "texts", 1],
            "msg": "texts[1] has 51 characters; the limit is 50 (--max-text-chars)",
        }
    ]
    for path, body, needle in [
        ("/predict", rb'{"texts": ["ok", "bad \ud800 text"]}', "texts[1] holds a lone surrogate at character 4"),
        ("/predict", rb'{"texts": ["  ", "\udc00"]}', "texts[0] is empty"),  # the reply must not echo texts[1]
        ("/predict_article", rb'{"text": "Talks. \ud83d"}', "unicode string"),
    ]:
        answer = client.post(path, content=body, headers=as_json)
        assert answer.status_code == 422 and needle in answer.text, (path, answer.text)
    default = TestClient(create_app(classifier))
    assert default.post("/predict", json={"texts": ["x" * 10_000]}).status_code == 200
    assert default.post("/predict", json={"texts": ["x" * 10_001]}).status_code == 422


def test_export_onnx_cli_rejects_a_bad_calibration_file_before_exporting(tiny_run, tmp_path):
    import shutil

    bad = tmp_path / "calibration.jsonl"
    bad.write_text('{"text": "Talks resume on Monday."}\n{"text": "unterminated\n')
    model = tmp_path / "model"
    shutil.copytree(tiny_run["run_dir"] / "model", model)
    out = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "export-onnx", "--model", str(model), "--calibration", str(bad)],
        capture_output=True, text=True,
    )  # fmt: skip
    assert out.returncode == 2
    assert f"{bad}, line 2" in out.stderr and "Traceback" not in out.stderr
    assert not (model / "model.onnx").exists()
    cli = [sys.executable, "-m", "negotiation_stance", "export-onnx", "--model", str(model)]
    out = subprocess.run([*cli, "--target-agreement", "99.9"], capture_output=True, text=True)
    assert out.returncode == 2 and "fraction in [0, 1]" in out.stderr


def test_the_cli_and_server_article_threshold_is_the_one_rule_of_text():
    """cli.py keeps its own copy (parsing arguments must not import the splitter): it must equal the rule's."""
    from negotiation_stance import cli, text
    from negotiation_stance.inference.serving import ArticleRequest

    assert cli.ARTICLE_THRESHOLD == text.ARTICLE_THRESHOLD
    assert cli.build_parser().parse_args(["predict", "--model", "m", "x"]).threshold == text.ARTICLE_THRESHOLD
    assert ArticleRequest.model_fields["threshold"].default == text.ARTICLE_THRESHOLD
