"""Building the project's corpus from ``data/raw`` + ``data/annotations``, and the tools around it.

``build`` (the statements, splits and checks), ``sentences`` via ``negotiation_stance.text``,
``style``, ``cues`` and ``provenance`` (audits), ``candidates`` (users' articles and Label
Studio) and ``agreement`` (double annotation). Inference never imports this package.
"""

from negotiation_stance.corpus.build import (
    ARTICLE_FIELDS,
    BASE_VERSION,
    FORMS,
    NEAR_DUPLICATE_JACCARD,
    SPLIT_RATIOS,
    SPLIT_SEED,
    Sentence,
    build,
    build_statements,
    check_statements,
    corpus_version,
    cross_split_duplicates,
    load_annotations,
    load_articles,
    split_articles,
    split_by_article,
    summarize,
    tokens,
)
from negotiation_stance.io import write_jsonl
from negotiation_stance.labels import CONTRACT_LABELS, HARD_CASES, STANCE_LABELS

__all__ = [
    "ARTICLE_FIELDS",
    "BASE_VERSION",
    "CONTRACT_LABELS",
    "FORMS",
    "HARD_CASES",
    "NEAR_DUPLICATE_JACCARD",
    "SPLIT_RATIOS",
    "SPLIT_SEED",
    "STANCE_LABELS",
    "Sentence",
    "build",
    "build_statements",
    "check_statements",
    "corpus_version",
    "cross_split_duplicates",
    "load_annotations",
    "load_articles",
    "split_articles",
    "split_by_article",
    "summarize",
    "tokens",
    "write_jsonl",
]
