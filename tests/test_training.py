"""A real (few-step) fine-tuning run: export, reload, metrics, W&B offline files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, compose_config, tiny_overrides

LABELS = ["pro_negotiation", "skeptical", "conditional"]


def wandb_summary(run_dir: Path) -> dict:
    """Read the offline run's summary back from its .wandb transaction log."""
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--summary", "--json", str(files[0])],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return json.loads(out.stdout)


def test_run_writes_metrics_and_model(tiny_run):
    run_dir, metrics = tiny_run["run_dir"], tiny_run["metrics"]
    saved = json.loads((run_dir / "metrics.json").read_text())
    assert saved["labels"] == LABELS
    for split in ("validation", "test"):
        scores = saved[split]
        assert 0.0 <= scores["macro_f1"] <= 1.0
        assert set(scores["per_class"]) == set(LABELS)
        assert sum(map(sum, scores["confusion_matrix"]["matrix"])) == scores["n"] == metrics["data"]["counts"][split]
    assert saved["train"]["global_step"] == 4
    ci = saved["test"]["macro_f1_ci"]
    assert ci["low"] <= saved["test"]["macro_f1"] <= ci["high"] and ci["confidence"] == 0.95
    assert 0.0 <= saved["test"]["ece"] <= 1.0 and saved["test"]["favg"] == pytest.approx(saved["test"]["macro_f1"])
    report = (run_dir / "report.md").read_text()
    assert "95% CI" in report and "| test |" in report
    for name in ("validation", "test"):
        assert (run_dir / f"confusion_{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (run_dir / f"reliability_{name}.png").is_file()
        predictions = (run_dir / f"predictions_{name}.jsonl").read_text().splitlines()
        assert len(predictions) == saved[name]["n"]
    assert (run_dir / "model" / "README.md").read_text().count("negotiation-stance") >= 1
    assert not list(run_dir.glob("*.partial"))


def test_model_card_is_hub_metadata_with_its_results(tiny_run):
    """The card parses as Hub metadata: licence, widget, and a model-index holding this run's own scores."""
    from huggingface_hub import ModelCard

    from negotiation_stance.export.model_card import card_metadata

    card = ModelCard.load(tiny_run["run_dir"] / "model" / "README.md")
    data, record = card.data, tiny_run["metrics"]
    assert (data.license, data.language, data.pipeline_tag) == ("apache-2.0", "en", "text-classification")
    assert data.widget and all(example["text"] for example in data.widget)
    results = {(r.dataset_type, r.metric_type): r.metric_value for r in data.eval_results}
    assert results[("negotiation-stance-corpus", "f1")] == round(record["test"]["macro_f1"], 4)
    assert results[("negotiation-stance-corpus", "accuracy")] == round(record["test"]["accuracy"], 4)
    assert data.base_model == record["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert card_metadata(str(tiny_run["run_dir"]), {}).base_model is None  # a local folder is not a Hub id
    assert "learning_rate=" in card.text and "upload_folder" in card.text


def test_soup_of_two_seeds_loads_in_pipeline_and_differs_from_each(tiny_run, tiny_run_seed7, tmp_path):
    """`make soup`: two seeds' tiny runs averaged; the soup is a third, loadable model."""
    from transformers import pipeline

    runs = [tiny_run["run_dir"], tiny_run_seed7["run_dir"]]
    soup = tmp_path / "soup"
    command = [sys.executable, "scripts/soup.py", *map(str, runs), "--out", str(soup)]
    out = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    texts = ["We are ready to talk without conditions.", "Talks are a trap.", "Only after the troops leave."]
    scores = []
    for folder in [soup, *(run / "model" for run in runs)]:
        clf = pipeline("text-classification", model=str(folder), device="cpu", top_k=None)
        scores.append([{p["label"]: p["score"] for p in ranked} for ranked in clf(texts)])
    assert set(scores[0][0]) == set(tiny_run["metrics"]["labels"])
    from huggingface_hub import ModelCard

    assert "model-soup" in ModelCard.load(soup / "README.md").data.tags
    for ingredient in scores[1:]:
        assert any(abs(s[k] - i[k]) > 1e-4 for s, i in zip(scores[0], ingredient, strict=True) for k in s)
    # Calibrated ingredients (training.calibrate) are averaged with their temperatures undone.
    import torch
    from safetensors.torch import load_file

    heads, temperatures = [], []
    for folder in (run / "model" for run in runs):
        heads.append(load_file(folder / "model.safetensors")["classifier.weight"])
        temperatures.append(json.loads((folder / "config.json").read_text())["calibration_temperature"])
    assert all(t != 1.0 for t in temperatures)
    raw_mean = sum(head * t for head, t in zip(heads, temperatures, strict=True)) / len(heads)
    soup_head = load_file(soup / "model.safetensors")["classifier.weight"]
    assert torch.allclose(soup_head, raw_mean, atol=1e-6)
    assert json.loads((soup / "config.json").read_text())["calibration_temperature"] == 1.0
    # Models that cannot be averaged are refused in one line.
    bad = subprocess.run([sys.executable, "scripts/soup.py", str(runs[0])], cwd=ROOT, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: a soup needs at least two models, got 1"


def test_exported_folder_reloads_in_pipeline_with_label_names(tiny_run):
    from transformers import pipeline

    model_dir = tiny_run["run_dir"] / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["id2label"] == {"0": "pro_negotiation", "1": "skeptical", "2": "conditional"}
    clf = pipeline("text-classification", model=str(model_dir))
    out = clf(["The two governments agreed to resume talks next week.", "Talks are pointless."])
    assert {o["label"] for o in out} <= set(LABELS)


def test_latest_points_at_newest_export(tiny_run):
    latest = tiny_run["models_dir"] / "latest"
    assert latest.is_symlink()
    assert latest.resolve() == (tiny_run["run_dir"] / "model").resolve()


def test_stance_classifier_predicts_in_input_order(tiny_run):
    from negotiation_stance import StanceClassifier

    clf = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest", batch_size=2)
    texts = [
        "Short.",
        "A much longer sentence about whether the ceasefire talks in Geneva can go ahead.",
        "Mid length one.",
    ]
    preds = clf.predict(texts)
    assert [p.text for p in preds] == texts
    for p in preds:
        assert set(p.probabilities) == set(LABELS)
        assert abs(sum(p.probabilities.values()) - 1) < 1e-5
        assert p.score == max(p.probabilities.values()) and p.label in LABELS
    # Batching and sorting must not change a sentence's scores.
    alone = clf.predict(texts[1])[0]
    assert alone.probabilities == pytest.approx(preds[1].probabilities, abs=1e-5)
    with pytest.raises(ValueError, match="empty"):
        clf.predict(["fine", "  "])
    with pytest.raises(TypeError, match="#0 is NoneType"):
        clf.predict([None])


def test_wandb_offline_run_holds_test_metrics(tiny_run):
    summary = wandb_summary(tiny_run["run_dir"])
    values = summary["summary"]
    assert values["test/macro_f1"] == pytest.approx(tiny_run["metrics"]["test"]["macro_f1"])
    assert "validation/macro_f1" in values
    assert values["test/errors"]["_type"] == "table-file"
    assert "test/confusion_matrix_table" in values
    assert values["test/reliability_plot"]["_type"] == "image-file"
    assert values["test/macro_f1_ci_low"] <= values["test/macro_f1"]
    assert summary["config"]["data"]["labels"] == LABELS


def test_cli_predict_jsonl(tiny_run, tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "negotiation_stance",
            "predict",
            "--model",
            str(tiny_run["models_dir"] / "latest"),
            "--format",
            "jsonl",
            "We welcome the truce.",
            "Not before they withdraw.",
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["text"] for r in rows] == ["We welcome the truce.", "Not before they withdraw."]
    assert all(r["label"] in LABELS for r in rows)


def test_cli_reports_missing_model(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "predict", "--model", str(tmp_path / "nope"), "hello"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2 and "does not exist" in out.stderr


def test_model_without_label_names_is_refused(tiny_run, tmp_path):
    from negotiation_stance.modeling import ModelLoadError, load_exported

    broken = tmp_path / "broken"
    shutil.copytree(tiny_run["run_dir"] / "model", broken)
    config = json.loads((broken / "config.json").read_text())
    config["id2label"] = {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"}
    config["label2id"] = {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2}
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="no label names"):
        load_exported(broken)
    (broken / "tokenizer.json").unlink()
    (broken / "tokenizer_config.json").unlink()
    with pytest.raises(ModelLoadError, match="tokenizer"):
        load_exported(broken)


def test_generic_jsonl_data(tmp_path):
    """Users' own files with other field names and a sentence pair (tiny_run covers single texts)."""
    from negotiation_stance.training.run import train

    rows = [json.loads(line) for line in (FIXTURES / "statements_tiny.jsonl").read_text().splitlines()]
    for split in ("train", "validation", "test"):
        with (tmp_path / f"{split}.jsonl").open("w") as fh:
            for r in rows:
                if r["split"] == split and r["label"] != "none":
                    stance = {"pro_negotiation": "favor", "skeptical": "against", "conditional": "favor"}[r["label"]]
                    fh.write(json.dumps({"sentence": r["text"], "target": "peace talks", "stance": stance}) + "\n")
    overrides = tiny_overrides(
        tmp_path,
        "logger=none",
        "data=jsonl",
        f"data.train_path={tmp_path / 'train.jsonl'}",
        f"data.validation_path={tmp_path / 'validation.jsonl'}",
        f"data.test_path={tmp_path / 'test.jsonl'}",
        "data.text_field=sentence",
        "data.pair_field=target",
        "data.label_field=stance",
        "data.labels=[favor,against]",
    )
    metrics = train(compose_config("train", overrides))
    assert metrics["labels"] == ["favor", "against"]
    config = json.loads((tmp_path / "run" / "model" / "config.json").read_text())
    assert config["id2label"] == {"0": "favor", "1": "against"}
    assert not (tmp_path / "run" / "wandb").exists()


@pytest.mark.slow
def test_make_train_default_end_to_end(tmp_path):
    """The README's `make train` on the bundled corpus, in a copy of the repo."""
    out = subprocess.run(
        ["make", "train", f"ARGS=paths.log_dir={tmp_path}/logs paths.models_dir={tmp_path}/models"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Exported model:" in out.stdout
    metrics = json.loads(next((tmp_path / "logs").glob("train/runs/*/metrics.json")).read_text())
    assert metrics["test"]["macro_f1"] >= 0.80


def test_evaluate_exported_model_on_four_label_data(tiny_run, tmp_path, caplog):
    from negotiation_stance.evaluation.evaluate import evaluate_model_dir

    overrides = [
        f"model_dir={tiny_run['run_dir'] / 'model'}",
        "data=fixture",
        "data.labels=[pro_negotiation,skeptical,conditional,none]",
        "data.drop_labels=[]",
        f"paths.output_dir={tmp_path}",
        "logger=none",
    ]
    with caplog.at_level("WARNING"):
        metrics = evaluate_model_dir(compose_config("evaluate", overrides))
    assert "has no ['none'] label" in caplog.text
    assert metrics["test"]["dropped"] == {"none": 1} and metrics["test"]["n"] == 3
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert saved["labels"] == LABELS and (tmp_path / "report.md").is_file()


@pytest.mark.parametrize(("key", "value"), [("pair_field", "context_before"), ("mask_names", True)])
def test_a_soup_refuses_models_that_read_different_input(tiny_run, tmp_path, key, value):
    from negotiation_stance.errors import ConfigError
    from negotiation_stance.export.soup import average_weights

    model = tiny_run["run_dir"] / "model"
    other = tmp_path / "other"
    shutil.copytree(model, other)
    config = json.loads((other / "config.json").read_text())
    config["negotiation_stance"][key] = value
    (other / "config.json").write_text(json.dumps(config))
    with pytest.raises(ConfigError, match=rf"data\.{key} differs from"):
        average_weights([model, other])
