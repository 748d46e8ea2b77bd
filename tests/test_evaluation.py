"""The statistics behind every report: intervals, paired tests, calibration."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertForSequenceClassification

from negotiation_stance.evaluation.metrics import (
    bootstrap_macro_f1,
    calibration,
    classification_metrics,
    fit_temperature,
    macro_f1_over,
    paired_bootstrap,
)
from negotiation_stance.modeling import scale_logits, softmax

rng = np.random.default_rng(0)
GOLD = rng.integers(0, 3, size=400)


def noisy(gold: np.ndarray, error_rate: float, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    pred = gold.copy()
    flip = r.random(len(gold)) < error_rate
    pred[flip] = (gold[flip] + r.integers(1, 3, size=flip.sum())) % 3
    return pred


def test_bootstrap_interval_brackets_the_estimate_and_is_reproducible():
    pred = noisy(GOLD, 0.2, 1)
    point = classification_metrics(GOLD, pred, ["a", "b", "c"])["macro_f1"]
    low, high = bootstrap_macro_f1(GOLD, pred, 3, samples=500, seed=3)
    assert low < point < high and high - low < 0.15
    assert (low, high) == bootstrap_macro_f1(GOLD, pred, 3, samples=500, seed=3)


def test_paired_bootstrap_separates_real_from_null_differences():
    good, bad = noisy(GOLD, 0.10, 1), noisy(GOLD, 0.35, 2)
    assert paired_bootstrap(GOLD, good, bad, 3, samples=2000)["p_value"] < 0.01
    assert paired_bootstrap(GOLD, bad, good, 3, samples=2000)["p_value"] == 1.0
    similar = noisy(GOLD, 0.20, 5)
    assert paired_bootstrap(GOLD, noisy(GOLD, 0.20, 4), similar, 3, samples=2000)["p_value"] > 0.01


def test_favg_excludes_none():
    labels = ["pro", "skeptical", "conditional", "none"]
    gold = [0, 1, 2, 3, 3, 3]
    pred = [0, 1, 2, 0, 1, 2]  # every `none` wrong
    assert macro_f1_over(gold, pred, labels, ["pro", "skeptical", "conditional"]) == pytest.approx(2 / 3)
    assert macro_f1_over(gold, pred, labels, ["missing"]) is None


def test_calibration_error_and_temperature():
    logits = rng.normal(size=(4000, 3)) * 2.0
    gold = np.array([rng.choice(3, p=p) for p in softmax(logits)])
    assert calibration(softmax(logits), gold)["ece"] < 0.04  # calibrated by construction
    overconfident = logits * 3.0
    assert calibration(softmax(overconfident), gold)["ece"] > 0.1
    assert fit_temperature(overconfident, gold) == pytest.approx(3.0, rel=0.15)


def test_scale_logits_divides_by_the_temperature():
    config = BertConfig(
        vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=3
    )
    model = BertForSequenceClassification(config).eval()
    ids = torch.tensor([[1, 5, 7, 2]])
    before = model(input_ids=ids).logits
    scale_logits(model, 0.5)
    assert torch.allclose(model(input_ids=ids).logits, before * 0.5, atol=1e-6)


def _set(rows: list[tuple[str, int]]):
    from negotiation_stance.evaluation.scoring import LabelledSet

    return LabelledSet([{"id": str(i), "text": t, "label": g} for i, (t, g) in enumerate(rows)])


def test_a_four_label_model_is_also_scored_three_way_on_the_stance_rows():
    """The stance rows only, argmax over the stance labels: a `none`-heavy mistake does not count."""
    from negotiation_stance.evaluation.report import EvalSettings
    from negotiation_stance.evaluation.scoring import report_sets

    labels = ["pro_negotiation", "skeptical", "conditional", "none"]
    settings = EvalSettings(tuple(labels[:3]), 10, 0.95, 10, 5, 0)
    labelled = _set([("a", 0), ("b", 1), ("c", 2), ("d", 3)])
    # Row 0: `none` wins overall but pro_negotiation leads the stance labels; row 2 is wrong either way.
    logits = np.log(
        np.array([[0.3, 0.1, 0.1, 0.5], [0.1, 0.8, 0.05, 0.05], [0.6, 0.2, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
    )
    report = report_sets({"real": labelled}, {"real": logits}, labels, settings)["real"]
    three = report.metrics["three_way"]
    assert three["n"] == 3
    assert three["accuracy"] == pytest.approx(2 / 3)
    assert report.metrics["accuracy"] == pytest.approx(2 / 4)


def test_a_three_label_model_is_also_scored_four_way_through_the_article_rule():
    """`none` unless the sentence mentions talks and the top probability reaches the article threshold."""
    from negotiation_stance.evaluation.report import EvalSettings
    from negotiation_stance.evaluation.scoring import LabelledSet, report_sets

    labels = ["pro_negotiation", "skeptical", "conditional"]
    settings = EvalSettings(tuple(labels), 10, 0.95, 10, 5, 0)
    stance = _set([("We are ready for talks.", 0), ("The talks are a sham.", 1)]).rows
    none_rows = [
        {"id": "n1", "text": "The weather was cold.", "label": 3},  # no talk word: none
        {"id": "n2", "text": "The talks were held in a hotel.", "label": 3},  # talk word, confident: wrongly a stance
    ]
    labelled = LabelledSet(stance, {"none": 2}, none_rows)
    logits = np.log(np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25], [0.9, 0.05, 0.05], [0.1, 0.8, 0.1]]))
    report = report_sets({"real": labelled}, {"real": logits}, labels, settings)["real"]
    assert report.metrics["n"] == 2 and report.metrics["dropped"] == {"none": 2}
    four = report.metrics["four_way"]
    # Row 1 is below the threshold (0.40): none. Row n1 has no talk word: none. Row n2: skeptical.
    assert four["n"] == 4
    assert four["accuracy"] == pytest.approx(2 / 4)
    assert four["per_class"]["none"]["support"] == 2 and four["per_class"]["none"]["recall"] == pytest.approx(0.5)
