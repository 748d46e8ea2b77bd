"""Which of a user's sentences to label next: uncertainty sampling with a diversity step.

The model's probabilities come in as a function, so the same selection runs
with a trained model (``negotiation-stance suggest``) or, in a simulation, with
any other scorer. Uncertainty alone picks near-copies (wire stories repeat one
quote in many articles), so the most uncertain ``pool_factor * n`` sentences
are thinned by greedy max-min selection on TF-IDF vectors, weighted by uncertainty.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np

from negotiation_stance.corpus.candidates import LS_HARD_CASE, LS_LABEL, LS_SPEAKER, LS_TEXT, to_label_studio
from negotiation_stance.io import atomic_write_all, write_jsonl_to
from negotiation_stance.labels import HARD_CASES

STRATEGIES = ("margin", "entropy", "random")
# The candidate pool is this many times the number asked for; 1 turns the diversity step off.
POOL_FACTOR = 5
_NORMAL = re.compile(r"\W+")

# What `suggest` writes into its output folder.
TASKS_FILE, CONFIG_FILE, SUGGESTED_FILE = "tasks.json", "label_config.xml", "suggested.jsonl"

ProbabilityFn = Callable[[list[str]], np.ndarray]


def uncertainty(probabilities: np.ndarray, strategy: str = "margin", seed: int = 0) -> np.ndarray:
    """Higher is more worth labelling: ``1 - (p1 - p2)`` (margin), the entropy, or a seeded random draw."""
    probs = np.asarray(probabilities, dtype=np.float64)
    if strategy == "margin":
        top = np.sort(probs, axis=1)[:, ::-1]
        return 1.0 - (top[:, 0] - top[:, 1])
    if strategy == "entropy":
        return -(probs * np.log(np.clip(probs, 1e-12, 1.0))).sum(axis=1)
    if strategy == "random":
        return np.random.default_rng(seed).random(len(probs))
    raise ValueError(f"strategy must be one of {list(STRATEGIES)}, got {strategy!r}")


def normalise(text: str) -> str:
    """What makes two sentences the same for de-duplication: words, lower-cased, spacing and punctuation ignored."""
    return _NORMAL.sub(" ", text.lower()).strip()


def diverse_select(texts: Sequence[str], weights: Sequence[float], n: int) -> list[int]:
    """Greedy max-min selection on TF-IDF (cosine) vectors, weighted: start at the heaviest text, then always
    take the one with the largest ``weight x distance to the nearest text taken``.

    With uncertainty as the weight, a near-copy of a chosen sentence scores
    near 0, while distinct sentences keep their uncertainty order (plain
    k-center would prefer confident outliers).
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    if n >= len(texts):
        return list(range(len(texts)))
    weight = np.asarray(weights, dtype=np.float64)
    try:
        vectors = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)).fit_transform(texts)
    except ValueError:  # no word in any text (numbers, punctuation): nothing to spread over
        return [int(i) for i in np.argsort(-weight, kind="stable")[:n]]
    nearest = np.ones(len(texts))  # cosine distance to the nearest chosen text
    chosen: list[int] = []
    while len(chosen) < n:
        score = weight * nearest
        score[chosen] = -1.0
        pick = int(np.argmax(score))  # the first of equal scores
        chosen.append(pick)
        nearest = np.minimum(nearest, 1.0 - (vectors @ vectors[pick].T).toarray().ravel())
    return chosen


def select(
    texts: Sequence[str],
    probabilities: np.ndarray,
    n: int,
    *,
    strategy: str = "margin",
    pool_factor: int = POOL_FACTOR,
    seed: int = 0,
) -> list[int]:
    """Positions of the ``n`` texts to label next, most uncertain first.

    Exact repeats (after :func:`normalise`) count once; the ``pool_factor * n``
    most uncertain texts are thinned to ``n`` by :func:`diverse_select`.
    ``random`` is the plain baseline: a seeded sample, no diversity step.
    """
    if n < 1 or pool_factor < 1:
        raise ValueError(f"n and pool_factor must be >= 1, got {n} and {pool_factor}")
    scores = uncertainty(probabilities, strategy, seed)
    order = sorted(range(len(texts)), key=lambda i: -scores[i])
    unique, seen = [], set()
    for i in order:
        key = normalise(texts[i])
        if key not in seen:
            seen.add(key)
            unique.append(i)
    pool = unique[: n * (1 if strategy == "random" else pool_factor)]
    picked = [pool[j] for j in diverse_select([texts[i] for i in pool], [scores[i] for i in pool], n)]
    return sorted(picked, key=lambda i: -scores[i])


def suggest(
    sentences: Sequence[dict[str, Any]],
    probability_fn: ProbabilityFn,
    labels: Sequence[str],
    n: int,
    *,
    strategy: str = "margin",
    pool_factor: int = POOL_FACTOR,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The chosen sentence rows, each with its uncertainty, the model's label, score and probabilities.

    ``probability_fn`` maps texts to an (n_texts, n_labels) array in the order of ``labels``.
    """
    texts = [s["text"] for s in sentences]
    probs = np.asarray(probability_fn(texts)) if texts else np.zeros((0, len(labels)))
    if probs.shape != (len(texts), len(labels)):
        raise ValueError(f"probability_fn returned shape {probs.shape}, expected {(len(texts), len(labels))}")
    scores = uncertainty(probs, strategy, seed)
    out = []
    for rank, i in enumerate(select(texts, probs, n, strategy=strategy, pool_factor=pool_factor, seed=seed), 1):
        row = probs[i]
        out.append({
            **sentences[i], "rank": rank, "strategy": strategy, "uncertainty": round(float(scores[i]), 6),
            "label": labels[int(row.argmax())], "score": round(float(row.max()), 6),
            "probabilities": {label: round(float(p), 6) for label, p in zip(labels, row, strict=True)},
        })  # fmt: skip
    return out


def label_studio_config(labels: Sequence[str]) -> str:
    """The Label Studio labelling config for a model's labels (as ``data/label_studio_config.xml`` is for the
    contract's four); the control names are the ones ``from_label_studio`` reads back."""
    choices = "\n".join(f"    <Choice value={quoteattr(label)}/>" for label in labels)
    hard = "\n".join(f"    <Choice value={quoteattr(tag)}/>" for tag in HARD_CASES)
    return f"""<!-- Label Studio labelling config for the labels {", ".join(labels)}
     (written by `negotiation-stance suggest`; Settings > Labeling Interface > Code).
     Names must stay as they are: import-labels reads them back. -->
<View>
  <Header value="What stance toward negotiating an end to the conflict does this sentence express or report?"/>
  <Text name="{LS_TEXT}" value="${LS_TEXT}"/>
  <Choices name="{LS_LABEL}" toName="{LS_TEXT}" choice="single" showInline="true" required="true">
{choices}
  </Choices>
  <Header value="Who holds the stance? (as named in the text; leave empty for none)" size="6"/>
  <TextArea name="{LS_SPEAKER}" toName="{LS_TEXT}" maxSubmissions="1" rows="1"/>
  <Header value="Hard case (only when a contract rule decided the label)" size="6"/>
  <Choices name="{LS_HARD_CASE}" toName="{LS_TEXT}" choice="single" showInline="true">
{hard}
  </Choices>
</View>
"""


def write_suggestions(
    folder: str | Path, suggested: Sequence[dict[str, Any]], labels: Sequence[str], model_version: str
) -> list[Path]:
    """Label Studio tasks pre-annotated with the model's labels, the matching labelling config, and
    ``suggested.jsonl``; the three files are replaced together or not at all."""
    folder = Path(folder)
    predictions = [{"label": r["label"], "score": r["score"], "model_version": model_version} for r in suggested]
    tasks = to_label_studio(suggested, predictions, data_fields=("sentence_index", "rank", "uncertainty"))
    paths = [folder / TASKS_FILE, folder / CONFIG_FILE, folder / SUGGESTED_FILE]
    with atomic_write_all(paths) as (tasks_tmp, config_tmp, suggested_tmp):
        tasks_tmp.write_text(json.dumps(tasks, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        config_tmp.write_text(label_studio_config(labels), encoding="utf-8")
        write_jsonl_to(suggested_tmp, suggested)
    return paths
