"""The Hugging Face model card (``README.md``) of an exported model: YAML front matter + Markdown."""

from __future__ import annotations

import json
from typing import Any

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

## Use

```python
from transformers import pipeline
clf = pipeline("text-classification", model="path/to/this/folder")
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
"""


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def model_card(*, base_model: str, labels: list[str], data: dict[str, Any], metrics: dict[str, Any]) -> str:
    """A Hugging Face model card (YAML front matter + Markdown)."""
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
    front = {
        "library_name": "transformers",
        "pipeline_tag": "text-classification",
        "language": ["en"],
        "tags": ["stance-detection", "negotiation", "negotiation-stance"],
        "base_model": base_model,
    }
    front_yaml = "\n".join(f"{k}: {json.dumps(v)}" for k, v in front.items())
    return MODEL_CARD_TEMPLATE.format(
        front=front_yaml,
        labels=", ".join(f"`{label}`" for label in labels),
        base_model=base_model,
        data_name=data.get("name"),
        counts=data.get("counts", {}),
        seed=metrics.get("seed"),
        rows="\n".join(rows),
        class_rows="\n".join(class_rows),
    )
