"""Double annotation: drawing the blind sample and measuring agreement.

The sample is whole articles (so references can be resolved), drawn round-robin
over the writers' pools with a fixed seed, until it holds ``min_units`` units.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sklearn.metrics import cohen_kappa_score, confusion_matrix

from negotiation_stance.corpus.build import Sentence
from negotiation_stance.labels import CONTRACT_LABELS, STANCE_LABELS

SAMPLE_SEED = "negotiation-stance-agreement-v1"


def draw_sample(sentences: Sequence[Sentence], pool_of: dict[str, str], min_units: int = 400) -> list[str]:
    """Article ids of the blind sample; ``pool_of`` maps article_id -> writer pool."""
    size: dict[str, int] = defaultdict(int)
    for s in sentences:
        size[s.article_id] += 1
    pools: dict[str, list[str]] = defaultdict(list)
    for article_id in sorted(size):
        pools[pool_of[article_id]].append(article_id)
    for pool in pools.values():
        pool.sort(key=lambda a: hashlib.sha256(f"{SAMPLE_SEED}:{a}".encode()).hexdigest())
    chosen, units, turn = [], 0, 0
    names = sorted(pools)
    while units < min_units and any(pools.values()):
        pool = pools[names[turn % len(names)]]
        turn += 1
        if pool:
            article_id = pool.pop(0)
            chosen.append(article_id)
            units += size[article_id]
    return chosen


def _norm(value: Any) -> str:
    return str(value or "").strip().lower()


def agreement_report(first: dict[str, dict[str, Any]], second: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Cohen's kappa (four labels and stance-only), confusion matrix, per-label agreement.

    Speaker and hard-case agreement are secondary: measured on the units both
    annotators gave the same stance label.
    """
    ids = sorted(set(first) & set(second))
    a = [first[i]["label"] for i in ids]
    b = [second[i]["label"] for i in ids]
    same_stance = [i for i, x, y in zip(ids, a, b, strict=True) if x == y and x != "none"]
    labels = list(CONTRACT_LABELS)
    both_stance = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x in STANCE_LABELS and y in STANCE_LABELS]
    per_label = {}
    for label in labels:
        either = [i for i in range(len(ids)) if a[i] == label or b[i] == label]
        agree = sum(1 for i in either if a[i] == b[i])
        # positive specific agreement: 2*agree / (n_a + n_b)
        per_label[label] = round(2 * agree / (a.count(label) + b.count(label)), 3) if either else None
    return {
        "units": len(ids),
        "observed_agreement": round(sum(x == y for x, y in zip(a, b, strict=True)) / len(ids), 4),
        "kappa_four_labels": round(float(cohen_kappa_score(a, b, labels=labels)), 4),
        "kappa_stance_where_both_stance": round(
            float(
                cohen_kappa_score([a[i] for i in both_stance], [b[i] for i in both_stance], labels=list(STANCE_LABELS))
            ),
            4,
        ),
        "units_both_stance": len(both_stance),
        "per_label_specific_agreement": per_label,
        "confusion_matrix": {
            "rows": "first annotator (writer)",
            "columns": "second annotator",
            "labels": labels,
            "matrix": confusion_matrix(a, b, labels=labels).tolist(),
        },
        "speaker_agreement_same_stance": round(
            sum(_norm(first[i].get("speaker")) == _norm(second[i].get("speaker")) for i in same_stance)
            / len(same_stance),
            3,
        ),
        "hard_case_agreement_same_stance": round(
            sum(first[i].get("hard_case") == second[i].get("hard_case") for i in same_stance) / len(same_stance), 3
        ),
        "disagreements": [ids[i] for i in range(len(ids)) if a[i] != b[i]],
    }
