"""The context variant (issue 12, ablation b): each sentence is read with the previous sentence of its
article as the pair, in the corpus, on the real sets and in article mode."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from negotiation_stance import cli
from negotiation_stance.corpus import build_statements, check_statements, split_articles
from negotiation_stance.data import DataError, load_split
from negotiation_stance.evaluation.report import EvalSettings
from negotiation_stance.evaluation.scoring import load_real_sets, report_sets
from negotiation_stance.labels import STANCE_LABELS
from negotiation_stance.text import CONTEXT_FIELD, split_sentences

ARTICLE = "Talks began in Geneva. The envoy called them useful.\nRebels said the offer was a ploy. They walked out."
OTHER = "A ceasefire held overnight. Both sides agreed to meet again."


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_build_gives_each_sentence_the_previous_one_of_its_own_article():
    articles = [
        {"article_id": "a", "context": "x", "text": ARTICLE},
        {"article_id": "b", "context": "x", "text": OTHER},
    ]
    sentences = split_articles(articles)
    labels = {s.id: {"label": "none"} for s in sentences}
    rows = build_statements(articles, sentences, labels)
    contexts = {(r["article_id"], r["sentence_index"]): r[CONTEXT_FIELD] for r in rows}
    first, second = split_sentences(ARTICLE), split_sentences(OTHER)
    assert [contexts["a", i] for i in range(4)] == ["", *first[:3]]  # across the paragraph break too
    assert [contexts["b", i] for i in range(2)] == ["", second[0]]  # never the other article's last sentence
    assert list(rows[0])[-1] == CONTEXT_FIELD  # last: the rest of each row is as it was


def test_committed_corpus_carries_the_context_and_the_check_holds_it():
    path = ROOT / "data" / "processed" / "statements.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    text_at = {(r["article_id"], r["sentence_index"]): r["text"] for r in rows}
    assert all(r[CONTEXT_FIELD] == text_at.get((r["article_id"], r["sentence_index"] - 1), "") for r in rows)
    assert sum(r[CONTEXT_FIELD] == "" for r in rows) == len({r["article_id"] for r in rows})
    wrong = [dict(r) for r in rows[:3]]
    wrong[2][CONTEXT_FIELD] = wrong[0]["text"]
    with pytest.raises(DataError, match="is not the previous sentence of article") as error:
        check_statements(wrong)
    assert (error.value.line, error.value.field) == (3, CONTEXT_FIELD)
    # The loader takes an article's first sentence, whose pair is "".
    loaded, _ = load_split(path, labels=list(STANCE_LABELS), pair_field=CONTEXT_FIELD, drop_labels=["none"])
    assert any(r["pair"] == "" for r in loaded) and all(isinstance(r["pair"], str) for r in loaded)


def test_only_the_context_field_may_be_an_empty_pair(tmp_path):
    rows = write_jsonl(tmp_path / "rows.jsonl", [{"text": "We will talk.", "label": "skeptical", "target": "",
                                                  CONTEXT_FIELD: ""}])  # fmt: skip
    loaded, _ = load_split(rows, labels=list(STANCE_LABELS), pair_field=CONTEXT_FIELD)
    assert loaded[0]["pair"] == ""
    with pytest.raises(DataError, match="field 'target': is empty"):
        load_split(rows, labels=list(STANCE_LABELS), pair_field="target")


def test_real_sets_of_a_context_model_join_the_previous_sentences(tmp_path):
    """real_dev by id from the candidates file; seed from the article, where its rows are consecutive."""
    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    real = [
        {"id": "c1", "text": "We are ready to talk.", "label": "pro_negotiation"},
        {"id": "c2", "text": "Only after a ceasefire.", "label": "conditional"},
        {"id": "c3", "text": "The talks are a ploy.", "label": "skeptical"},
        {"id": "c4", "text": "The minister visited Kyiv.", "label": "none"},
        {"id": "c5", "text": "Nothing will come of it.", "label": "skeptical"},
    ]
    write_jsonl(eval_dir / "real_dev.jsonl", real)
    candidates = write_jsonl(
        tmp_path / "candidates.jsonl",
        [
            {"id": "c1", "text": "We are  ready to talk.", "context_before": ""},  # spacing aside, the same text
            {"id": "c2", "text": "Only after a ceasefire.", "context_before": "We are ready to talk."},
            {"id": "c3", "text": "Another sentence entirely.", "context_before": "Not this row's context."},
            {"id": "c4", "text": "The minister visited Kyiv.", "context_before": "He flew in at night."},
            {"id": "x9", "text": "Unrelated.", "context_before": "Unrelated too."},
        ],
    )  # fmt: skip  (c3's text differs and c5 is absent: both missing)
    seed = ["The war goes on.", "Both sides want talks.", "But only on their terms.", "Later, a truce."]
    write_jsonl(eval_dir / "seed.jsonl", [
        {"id": f"s{i}", "text": text, "label": "pro_negotiation" if i % 2 else "conditional"}
        for i, text in enumerate(seed)
    ])  # fmt: skip
    article = tmp_path / "article.txt"  # a photo caption between the third and fourth row: no context for it
    article.write_text(f"{seed[0]}\n{seed[1]}   {seed[2]}\nPhoto: a caption.\n{seed[3]}\n", encoding="utf-8")
    sources = {"real_dev": str(candidates), "seed": str(article)}

    sets = load_real_sets(eval_dir, ["real_dev", "seed"], list(STANCE_LABELS), CONTEXT_FIELD, sources)
    pairs = {r["id"]: r["pair"] for r in [*sets["real_dev"].rows, *sets["real_dev"].none_rows]}
    assert pairs == {"c1": "", "c2": real[0]["text"], "c3": "", "c4": "He flew in at night.", "c5": ""}
    assert sets["real_dev"].context == {"source": str(candidates), "rows": 5, "empty": 1, "missing": 2}
    assert [r["pair"] for r in sets["seed"].rows] == ["", seed[0], seed[1], ""]
    assert sets["seed"].context == {"source": str(article), "rows": 4, "empty": 1, "missing": 1}
    four = load_real_sets(eval_dir, ["real_dev"], [*STANCE_LABELS, "none"], CONTEXT_FIELD, sources)["real_dev"]
    assert len(four.rows) == 5 and four.rows[3]["pair"] == "He flew in at night."

    # The count is recorded beside the scores, like `dropped`.
    logits = {name: np.zeros((len(s.rows) + len(s.none_rows), 3)) for name, s in sets.items()}
    settings = EvalSettings(tuple(STANCE_LABELS), 10, 0.95, 5, 10, 0)
    reports = report_sets(sets, logits, list(STANCE_LABELS), settings)
    assert reports["real_dev"].metrics["context"]["missing"] == 2

    # No source, or another pair field: not scored, as before.
    absent = {"real_dev": str(tmp_path / "gone.jsonl")}
    assert load_real_sets(eval_dir, ["real_dev", "seed"], list(STANCE_LABELS), CONTEXT_FIELD, absent) == {}
    assert load_real_sets(eval_dir, ["real_dev"], list(STANCE_LABELS), "target", sources) == {}


def test_shared_real_sets_get_their_contexts():
    """The configured sources find a previous sentence for every row of the shared sets (scoring only)."""
    from conftest import compose_config

    cfg = compose_config("train", ["experiment=ablate_context"])
    assert cfg.data.pair_field == CONTEXT_FIELD and list(cfg.tags) == ["ablate", "context"]
    eval_dir = Path(cfg.paths.shared_eval_dir)
    if not eval_dir.is_dir():
        pytest.skip(f"{eval_dir} not found")
    sets = load_real_sets(eval_dir, ["seed", "real_dev"], list(STANCE_LABELS), CONTEXT_FIELD,
                          cfg.evaluation.context_sources)  # fmt: skip
    assert sets["seed"].context["missing"] == 0 and sets["seed"].context["rows"] == 18
    assert sets["real_dev"].context["missing"] == 0


class Recorder:
    """A stand-in for a model's logits: records the (text, pair) inputs it is given."""

    def __init__(self):
        self.calls: list[tuple[list[str], list[str] | None]] = []

    def __call__(self, texts, pairs=None, **kwargs):
        self.calls.append((list(texts), None if pairs is None else list(pairs)))
        return np.tile([2.0, 0.0, 0.0], (len(texts), 1))


@pytest.fixture
def context_classifier():
    from negotiation_stance import StanceClassifier

    return StanceClassifier(Recorder(), None, list(STANCE_LABELS), pair_field=CONTEXT_FIELD)


def test_article_mode_gives_a_context_model_each_previous_sentence(context_classifier):
    from negotiation_stance.modeling import PairError

    result = context_classifier.predict_article(ARTICLE)
    sentences = split_sentences(ARTICLE)
    assert [s.text for s in result.sentences] == sentences
    assert context_classifier.logits_fn.calls == [(sentences, ["", *sentences[:-1]])]
    with pytest.raises(PairError, match="article mode takes from the article"):
        context_classifier.predict_article(ARTICLE, pair="talks")
    # Lone sentences: "" unless a pair is given; "" is a pair this model accepts.
    context_classifier.logits_fn.calls.clear()
    assert context_classifier.predict(["We are ready."])[0].pair == ""
    context_classifier.predict(["We are ready.", "Only then."], pairs=["", "We are ready."])
    list(context_classifier.predict_stream(iter(["A ploy."])))
    assert [pairs for _, pairs in context_classifier.logits_fn.calls] == [[""], ["", "We are ready."], [""]]


def test_server_and_cli_feed_previous_sentences_to_a_context_model(context_classifier, tmp_path, monkeypatch, capsys):
    from fastapi.testclient import TestClient

    from negotiation_stance.inference.serving import create_app

    calls = context_classifier.logits_fn.calls
    client = TestClient(create_app(context_classifier))
    assert client.get("/health").json()["pair_field"] == CONTEXT_FIELD
    assert client.post("/predict_article", json={"text": ARTICLE}).status_code == 200
    sentences = split_sentences(ARTICLE)
    assert calls[-1] == (sentences, ["", *sentences[:-1]])
    answer = client.post("/predict", json={"texts": ["A.", "B."], "pair": ["", "A."]})
    assert answer.status_code == 200 and [p["pair"] for p in answer.json()["predictions"]] == ["", "A."]
    assert client.post("/predict", json={"texts": ["A."]}).json()["predictions"][0]["pair"] == ""
    refused = client.post("/predict_article", json={"text": ARTICLE, "pair": "talks"})
    assert refused.status_code == 422 and "article mode takes from the article" in refused.text

    model = tmp_path / "model"  # the CLI reads the pair field from config.json before it loads the model
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"negotiation_stance": {"pair_field": CONTEXT_FIELD}}))
    monkeypatch.setattr(cli, "_load", lambda args: context_classifier)
    article = tmp_path / "article.txt"
    article.write_text(ARTICLE, encoding="utf-8")
    calls.clear()
    assert cli.main(["predict", "--model", str(model), "--article", str(article)]) == 0
    assert calls == [(sentences, ["", *sentences[:-1]])]
    # A corpus-shaped .jsonl: a context model reads each row's context_before unless told another field.
    rows = write_jsonl(
        tmp_path / "rows.jsonl",
        [
            {"text": "A."},
            {"text": "B.", CONTEXT_FIELD: "", "pair": "x"},
            {"text": "C.", CONTEXT_FIELD: "B.", "pair": "y"},
        ],
    )
    out = tmp_path / "out.jsonl"
    assert cli.main(["predict", "--model", str(model), "--input", str(rows), "--output", str(out)]) == 0
    assert [json.loads(line)["pair"] for line in out.read_text().splitlines()] == ["", "", "B."]
    out.unlink()
    command = ["predict", "--model", str(model), "--input", str(rows), "--output", str(out), "--pair-field", "pair"]
    assert cli.main(command) == 0
    assert [json.loads(line)["pair"] for line in out.read_text().splitlines()] == ["", "x", "y"]
    capsys.readouterr()
    assert cli.main(["predict", "--model", str(model), "--target", "peace talks", "We are ready."]) == 2
    assert "drop --target" in capsys.readouterr().err
    assert cli.main(["predict", "--model", str(model), "--format", "jsonl", "We are ready."]) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["pair"] == ""


def test_a_context_model_scores_as_transformers_does_with_the_previous_sentence(pair_run, tmp_path):
    """The tiny pair model relabelled as a context model: article mode's pairs reach the real tokenizer and model."""
    import shutil

    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from negotiation_stance import StanceClassifier

    folder = tmp_path / "model"
    shutil.copytree(pair_run["model_dir"], folder)
    config = json.loads((folder / "config.json").read_text())
    config["negotiation_stance"] = {"pair_field": CONTEXT_FIELD}
    (folder / "config.json").write_text(json.dumps(config))
    result = StanceClassifier.from_pretrained(folder).predict_article(ARTICLE)
    sentences = split_sentences(ARTICLE)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    encoded = tokenizer(sentences, ["", *sentences[:-1]], padding=True, truncation=True, max_length=128,
                        return_tensors="pt")  # fmt: skip
    with torch.inference_mode():
        expected = torch.softmax(model(**encoded).logits, dim=-1).numpy()
    got = np.array([[s.probabilities[label] for label in STANCE_LABELS] for s in result.sentences])
    assert got == pytest.approx(expected, abs=1e-5)


def test_ablation_runs_the_context_variant_and_scores_its_soup_on_pairs(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ablate_script", ROOT / "scripts" / "ablate.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert "context" in script.DEFAULT_VARIANTS.split(",")
    assert (ROOT / "configs" / "experiment" / "ablate_context.yaml").read_text().startswith("# @package _global_\n")

    def soup(runs, target):  # a soup folder as make_soup writes it, the pair field kept
        target.mkdir(parents=True)
        (target / "config.json").write_text(json.dumps({"negotiation_stance": {"pair_field": CONTEXT_FIELD}}))
        return target

    commands = []
    monkeypatch.setattr("negotiation_stance.export.soup.make_soup", soup)
    monkeypatch.setattr(script.subprocess, "run", lambda command: commands.append(command) or _Failed())
    with pytest.raises(SystemExit, match="scoring the soup failed"):
        script.soup_row(tmp_path, "context", [tmp_path / "a", tmp_path / "b"], "negotiation", [])
    assert f"data.pair_field={CONTEXT_FIELD}" in commands[0] and commands[0][0] == sys.executable


class _Failed:
    returncode = 1
