"""The Hugging Face model card (``README.md``) of an exported model: Hub metadata + Markdown.

The front matter is written by ``huggingface_hub.ModelCardData`` rather than by
hand, so the Hub reads its ``model-index`` (the evaluation results shown on a
model page) and the folder can be uploaded as it is.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCardData

# Sentences written for the card's widget (the Hub's "try it" box); not from any dataset.
WIDGET_EXAMPLES = [
    "The minister said talks could start only after a full ceasefire.",
    "Both delegations said they were ready to resume negotiations without preconditions.",
    "The spokesman dismissed the proposal as a stalling tactic that nobody in the capital takes seriously.",
]
# Sets whose scores go into the model-index; validation chose the checkpoint, so it is left out.
RESULT_SETS = {
    "test": ("negotiation-stance-corpus", "negotiation-stance synthetic corpus, test split", "test"),
    "real_dev": ("negotiation-stance-real-dev", "real news and official statements (real_dev)", "dev"),
    "seed": ("negotiation-stance-seed-article", "the seed news article", "test"),
}

MODEL_CARD_TEMPLATE = """---
{front}
---

# negotiation-stance classifier

Labels each sentence of a news article by the stance it expresses or reports
toward negotiating an end to a war: {labels}.
The labels follow the project's label contract (`LABELS.md`) and annotation
guide (`data/ANNOTATION_GUIDE.md` in the project repository).

- **Base model:** `{base_model}`
- **Training data:** `{data_name}`; {counts}
- **Seed:** {seed}
- **Training settings:** {training}
{masking}{pooling}
## Use

```python
from transformers import pipeline
clf = pipeline("text-classification", model="path/to/this/folder"{remote_code})
clf("The minister said talks could start only after a full ceasefire.")

from negotiation_stance import StanceClassifier
StanceClassifier.from_pretrained("path/to/this/folder").predict(["..."])
```

## Evaluation (macro-F1 is the primary metric)

| set | sentences | macro-F1 | accuracy |
|---|---|---|---|
{rows}

`validation` chose the checkpoint; `test` was never used for any choice.
Real-text sets (`seed`, `real_dev`) are real news and official statements that
the model never saw; the gap between them and `test` measures how far the
synthetic training corpus is from real reporting.

Per class on test:

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{class_rows}

## Intended use and limits

For research and analysis of how statements about ending wars frame
negotiation. It reads one sentence at a time: it does not know who is
speaking beyond what the sentence says, and it does not verify claims. Trained
on synthetic news-style English written for the project; expect lower scores
on real speeches, transcripts and other languages. A three-label model has no
`none` class: it assumes every sentence it sees takes some stance, so filter
non-statements first or use a four-label (`data=negotiation_all`) model.
{gap}

## Upload

The folder is a complete Hub model repository (weights, tokenizer, this card):
`huggingface_hub.upload_folder(repo_id="<user>/<name>", folder_path="path/to/this/folder")`.
"""


# Why a masked model's card warns: pipeline() feeds the text as it is, names and all.
MASKING_NOTE = """
**Person names are masked.** This model was trained on text whose person names were replaced by
`[PERSON]` (`data.mask_names`; titles, places and organisations stay: "President [PERSON] said").
`StanceClassifier` (predict, article mode, `serve`, `make evaluate`) masks its inputs the same way, read
from this folder's `config.json`. `transformers.pipeline()` cannot: mask each text first with
`negotiation_stance.names.mask_person_names`, or it reads names it never saw in training.
"""


# Why a mean-pooled model's card says trust_remote_code: its head is not one of transformers' classes.
POOLING_NOTE = """
**The head reads the mean of the token states** (`model.pooling=mean`), as the sentence encoder was
trained, which no transformers class does. Its code, `mean_pooling.py`, is saved in this folder (and
named in `config.json`'s `auto_map`), so `pipeline()` and the `Auto` classes need
`trust_remote_code=True`; `StanceClassifier` loads it without.
"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def model_card(
    *,
    base_model: str,
    labels: list[str],
    data: dict[str, Any],
    metrics: dict[str, Any],
    training: dict[str, Any] | None = None,
    mask_names: bool = False,
    mean_pooled: bool = False,
) -> str:
    """A Hugging Face model card: Hub metadata (``model-index`` included) + Markdown."""
    rows = []
    sections = {"validation": metrics.get("validation"), "test": metrics.get("test"), **metrics.get("real", {})}
    for section, scores in sections.items():
        if scores:
            rows.append(f"| {section} | {scores['n']} | {_pct(scores['macro_f1'])} | {_pct(scores['accuracy'])} |")
    per_class = metrics.get("test", {}).get("per_class", {})
    class_rows = [
        f"| `{label}` | {_pct(s['precision'])} | {_pct(s['recall'])} | {_pct(s['f1'])} | {s['support']} |"
        for label, s in per_class.items()
    ]
    text = MODEL_CARD_TEMPLATE.format(
        front=card_metadata(base_model, sections).to_yaml(),
        labels=", ".join(f"`{label}`" for label in labels),
        base_model=base_model,
        data_name=data.get("name"),
        counts=data.get("counts", {}),
        seed=metrics.get("seed"),
        training=", ".join(f"{k}={v}" for k, v in (training or {}).items()) or "see the run's config",
        rows="\n".join(rows),
        class_rows="\n".join(class_rows),
        gap=_gap(sections),
        masking=MASKING_NOTE if mask_names else "",
        pooling=POOLING_NOTE if mean_pooled else "",
        remote_code=", trust_remote_code=True" if mean_pooled else "",
    )
    return text


def card_metadata(base_model: str, sections: dict[str, Any]) -> ModelCardData:
    """Hub metadata; a local base-model folder is left out of ``base_model``, which must be a Hub id."""
    results = []
    for name, (dataset_type, dataset_name, split) in RESULT_SETS.items():
        scores = sections.get(name)
        if not scores:
            continue
        for metric, value, metric_name in (
            ("f1", scores["macro_f1"], "macro-F1"),
            ("accuracy", scores["accuracy"], "accuracy"),
        ):
            results.append(
                EvalResult(
                    task_type="text-classification",
                    task_name="stance toward negotiation",
                    dataset_type=dataset_type,
                    dataset_name=dataset_name,
                    dataset_split=split,
                    metric_type=metric,
                    metric_value=round(float(value), 4),
                    metric_name=metric_name,
                    metric_config="macro" if metric == "f1" else None,
                )
            )
    local = Path(base_model).is_absolute() or Path(base_model).exists()
    return ModelCardData(
        language="en",
        license="apache-2.0",
        library_name="transformers",
        pipeline_tag="text-classification",
        tags=["stance-detection", "negotiation", "negotiation-stance", "text-classification"],
        base_model=None if local else base_model,
        widget=[{"text": text} for text in WIDGET_EXAMPLES],
        model_name="negotiation-stance classifier",
        eval_results=results or None,
    )


def _gap(sections: dict[str, Any]) -> str:
    test, real = sections.get("test"), sections.get("real_dev")
    if not (test and real):
        return ""
    return (
        f"\nOn this run, macro-F1 is {test['macro_f1']:.3f} on the synthetic test split and "
        f"{real['macro_f1']:.3f} on `real_dev` (real statements): read real-text output with that gap in mind."
    )
