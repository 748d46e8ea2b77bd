"""Writing the exported model folder, its model card and ``models/latest``.

The folder is written under a temporary name and renamed only when complete,
so a crash or a full disk never leaves a half-written model behind.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from transformers import PreTrainedModel, PreTrainedTokenizerBase


def export_model(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, target: Path, card: str) -> Path:
    """Save model, tokenizer and card to ``target`` atomically."""
    target = Path(target)
    staging = target.with_name(target.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    try:
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        (staging / "README.md").write_text(card, encoding="utf-8")
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise OSError(f"could not write the model to {staging}: {exc.strerror or exc}") from exc
    if target.exists():
        shutil.rmtree(target)
    os.replace(staging, target)
    return target


def point_latest(models_dir: Path, model_dir: Path) -> Path:
    """Make ``models_dir/latest`` a relative symlink to the newest export."""
    models_dir.mkdir(parents=True, exist_ok=True)
    link = models_dir / "latest"
    tmp = models_dir / ".latest.tmp"
    if tmp.is_symlink() or tmp.exists():
        tmp.unlink()
    tmp.symlink_to(os.path.relpath(model_dir.resolve(), models_dir.resolve()), target_is_directory=True)
    os.replace(tmp, link)
    return link


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
    return f"""---
{front_yaml}
---

# negotiation-stance classifier

Labels each sentence of a news article by the stance it expresses or reports
toward negotiating an end to a war: {", ".join(f"`{label}`" for label in labels)}.
The labels follow the project's label contract (`LABELS.md`) and annotation
guide (`data/ANNOTATION_GUIDE.md` in the project repository).

- **Base model:** `{base_model}`
- **Training data:** `{data.get("name")}`; {data.get("counts", {})}
- **Seed:** {metrics.get("seed")}

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
{chr(10).join(rows)}

`validation` chose the checkpoint; `test` was never used for any choice.
Real-text sets (`seed`, `real_dev`) are real news and official statements that
the model never saw; the gap between them and `test` measures how far the
synthetic training corpus is from real reporting.

Per class on test:

| label | precision | recall | F1 | support |
|---|---|---|---|---|
{chr(10).join(class_rows)}

## Intended use and limits

For research and analysis of how statements about ending wars frame
negotiation. It reads one sentence at a time: it does not know who is
speaking beyond what the sentence says, and it does not verify claims. Trained
on synthetic news-style English written for the project; expect lower scores
on real speeches, transcripts and other languages. A three-label model has no
`none` class: it assumes every sentence it sees takes some stance, so filter
non-statements first or use a four-label (`data=negotiation_all`) model.
"""
