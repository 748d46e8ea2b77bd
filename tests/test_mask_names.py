"""Ablation variant c (issue 12): person names masked in training, in every scored set and at inference."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from omegaconf.errors import ValidationError

from conftest import compose_config, tiny_overrides
from negotiation_stance.names import PLACEHOLDER, mask_person_names

P = PLACEHOLDER


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # (a) titles and honorifics stay, the name goes; multi-word names become one placeholder
        ("President Vladimir Putin said Russia was open to talks.", f"President {P} said Russia was open to talks."),
        ("Mr. Sullivan told reporters the offer was a ploy.", f"Mr. {P} told reporters the offer was a ploy."),
        (
            "U.S. Secretary of State Antony Blinken met Secretary-General António Guterres in New York.",
            f"U.S. Secretary of State {P} met Secretary-General {P} in New York.",
        ),
        ("Crown Prince Mohammed bin Salman hosted the talks.", f"Crown Prince {P} hosted the talks."),
        ("Its chief negotiator, Mariela Uzcátegui, said no.", f"Its chief negotiator, {P}, said no."),
        # (b) a given name of the lexicon starts a name
        ("Talks with Oksana Hrytsenko resumed in Geneva on Monday.", f"Talks with {P} resumed in Geneva on Monday."),
        # (c) the subject of a speech verb, either side of it, and a transcript's speaker label
        ("Biden is open to talks with him, Kirby said.", f"{P} is open to talks with him, {P} said."),
        ("“We are ready,” said Halvorsen.", f"“We are ready,” said {P}."),
        ("Huseynli: We prefer to talk directly with Armenia.", f"{P}: We prefer to talk directly with Armenia."),
        (
            "Hailu Kebede, a scholar in Addis Ababa, said both sides had reasons to talk.",
            f"{P}, a scholar in Addis Ababa, said both sides had reasons to talk.",
        ),
        ("Macron's office said the call lasted two hours.", f"{P}'s office said the call lasted two hours."),
        # (d) a surname alone after the full name, in the same text
        (
            "Dalia Rosen met the envoy in Doha, and the talks with Rosen went well.",
            f"{P} met the envoy in Doha, and the talks with {P} went well.",
        ),
    ],
)
def test_masker_replaces_person_names_and_keeps_titles(text, expected):
    assert mask_person_names(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "The Kremlin said Moscow was ready, and the White House said Washington was not.",
        "NATO and the UN met in Brussels on Tuesday; Hamas said nothing, and Kyiv said in May it would wait.",
        "Officials in Addis Ababa said the African Union would host the talks in Saudi Arabia.",
        "SPOKESPERSON: Frankly, we've learned to be careful about the Kremlin's assurances.",
        "The Russian Foreign Ministry said Ukraine's Western partners had blocked a deal.",
        "North Korea said on Tuesday it would reject any contact with Japan.",
    ],
)
def test_masker_leaves_places_organisations_days_and_months(text):
    assert mask_person_names(text) == text


def test_masker_is_idempotent():
    texts = [
        "President Vladimir Putin said the sooner, the better, and Putin's spokesman Dmitry Peskov agreed.",
        "Zelenskiy's ideas are a good start, Blinken said, and peace would have to be just and durable.",
        f"President {P} said so.",
    ]
    for text in texts:
        once = mask_person_names(text)
        assert mask_person_names(once) == once
    assert "Putin" not in mask_person_names(texts[0]) and "Peskov" not in mask_person_names(texts[0])


ROWS = [
    ("train", "pro_negotiation", "Foreign Minister Adaeze Okafor said her government was ready to talk."),
    ("train", "skeptical", "Henrik Sandvik said the offer was a ploy to buy time."),
    ("train", "conditional", "Talks can start only after a ceasefire, Okafor said."),
    ("validation", "pro_negotiation", "President Lena Marsh said she welcomed the talks."),
    ("validation", "skeptical", "The Kremlin said the offer was not serious."),
    ("test", "conditional", "Mr. Rourke said talks must first have a ceasefire."),
]


def _write_rows(path: Path, rows=ROWS) -> Path:
    lines = [
        json.dumps({"id": f"r{i}", "split": split, "label": label, "text": text})
        for i, (split, label, text) in enumerate(rows)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _data_overrides(tmp_path: Path, *extra: str) -> list[str]:
    path = _write_rows(tmp_path / "rows.jsonl")
    base = [o for o in tiny_overrides(tmp_path) if not o.startswith("data=")]
    splits = [f"data.{split}_path={path}" for split in ("train", "validation", "test")]
    return ["data=jsonl", *base, *splits, "data.split_field=split", "data.id_field=id",
            "data.labels=[pro_negotiation,skeptical,conditional]", *extra]  # fmt: skip


def test_loading_with_mask_names_masks_training_and_scored_rows(tmp_path):
    from negotiation_stance.data import load_splits
    from negotiation_stance.evaluation.scoring import load_real_sets

    plain = load_splits(compose_config("train", _data_overrides(tmp_path))["data"])
    masked = load_splits(compose_config("train", _data_overrides(tmp_path, "data.mask_names=true"))["data"])
    assert plain["train"][0]["text"] == ROWS[0][2]  # off by default
    assert [r["text"] for r in masked["train"]] == [
        f"Foreign Minister {P} said her government was ready to talk.",
        f"{P} said the offer was a ploy to buy time.",
        f"Talks can start only after a ceasefire, {P} said.",
    ]
    assert masked["validation"][0]["text"] == f"President {P} said she welcomed the talks."
    assert masked["validation"][1]["text"] == "The Kremlin said the offer was not serious."
    assert masked["test"][0]["text"] == f"Mr. {P} said talks must first have a ceasefire."
    assert masked["train"]["label"] == plain["train"]["label"] and masked["test"]["id"] == plain["test"]["id"]
    # a real-text set (here written by the test) is masked the same way, its `none` rows too
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    _write_rows(eval_dir / "real_dev.jsonl", [*ROWS[:2], ("test", "none", "Kirby said he visited Kyiv.")])
    labels = ["pro_negotiation", "skeptical", "conditional"]
    real = load_real_sets(eval_dir, ["real_dev"], labels, mask_names=True)["real_dev"]
    assert real.rows[1]["text"] == f"{P} said the offer was a ploy to buy time."
    assert real.none_rows[0]["text"] == f"{P} said he visited Kyiv."
    assert load_real_sets(eval_dir, ["real_dev"], labels)["real_dev"].none_rows[0]["text"].startswith("Kirby")


def test_mask_names_must_be_a_boolean(tmp_path):
    from negotiation_stance.data.loading import mask_names_setting
    from negotiation_stance.errors import ConfigError

    with pytest.raises((ConfigCompositionException, ValidationError)) as info:
        compose_config("train", [*tiny_overrides(tmp_path), "data.mask_names=maybe"])
    assert "mask_names" in str(info.value) + str(info.value.__cause__)
    # a config built by hand bypasses the schema: the loader checks it too
    with pytest.raises(ConfigError, match=r"data.mask_names must be true or false, got 'yes'"):
        mask_names_setting(OmegaConf.create({"mask_names": "yes"}))
    assert mask_names_setting(OmegaConf.create({})) is False


@pytest.fixture
def masked_model(tiny_run, tmp_path) -> Path:
    """A copy of the tiny run's export whose config.json says it was trained with names masked."""
    folder = tmp_path / "masked"
    shutil.copytree(tiny_run["run_dir"] / "model", folder)
    config = json.loads((folder / "config.json").read_text())
    config["negotiation_stance"]["mask_names"] = True
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_export_records_the_flag(tiny_run):
    from negotiation_stance.modeling import exported_mask_names

    config = json.loads((tiny_run["run_dir"] / "model" / "config.json").read_text())
    assert config["negotiation_stance"]["mask_names"] is False  # written by training's export, read back
    assert exported_mask_names(tiny_run["run_dir"] / "model") is False


def test_a_masked_model_masks_at_inference(masked_model, tiny_run):
    from fastapi.testclient import TestClient

    from negotiation_stance import StanceClassifier
    from negotiation_stance.inference.serving import create_app

    clf = StanceClassifier.from_pretrained(masked_model)
    plain = StanceClassifier.from_pretrained(tiny_run["run_dir"] / "model")
    assert clf.mask_names and not plain.mask_names
    seen: list[str] = []
    model_fn = clf.logits_fn
    clf.logits_fn = lambda items, *a, **k: seen.extend(items) or model_fn(items, *a, **k)
    text = "President Vladimir Putin said Russia was open to talks."
    [prediction] = clf.predict([text])
    assert seen == [f"President {P} said Russia was open to talks."]
    assert prediction.text == text  # the caller's text comes back as given
    assert prediction.probabilities == plain.predict([seen[0]])[0].probabilities
    # article mode: the speaker is read from the text as written, the model reads it masked
    seen.clear()
    article = clf.predict_article("Ilse Varga said her country was ready for talks.")
    assert seen == [f"{P} said her country was ready for talks."]
    assert article.sentences[0].speaker == "Ilse Varga"
    # the server reports the flag and masks through the same classifier
    seen.clear()
    client = TestClient(create_app(clf))
    assert client.get("/health").json()["mask_names"] is True
    assert client.post("/predict", json={"texts": ["Kirby said no."]}).status_code == 200
    assert seen == [f"{P} said no."]


def test_evaluate_masks_for_a_masked_model_and_bad_flags_are_named(masked_model, tiny_run):
    from negotiation_stance.evaluation.evaluate import masks_names
    from negotiation_stance.modeling import ModelLoadError, exported_mask_names

    unmasked = tiny_run["run_dir"] / "model"
    assert masks_names(masked_model, OmegaConf.create({"mask_names": False})) is True
    assert masks_names(unmasked, OmegaConf.create({"mask_names": False})) is False
    assert masks_names(unmasked, OmegaConf.create({"mask_names": True})) is True
    config = json.loads((masked_model / "config.json").read_text())
    config["negotiation_stance"]["mask_names"] = "yes"
    (masked_model / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match=r"negotiation_stance.mask_names must be true or false, got 'yes'"):
        exported_mask_names(masked_model)


def test_model_card_says_pipeline_does_not_mask():
    from negotiation_stance.export.model_card import model_card

    metrics = {"test": {"n": 3, "macro_f1": 0.5, "accuracy": 0.5, "per_class": {}}, "seed": 1}
    card = model_card(base_model="x/y", labels=["a", "b"], data={"name": "d"}, metrics=metrics, mask_names=True)
    assert "**Person names are masked.**" in card and "`transformers.pipeline()` cannot" in card
    plain = model_card(base_model="x/y", labels=["a", "b"], data={"name": "d"}, metrics=metrics)
    assert "Person names are masked" not in plain


def test_a_masked_context_model_masks_the_previous_sentence_too(masked_model, tiny_run):
    """With data.pair_field=context_before the pair is the previous sentence, speech like the text."""
    from negotiation_stance import StanceClassifier
    from negotiation_stance.data.loading import mask_rows

    rows = [{"text": "Kirby said no.", "pair": "Ilse Varga said yes.", "label": 0}]
    assert mask_rows(rows)[0]["pair"] == "Ilse Varga said yes."  # a stance target stays as given
    assert mask_rows(rows, context=True)[0] == {"text": f"{P} said no.", "pair": f"{P} said yes.", "label": 0}
    config = json.loads((masked_model / "config.json").read_text())
    config["negotiation_stance"]["pair_field"] = "context_before"
    (masked_model / "config.json").write_text(json.dumps(config))
    clf = StanceClassifier.from_pretrained(masked_model)
    assert clf.reads_context and clf.mask_names
    seen: list = []
    model_fn = clf.logits_fn
    clf.logits_fn = lambda items, pairs, *a, **k: seen.append((items, pairs)) or model_fn(items, pairs, *a, **k)
    result = clf.predict_article("Ilse Varga said her country was ready. Kirby said talks would fail.")
    assert seen == [([f"{P} said her country was ready.", f"{P} said talks would fail."],
                     ["", f"{P} said her country was ready."])]  # fmt: skip
    assert result.sentences[1].speaker == "Kirby"
