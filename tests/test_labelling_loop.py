"""The user's labelling loop: suggest -> label in Label Studio -> import-labels -> train with data.extra."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT, compose_config, tiny_overrides
from negotiation_stance import cli
from negotiation_stance.corpus.active_learning import label_studio_config, select, uncertainty
from negotiation_stance.corpus.candidates import to_label_studio
from negotiation_stance.corpus.user_corpus import assign_splits, import_labels
from negotiation_stance.data import DataError
from negotiation_stance.data.loading import load_extra

THREE = ["pro_negotiation", "skeptical", "conditional"]
FOUR = [*THREE, "none"]
# Hand-written sentences for a user's corpus (never from ../shared).
USER_SENTENCES = {
    "pro_negotiation": "The envoy said both camps should meet next week and agree a truce.",
    "skeptical": "Opposition leaders called the proposed round of talks an empty gesture.",
    "conditional": "The council will join the talks only once the blockade of the port is lifted.",
}


def label_choices(xml: str, name: str = "label") -> list[str]:
    control = next(c for c in ET.fromstring(xml).iter("Choices") if c.get("name") == name)
    return [choice.get("value") for choice in control.iter("Choice")]


# --- suggest: the selection -------------------------------------------------------------------------------------


def test_uncertainty_strategies_rank_as_documented():
    probs = np.array([[0.9, 0.05, 0.05], [0.45, 0.45, 0.10], [0.34, 0.33, 0.33], [0.6, 0.4, 0.0]])
    margin = uncertainty(probs, "margin")
    assert margin == pytest.approx([0.15, 1.0, 0.99, 0.8])
    entropy = uncertainty(probs, "entropy")
    assert int(np.argmax(entropy)) == 2 and int(np.argmin(entropy)) == 0
    assert list(uncertainty(probs, "random", seed=1)) == list(uncertainty(probs, "random", seed=1))
    assert list(uncertainty(probs, "random", seed=1)) != list(uncertainty(probs, "random", seed=2))
    with pytest.raises(ValueError, match="strategy must be one of"):
        uncertainty(probs, "least")


def test_diversity_step_skips_near_copies_that_uncertainty_alone_picks():
    copies = [
        "The ministry said the offer of talks was a ploy to buy time for the army.",
        "The ministry said on Friday the offer of talks was a ploy to buy time for the army.",
        "The ministry said the offer of talks was a ploy to buy more time for the army.",
    ]
    others = [
        "Farmers in the north asked for a ceasefire before the harvest.",
        "Parliament voted to send observers to the border crossing.",
        "Both delegations would sign the accord only after prisoners are exchanged.",
        "A spokesman refused to comment on the mediators' latest plan.",
    ]
    texts = [*copies, "the MINISTRY said the offer of talks was a ploy to buy time for the army!", *others]
    # The copies (and an exact repeat, up to case and punctuation) are the most uncertain.
    probs = np.array([[0.34, 0.33, 0.33]] * 4 + [[0.5, 0.3, 0.2], [0.55, 0.3, 0.15], [0.6, 0.3, 0.1], [0.7, 0.2, 0.1]])
    plain = select(texts, probs, 3, pool_factor=1)
    assert plain == [0, 1, 2]  # uncertainty alone: three near-copies, but never the exact repeat (3)
    # One copy, then the distinct sentences in their uncertainty order (not the farthest outliers first).
    assert select(texts, probs, 3, pool_factor=3) == [0, 4, 5]
    assert select(texts, probs, 5, pool_factor=3) == [0, 4, 5, 6, 7]
    assert select(texts, probs, 5, pool_factor=1) == [0, 1, 2, 4, 5]
    assert select(texts, probs, 20) == [0, 1, 2, 4, 5, 6, 7]  # more asked than there are: each text once
    randomly = select(texts, probs, 3, strategy="random", seed=3)
    assert len(set(randomly)) == 3 and randomly == select(texts, probs, 3, strategy="random", seed=3)


@pytest.mark.parametrize("labels", [THREE, FOUR], ids=["3-label", "4-label"])
def test_label_studio_config_is_generated_from_the_labels(labels):
    xml = label_studio_config(labels)
    assert label_choices(xml) == labels
    bundled = (ROOT / "data" / "label_studio_config.xml").read_text()
    assert label_choices(xml, "hard_case") == label_choices(bundled, "hard_case")
    if labels == FOUR:  # the contract's four: the same choices as the bundled config
        assert label_choices(bundled) == labels


# --- suggest: the command -----------------------------------------------------------------------------------------


@pytest.fixture
def articles(tmp_path: Path) -> Path:
    folder = tmp_path / "articles"
    folder.mkdir()
    (folder / "Port Talks.txt").write_text(
        "The envoy said both camps should meet next week.\nThe harbour reopened on Tuesday.\n"
        "Opposition leaders called the talks an empty gesture. The council will join only once the blockade ends.\n",
        encoding="utf-8",
    )
    lines = [
        {"id": "wire-1", "text": "Negotiators met in Geneva. They agreed to meet again.", "title": "Geneva round"},
        {"id": "wire-2", "text": "A truce is possible if both sides withdraw. Rain fell.", "date": "2026-11-30"},
    ]
    (folder / "wire.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return folder


def test_suggest_writes_pre_annotated_tasks_with_the_models_labels(tiny_run, articles, tmp_path, capsys):
    out = tmp_path / "suggestions"
    model = tiny_run["models_dir"] / "latest"
    code = cli.main(["suggest", str(articles), "--model", str(model), "--n", "4", "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    id2label = json.loads((model / "config.json").read_text())["id2label"]
    labels = [id2label[str(i)] for i in range(len(id2label))]
    suggested = [json.loads(line) for line in (out / "suggested.jsonl").read_text().splitlines()]
    assert len(suggested) == 4 and len({s["id"] for s in suggested}) == 4 and len({s["text"] for s in suggested}) == 4
    assert {s["article_id"] for s in suggested} <= {"port-talks", "wire-1", "wire-2"}
    assert [s["rank"] for s in suggested] == [1, 2, 3, 4]
    assert [s["uncertainty"] for s in suggested] == sorted((s["uncertainty"] for s in suggested), reverse=True)
    assert all(list(s["probabilities"]) == labels and s["label"] in labels for s in suggested)
    tasks = json.loads((out / "tasks.json").read_text())
    assert [t["data"]["sid"] for t in tasks] == [s["id"] for s in suggested]
    for task, row in zip(tasks, suggested, strict=True):
        (prediction,) = task["predictions"]
        assert prediction["result"][0]["value"]["choices"] == [row["label"]] and prediction["score"] == row["score"]
    assert label_choices((out / "label_config.xml").read_text()) == labels
    assert "4 of 8 sentences from 3 articles" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("files", "needle"),
    [
        ({}, "articles: no .txt or .jsonl files found"),
        ({"a.jsonl": '{"id": "x", "text": "Talks resumed."}\n{"id": "y", "text": \n'}, "a.jsonl, line 2: malformed"),
        ({"a.jsonl": '{"id": "x", "body": "Talks resumed."}\n'}, "a.jsonl, line 1, field 'text': missing"),
        ({"a.jsonl": '{"text": "Talks resumed."}\n'}, "a.jsonl, line 1, field 'id': missing"),
        ({"a.txt": "Talks.", "b.jsonl": '{"id": "a", "text": "More talks."}\n'}, "b.jsonl, line 1, field 'id': art"),
        ({"a.txt": b"Caf\xe9 talks.\n"}, "a.txt, line 1: is not valid UTF-8"),
    ],
    ids=["empty-folder", "bad-json", "no-text", "no-id", "same-id", "not-utf8"],
)
def test_suggest_names_bad_input_in_one_line_before_loading_a_model(tmp_path, capsys, files, needle):
    folder = tmp_path / "articles"
    folder.mkdir()
    for name, content in files.items():
        path = folder / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content)
    code = cli.main(["suggest", str(folder), "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (tmp_path / "out").exists()


def test_make_targets_run_the_cli_verbs():
    def dry_run(*args: str) -> str:
        cmd = ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", *args]
        return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()

    assert dry_run("suggest", "INPUT=my articles", "ARGS=--n 50") == (
        '.venv/bin/python -m negotiation_stance suggest "my articles" --model models/latest --n 50'
    )
    assert dry_run("import-labels", "EXPORT=export.json", "NAME=my-news") == (
        '.venv/bin/python -m negotiation_stance import-labels "export.json" --name "my-news"'
    )


# --- import-labels ------------------------------------------------------------------------------------------------


def label_studio_export(n_articles: int, labels: list[str] = THREE, unlabelled: int = 0) -> list[dict]:
    """What Label Studio exports for tasks made by `suggest`: every task labelled, round-robin."""
    rows = [
        {"id": f"art-{a}-s00{i}", "article_id": f"art-{a}", "text": f"Article {a}, sentence {i}: {text}"}
        for a in range(n_articles)
        for i, text in enumerate(USER_SENTENCES.values())
    ]
    tasks = to_label_studio(rows)
    for n, task in enumerate(tasks[: len(tasks) - unlabelled]):
        choice = {"from_name": "label", "to_name": "text", "type": "choices", "value": {"choices": [labels[n % 3]]}}
        task["annotations"] = [{"id": n, "completed_by": {"email": "me@example.org"}, "result": [choice]}]
    return tasks


def write_export(path: Path, tasks: list[dict]) -> Path:
    path.write_text(json.dumps(tasks), encoding="utf-8")
    return path


def test_import_labels_writes_a_versioned_corpus_with_article_splits(tmp_path, capsys):
    export = write_export(tmp_path / "export.json", label_studio_export(8, unlabelled=2))
    assert cli.main(["import-labels", str(export), "--name", "my-news", "--root", str(tmp_path)]) == 0
    folder = tmp_path / "data" / "user" / "my-news"
    assert capsys.readouterr().out.strip() == str(folder / "labels.jsonl")
    rows = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]
    assert len(rows) == 22 and set(rows[0]) >= {"id", "article_id", "text", "label", "split", "annotator"}
    split_of = {}
    for row in rows:
        assert split_of.setdefault(row["article_id"], row["split"]) == row["split"]  # articles stay whole
    assert set(split_of.values()) == {"train", "validation", "test"}
    card = json.loads((folder / "card.json").read_text())
    assert card["version"] == "v1" and card["sentences"] == 22 and card["unlabelled_tasks"] == 2
    assert sum(card["articles"].values()) == 8 and card["source"] == str(export)
    loaded = load_extra(folder / "labels.jsonl", "my-news", THREE)  # the training loader reads it as it is
    assert sum(map(len, loaded.values())) == 22 and loaded["train"][0]["id"].startswith("user:my-news:art-")

    v1 = (folder / "v1" / "labels.jsonl").read_text()
    bigger = write_export(tmp_path / "export2.json", label_studio_export(12))
    assert cli.main(["import-labels", str(bigger), "--name", "my-news", "--root", str(tmp_path)]) == 0
    assert (folder / "v1" / "labels.jsonl").read_text() == v1  # the old version is kept as it was
    assert (folder / "labels.jsonl").read_text() == (folder / "v2" / "labels.jsonl").read_text() != v1
    assert json.loads((folder / "card.json").read_text())["version"] == "v2"
    newer = [json.loads(line) for line in (folder / "labels.jsonl").read_text().splitlines()]
    assert len(newer) == 36 and {r["split"] for r in newer} == {"train", "validation", "test"}


def test_article_splits_are_stable_as_a_corpus_grows_and_never_empty_from_three_articles():
    small = assign_splits(["a", "b", "c"])
    assert sorted(small.values()) == ["test", "train", "validation"]
    grown, more = assign_splits([f"art-{i}" for i in range(40)]), assign_splits([f"art-{i}" for i in range(60)])
    assert all(more[a] == s for a, s in grown.items())
    assert assign_splits(["x"]) == {"x": "train"}


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("bad-json", "export.json, line 1: malformed JSON"),
        ("bad-label", "field 'label': task #2 (art-0-s001): label 'neutral' is not one of"),
        ("not-model-label", "field 'label': task #2 (art-0-s001): label 'none' is not one of the model's labels"),
        ("nothing-labelled", "none of its 3 tasks has an annotation yet"),
        ("bad-name", "corpus name 'My News': use lower-case letters"),
    ],
    ids=["bad-json", "bad-label", "not-model-label", "nothing-labelled", "bad-name"],
)
def test_import_labels_refuses_a_bad_export_in_one_line(tiny_run, tmp_path, capsys, case, needle):
    tasks = label_studio_export(1, unlabelled=3 if case == "nothing-labelled" else 0)
    if case in ("bad-label", "not-model-label"):
        tasks[1]["annotations"][0]["result"][0]["value"]["choices"] = ["neutral" if case == "bad-label" else "none"]
    export = tmp_path / "export.json"
    export.write_text("[{" if case == "bad-json" else json.dumps(tasks))
    args = ["import-labels", str(export), "--name", "My News" if case == "bad-name" else "mine"]
    args += ["--root", str(tmp_path), "--model", str(tiny_run["models_dir"] / "latest")]
    code = cli.main(args)
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (tmp_path / "data").exists()


# --- training with data.extra -------------------------------------------------------------------------------------


def user_corpus(tmp_path: Path, name: str = "mine") -> Path:
    import_labels(write_export(tmp_path / "export.json", label_studio_export(6)), name, root=tmp_path)
    return tmp_path / "data" / "user" / name / "labels.jsonl"


def test_extra_corpora_are_merged_into_the_splits_they_name_and_scored_on_their_own(tmp_path):
    from negotiation_stance.training.run import prepare_data

    path = user_corpus(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    base = prepare_data(compose_config("train", tiny_overrides(tmp_path, "logger=none")))
    data = prepare_data(compose_config("train", tiny_overrides(tmp_path, "logger=none", f"data.extra=[{path}]")))
    for split in ("train", "validation", "test"):
        added = sum(r["split"] == split for r in rows)
        assert added and data.counts[split] == base.counts[split] + added
    assert data.extra == ["mine"] and data.extra_counts()["mine"]["train"] == sum(r["split"] == "train" for r in rows)
    ids = data.splits["train"]["id"]
    assert len(ids) == len(set(ids)) and any(i.startswith("user:mine:art-") for i in ids)
    for split in ("validation", "test"):
        own = data.sets[f"user-mine-{split}"].rows
        assert len(own) == sum(r["split"] == split for r in rows) and all(r["id"].startswith("user:mine:") for r in own)


def test_a_missing_extra_file_or_a_repeated_name_is_one_error_before_any_work(tmp_path):
    from negotiation_stance.errors import ConfigError
    from negotiation_stance.training.run import prepare_data, train

    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", "data.extra=[nowhere/labels.jsonl]"))
    with pytest.raises(ConfigError, match=r"data.extra\[0\]: nowhere/labels.jsonl is not a file"):
        train(cfg)
    assert not (tmp_path / "run").exists()
    path = user_corpus(tmp_path)
    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", f"data.extra=[{path},{path}]"))
    with pytest.raises(ConfigError, match="two files give the corpus name 'mine'"):
        prepare_data(cfg)
    bad = tmp_path / "bad" / "labels.jsonl"
    bad.parent.mkdir()
    bad.write_text(path.read_text().replace('"split": "train"', '"split": "dev"', 1))
    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", f"data.extra=[{bad}]"))
    with pytest.raises(DataError, match=r"labels.jsonl, line \d+, field 'split': must be one of"):
        prepare_data(cfg)


def test_evaluate_scores_each_extra_corpus_on_its_own(tmp_path):
    from negotiation_stance.evaluation.evaluate import load_eval_splits

    path = user_corpus(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    overrides = ["model_dir=unused", "data=fixture", f"data.extra=[{path}]", f"paths.output_dir={tmp_path}"]
    sets = load_eval_splits(compose_config("evaluate", overrides), THREE)
    for split in ("validation", "test"):
        own = sets[f"user-mine-{split}"].rows
        assert [r["id"] for r in own] == [f"user:mine:{r['id']}" for r in rows if r["split"] == split]
        assert not any(str(r["id"]).startswith("user:") for r in sets[split].rows)


@pytest.mark.slow
def test_training_with_a_user_corpus_reports_it_separately(tmp_path):
    from negotiation_stance.training.run import train

    path = user_corpus(tmp_path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    train(compose_config("train", tiny_overrides(tmp_path, "logger=none", f"data.extra=[{path}]")))
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    extra = saved["data"]["extra"]["mine"]
    assert extra["path"] == str(path)
    assert extra["counts"] == {s: sum(r["split"] == s for r in rows) for s in ("train", "validation", "test")}
    for split in ("validation", "test"):
        own = saved["user"]["mine"][split]
        assert (
            own["n"] == extra["counts"][split] and 0.0 <= own["macro_f1"] <= 1.0 and set(own["per_class"]) == set(THREE)
        )
        assert (
            saved[split]["n"] == saved["data"]["counts"][split] > own["n"]
        )  # the combined split, which chose the model
        assert (tmp_path / "run" / f"predictions_user-mine-{split}.jsonl").is_file()
    assert "| user-mine-test |" in (tmp_path / "run" / "report.md").read_text()
    assert "user-mine-test" not in saved["real"]
