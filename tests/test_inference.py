"""Article mode with speakers, the ONNX backends and the HTTP API."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import SHARED
from negotiation_stance.sentences import split_sentences
from negotiation_stance.speakers import attribute_speakers, clean_name

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


@pytest.fixture(scope="module")
def onnx_model(tiny_run, tmp_path_factory):
    import shutil

    from negotiation_stance.onnx_export import export_onnx

    folder = tmp_path_factory.mktemp("onnx") / "model"
    shutil.copytree(tiny_run["run_dir"] / "model", folder)
    export_onnx(folder)
    return folder


def test_onnx_backends_match_pytorch(onnx_model):
    from negotiation_stance import StanceClassifier

    texts = [line for line in ARTICLE.splitlines() if line] * 3
    ref = StanceClassifier.from_pretrained(onnx_model)
    fp32 = StanceClassifier.from_pretrained(onnx_model, backend="onnx", quantized=False)
    int8 = StanceClassifier.from_pretrained(onnx_model, backend="onnx")
    assert (fp32.backend, int8.backend) == ("onnx-fp32", "onnx-int8")
    a, b, c = (clf.logits_fn(texts) for clf in (ref, fp32, int8))
    np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_allclose(a, c, atol=0.1)  # int8 weights: close, not equal
    assert [p.label for p in fp32.predict(texts)] == [p.label for p in ref.predict(texts)]


def test_onnx_missing_file_is_explained(tiny_run):
    from negotiation_stance import StanceClassifier

    with pytest.raises(FileNotFoundError, match="make export-onnx"):
        StanceClassifier.from_pretrained(tiny_run["run_dir"] / "model", backend="onnx")


def test_http_api(tiny_run):
    from fastapi.testclient import TestClient

    from negotiation_stance import StanceClassifier
    from negotiation_stance.serving import create_app

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
