"""Double annotation: ``sample`` writes the blind task, ``report`` measures agreement.

python scripts/agreement.py sample --out blind_task.jsonl
python scripts/agreement.py report   # writes data/annotations/agreement.json

A writing round is measured on its own: ``--version v3`` draws only its
articles, reads ``second_pass_v3.jsonl`` and writes ``agreement_v3.json``.
``report --pass contract`` measures a pass drawn some other way (the contract-only
labels of ``second_pass_contract.jsonl``, data card "Contract audit").
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from negotiation_stance.config import find_checkout
from negotiation_stance.corpus import corpus_version, load_articles, split_articles, write_jsonl
from negotiation_stance.corpus.agreement import SAMPLE_SEED, agreement_report, draw_sample
from negotiation_stance.data import read_records

DATA = find_checkout(__file__) / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["sample", "report"])
    parser.add_argument("--out", type=Path, help="sample: where to write the blind task")
    parser.add_argument("--min-units", type=int, default=400)
    parser.add_argument("--pools", help="sample: comma-separated writer pools to draw from (default: all)")
    parser.add_argument("--version", help="one corpus version only (e.g. v3), with its own files")
    parser.add_argument("--data-dir", type=Path, default=DATA, help="the folder holding raw/ and annotations/")
    parser.add_argument(
        "--pass",
        dest="pass_name",
        help="report: a named second pass over any versions, second_pass_<NAME>.jsonl -> agreement_<NAME>.json",
    )
    args = parser.parse_args()
    if args.pass_name and args.command == "sample":
        parser.error("--pass names a pass to report on; `sample` draws a new one (use --version)")
    data = args.data_dir

    articles = load_articles(data / "raw" / "articles.jsonl")
    if args.version:
        articles = [a for a in articles if corpus_version(a) == args.version]
    name = args.pass_name or args.version
    suffix = f"_{name}" if name else ""
    sentences = split_articles(articles)
    writers = {r.record["id"]: r.record for r in read_records(data / "annotations" / "labels.jsonl")}
    if args.command == "sample":
        # The writer pool: the writer handle on most of the article's labels (adjudication renames a few).
        handles: dict[str, Counter[str]] = {}
        for s in sentences:
            handle = writers[s.id]["annotator"].split("+")[0]
            if handle != "adjudicated":
                handles.setdefault(s.article_id, Counter())[handle] += 1
        pool_of = {article: counts.most_common(1)[0][0] for article, counts in handles.items()}
        if args.pools:
            keep = set(args.pools.split(","))
            sentences = [s for s in sentences if pool_of[s.article_id] in keep]
        chosen = set(draw_sample(sentences, pool_of, args.min_units))
        write_jsonl(
            args.out,
            ({"id": s.id, "article_id": s.article_id, "text": s.text} for s in sentences if s.article_id in chosen),
        )
        print(f"{len(chosen)} articles, seed {SAMPLE_SEED!r} -> {args.out}")
        return
    second = {r.record["id"]: r.record for r in read_records(data / "annotations" / f"second_pass{suffix}.jsonl")}
    adjudication = data / "annotations" / "adjudication.jsonl"
    adjudicated = {r.record["id"]: r.record for r in read_records(adjudication)} if adjudication.exists() else {}
    harmonised: dict[str, str] = {}
    for r in read_records(data / "annotations" / "harmonisation.jsonl"):
        harmonised.setdefault(r.record["id"], r.record["before"])  # the earliest label on record
    # Kappa is measured on blind labels: the writer's own, before any adjudication or harmonisation.
    original = {
        i: adjudicated[i]["label_first"] if i in adjudicated else harmonised.get(i, writers[i]["label"]) for i in second
    }
    first = {i: {**writers[i], "label": original[i]} for i in second}
    # A named pass was not drawn by `sample`, so it has no sample seed of its own.
    report = {"sample_seed": None if args.pass_name else SAMPLE_SEED, **agreement_report(first, second)}
    (data / "annotations" / f"agreement{suffix}.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "disagreements"}, indent=1))


if __name__ == "__main__":
    main()
