"""Does the labelling loop pay? ``suggest`` -> label -> train, simulated on one context held out of the corpus.

One context of the bundled corpus (``israel_hamas`` by default) plays the
user's own articles. Per seed, a base model is trained without any of its
articles; it scores the context's train-split sentences, N of them are picked
by uncertainty (``select``, ``margin``: uncertainty + diversity) or at random,
their gold labels stand in for the annotator, and the model is retrained with
them as a ``data.extra`` corpus. Every model is scored on the context's
test-split sentences, carried as that corpus's test rows: they are scored on
their own and never chosen on (model choice stays on the corpus validation
split, which holds no article of the context).
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from negotiation_stance.config import INFERENCE_BATCH_SIZE
from negotiation_stance.corpus.active_learning import select
from negotiation_stance.errors import ConfigError
from negotiation_stance.evaluation.compare import load_predictions
from negotiation_stance.evaluation.metrics import bootstrap_mean_difference
from negotiation_stance.io import read_records, write_json, write_jsonl, write_text

log = logging.getLogger(__name__)

# Uncertainty (the default of `suggest`) against the plain baseline.
STRATEGIES = ("margin", "random")
# Settings every run gets before the user's --overrides: no W&B run per arm, no real-text sets (not the question).
# MiniLM: the documented study's encoder (docs/active_learning.md); --overrides can change it.
RUN_DEFAULTS = ("logger=none", "evaluation.real_sets=[]", "model=minilm", "training=default")
RESULT_FILE, TABLE_FILE = "al_simulation.json", "active_learning.md"

# Hydra overrides -> the run's record (metrics.json), as training.run.train returns it.
TrainFn = Callable[[list[str]], dict[str, Any]]
# (model folder, texts, max_length) -> (n_texts, n_labels) probabilities.
ProbabilitiesFn = Callable[[str, list[str], int], np.ndarray]


@dataclass(frozen=True)
class HeldOut:
    """The corpus split around one context: what the base model sees, what the user would label, what is scored."""

    context: str
    base: list[dict[str, Any]]  # statements of every other context, all splits
    pool: list[dict[str, Any]]  # the context's train-split sentences, `none` included: the user's unlabelled text
    test: list[dict[str, Any]]  # the context's test-split sentences


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    return [row.record for row in read_records(path)]


def contexts_of(articles: Sequence[dict[str, Any]]) -> dict[str, str]:
    """article_id -> context (``data/raw/articles.jsonl``)."""
    return {str(a["article_id"]): str(a["context"]) for a in articles}


def hold_out(statements: Sequence[dict[str, Any]], context_of: dict[str, str], context: str) -> HeldOut:
    """Split the statements around ``context``: every split of its articles leaves the base data."""
    known = sorted(set(context_of.values()))
    if context not in known:
        raise ConfigError(f"--context {context!r} is not a context of the corpus; choose one of {known}")
    missing = sorted({str(s["article_id"]) for s in statements} - set(context_of))
    if missing:
        raise ConfigError(f"statements of articles without a context in the articles file, e.g. {missing[0]!r}")
    base, pool, test = [], [], []
    for row in statements:
        if context_of[str(row["article_id"])] != context:
            base.append(row)
        elif row["split"] == "train":
            pool.append(row)
        elif row["split"] == "test":
            test.append(row)
    return HeldOut(context, base, pool, test)


def pick(
    pool: Sequence[dict[str, Any]], probabilities: np.ndarray, n: int, strategy: str, seed: int
) -> list[dict[str, Any]]:
    """The ``n`` pool rows ``suggest`` would ask to label (``select``), most uncertain first."""
    return [pool[i] for i in select([r["text"] for r in pool], probabilities, n, strategy=strategy, seed=seed)]


def label_counts(rows: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Gold labels of the picked rows: ``none`` ones teach a three-label model nothing and are left out of it."""
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["label"]] = counts.get(row["label"], 0) + 1
    return dict(sorted(counts.items()))


def extra_corpus(picked: Sequence[dict[str, Any]], test: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``data.extra`` rows of one run: the labelled picks as training rows, the context's test rows as test."""
    return [{**r, "split": "train"} for r in picked] + [{**r, "split": "test"} for r in test]


def quote(value: str | Path) -> str:
    """A Hydra override value that survives spaces, quotes and ``=`` in a path."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass
class Simulation:
    """What one simulation runs: the context, the picked sizes and seeds, and the settings of every training run."""

    context: str
    statements: Path
    articles: Path
    out_dir: Path
    sizes: list[int] = field(default_factory=lambda: [100, 200])
    seeds: list[int] = field(default_factory=lambda: [42, 1, 2])
    overrides: list[str] = field(default_factory=list)  # every run's, after RUN_DEFAULTS
    labels: list[str] = field(default_factory=list)  # the model's (data.labels)
    max_length: int = 128  # training.max_length: the base model scores the pool with it
    # model.name_or_path as resolved before paths.models_dir moves into the simulation folder (model=mpnet reads
    # its weights under it); None keeps the composed value.
    encoder: str | None = None

    def run_overrides(self, name: str, seed: int, extra: Path) -> list[str]:
        data = self.out_dir / "data" / "base.jsonl"
        paths = [f"data.{split}_path={quote(data)}" for split in ("train", "validation", "test")]
        return [
            *RUN_DEFAULTS,
            f"paths.log_dir={quote(self.out_dir / 'logs')}",
            f"paths.models_dir={quote(self.out_dir / 'models')}",
            *self.overrides,
            *([f"model.name_or_path={quote(self.encoder)}"] if self.encoder else []),
            f"seed={seed}",
            f"paths.output_dir={quote(self.out_dir / 'runs' / name)}",
            *paths,
            f"data.extra=[{quote(extra)}]",
        ]


def check_sizes(sizes: Sequence[int], pool: int) -> None:
    bad = [n for n in sizes if not 1 <= n <= pool]
    if bad or not sizes or len(set(sizes)) != len(sizes):
        raise ConfigError(
            f"--sizes {list(sizes)}: distinct sizes, each between 1 and the {pool} train sentences of the context"
        )


def simulate(sim: Simulation, train_fn: TrainFn, probabilities_fn: ProbabilitiesFn) -> dict[str, Any]:
    """Train the base and every strategy x size arm for each seed; the summary table and every run's figures."""
    held = hold_out(read_jsonl(sim.statements), contexts_of(read_jsonl(sim.articles)), sim.context)
    check_sizes(sim.sizes, len(held.pool))
    test = [r for r in held.test if r["label"] in sim.labels]
    if not test:
        raise ConfigError(f"context {sim.context!r} has no test sentences labelled {sim.labels}")
    write_jsonl(sim.out_dir / "data" / "base.jsonl", held.base)
    runs: list[dict[str, Any]] = []

    def run(name: str, seed: int, strategy: str | None, picked: list[dict[str, Any]]) -> dict[str, Any]:
        extra = sim.out_dir / "data" / name / f"{sim.context}.jsonl"
        write_jsonl(extra, extra_corpus(picked, held.test))
        log.info("Simulation run %s (%d picked)", name, len(picked))
        record = train_fn(sim.run_overrides(name, seed, extra))
        run_dir = Path(record["run_dir"])
        counts = label_counts(picked)
        result = {
            "name": name, "seed": seed, "strategy": strategy, "size": len(picked), "run_dir": str(run_dir),
            "macro_f1": record["user"][sim.context]["test"]["macro_f1"],
            "validation_macro_f1": record["validation"]["macro_f1"], "picked_labels": counts,
            "none_picked": counts.get("none", 0), "added": sum(n for k, n in counts.items() if k in sim.labels),
            "picked_ids": [r["id"] for r in picked],
            "predictions": {i: p for i, (_, p) in load_predictions(run_dir, f"user-{sim.context}-test").items()},
            "train_sentences": record["data"]["counts"]["train"], "seconds": record["train"]["seconds"],
        }  # fmt: skip
        runs.append(result)
        return record

    for seed in sim.seeds:
        base = run(f"seed{seed}-base", seed, None, [])
        probabilities = probabilities_fn(str(base["model_dir"]), [r["text"] for r in held.pool], sim.max_length)
        for strategy in STRATEGIES:
            for n in sim.sizes:
                run(f"seed{seed}-{strategy}-{n}", seed, strategy, pick(held.pool, probabilities, n, strategy, seed))
    gold = {f"user:{sim.context}:{r['id']}": r["label"] for r in test}
    return {
        "context": sim.context,
        "counts": {"base": len(held.base), "pool": len(held.pool), "test": len(test), "test_all": len(held.test)},
        "sizes": sim.sizes,
        "seeds": sim.seeds,
        "labels": sim.labels,
        "summary": summarise(runs, gold, sim.labels, sim.sizes),
        "runs": runs,
    }


def _mean_sd(values: Sequence[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "sd": statistics.stdev(values) if len(values) > 1 else 0.0}


def _difference(gold: dict[str, str], labels: list[str], a: list[dict], b: list[dict]) -> dict[str, float]:
    """Mean over seeds of macro-F1(a) - macro-F1(b), 95% bootstrap interval over the test sentences."""
    ids = sorted(gold)
    index = {label: k for k, label in enumerate(labels)}
    preds_a = [[index[r["predictions"][i]] for i in ids] for r in a]
    preds_b = [[index[r["predictions"][i]] for i in ids] for r in b]
    return bootstrap_mean_difference([index[gold[i]] for i in ids], preds_a, preds_b, len(labels))


def summarise(
    runs: list[dict[str, Any]], gold: dict[str, str], labels: list[str], sizes: Sequence[int]
) -> list[dict[str, Any]]:
    """One row per N (0 = the base model): each strategy's macro-F1 over seeds, the paired differences."""

    def arm(strategy: str | None, n: int) -> list[dict[str, Any]]:
        return sorted((r for r in runs if r["strategy"] == strategy and r["size"] == n), key=lambda r: r["seed"])

    base = arm(None, 0)
    rows: list[dict[str, Any]] = [{"size": 0, "base": _mean_sd([r["macro_f1"] for r in base])}]
    for n in sizes:
        row: dict[str, Any] = {"size": n}
        for strategy in STRATEGIES:
            runs_ = arm(strategy, n)
            row[strategy] = _mean_sd([r["macro_f1"] for r in runs_])
            row[strategy]["none_picked"] = statistics.fmean(r["none_picked"] for r in runs_)
            row[strategy]["added"] = statistics.fmean(r["added"] for r in runs_)
            row[f"{strategy}_minus_base"] = _difference(gold, labels, runs_, base)
        margin, random_ = arm("margin", n), arm("random", n)
        row["margin_minus_random"] = _difference(gold, labels, margin, random_)
        row["shared_picks"] = statistics.fmean(
            len(set(m["picked_ids"]) & set(r["picked_ids"])) for m, r in zip(margin, random_, strict=True)
        )
        rows.append(row)
    return rows


def verdict(row: dict[str, Any]) -> str:
    """One honest sentence on uncertainty vs random at one N, from the interval of their difference."""
    d = row["margin_minus_random"]
    n, interval = row["size"], f"{d['delta']:+.3f} (95% CI {d['low']:+.3f} to {d['high']:+.3f})"
    if d["low"] > 0:
        return f"At N = {n} uncertainty sampling beats random picks: {interval}."
    if d["high"] < 0:
        return f"At N = {n} random picks beat uncertainty sampling: {interval}."
    return f"At N = {n} uncertainty sampling does not measurably beat random picks: {interval}; the interval holds 0."


def gain(row: dict[str, Any]) -> str:
    """Whether labelling N sentences helped at all: each strategy against the base model."""
    parts = []
    for strategy, name in (("margin", "uncertainty"), ("random", "random")):
        d = row[f"{strategy}_minus_base"]
        said = "gains" if d["low"] > 0 else "loses" if d["high"] < 0 else "changes (not measurably)"
        parts.append(f"{name} {said} {d['delta']:+.3f} (95% CI {d['low']:+.3f} to {d['high']:+.3f})")
    return f"Over the base model at N = {row['size']}: " + "; ".join(parts) + "."


def _cell(d: dict[str, float]) -> str:
    return f"{d['delta']:+.3f} [{d['low']:+.3f}, {d['high']:+.3f}]"


def render_table(result: dict[str, Any], command: str, settings: dict[str, Any]) -> str:
    """``docs/active_learning.md``: the table, what it says, and how it was made."""
    c, seeds = result["counts"], ", ".join(str(s) for s in result["seeds"])
    lines = [
        "# Does the labelling loop pay? A simulation",
        "",
        f"Context `{result['context']}` plays the user's own articles: the base model is trained on the bundled "
        f"corpus without any of its articles ({c['base']} sentences, all splits), picks N of the context's "
        f"{c['pool']} train-split sentences (`none` included, as a user's articles would be), their gold labels stand "
        "in for the annotator, and the model is retrained with them (`data.extra`). Every model is scored on the "
        f"context's {c['test']} test-split sentences with a label of the model; the checkpoint is chosen on the "
        'corpus validation split without the context. Uncertainty = `select(..., strategy="margin")` (margin + '
        f"diversity, what `suggest` does); random = a seeded sample. Macro-F1, mean ± sd over seeds {seeds}; "
        "differences are the mean over seeds of the per-seed difference (each seed's arms share the base model and "
        "initialisation), with a 95% bootstrap interval over the test sentences.",
        "",
        "| N labelled | uncertainty | random | uncertainty − random [95% CI] | uncertainty − base [95% CI] "
        "| random − base [95% CI] | `none` among picks (unc. / random) |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in result["summary"]:
        if row["size"] == 0:
            base = f"{row['base']['mean']:.3f} ± {row['base']['sd']:.3f}"
            lines.append(f"| 0 (base model) | {base} | {base} | – | – | – | – |")
            continue
        m, r = row["margin"], row["random"]
        lines.append(
            f"| {row['size']} | {m['mean']:.3f} ± {m['sd']:.3f} | {r['mean']:.3f} ± {r['sd']:.3f} "
            f"| {_cell(row['margin_minus_random'])} | {_cell(row['margin_minus_base'])} "
            f"| {_cell(row['random_minus_base'])} | {m['none_picked']:.0f} / {r['none_picked']:.0f} |"
        )
    lines += ["", *[f"- {text(row)}" for row in result["summary"] if row["size"] for text in (gain, verdict)]]
    shared = ", ".join(f"{row['shared_picks']:.0f} of {row['size']}" for row in result["summary"] if row["size"])
    lines += [
        f"- Sentences picked by both strategies: {shared} (mean over seeds). `none` picks are left out of a "
        "three-label model's training.",
        "",
        "## How it was made",
        "",
        f"- command: `{command}`",
        f"- date: {settings['date']}; wall clock {settings['wall_minutes']:.1f} min for "
        f"{len(result['runs'])} training runs",
        f"- test sentences: {c['test']} (of {c['test_all']} in the context's test split; `none` ones are not scored "
        "by a three-label model)",
        f"- training: {settings['training']}",
        f"- every run's figures, picks and folder: `{settings['result_file']}`",
        "",
    ]
    return "\n".join(lines)


def write_outputs(result: dict[str, Any], out_dir: Path, doc: Path | None, command: str, settings: dict) -> Path:
    """The JSON beside the runs, the table beside it and (unless ``doc`` is None) at ``doc``."""
    result = {**result, "command": command, "settings": settings}
    write_json(out_dir / RESULT_FILE, result)
    table = render_table(result, command, settings)
    write_text(out_dir / TABLE_FILE, table)
    if doc is not None:
        write_text(doc, table)
    return out_dir / TABLE_FILE


def run_folder(root: Path) -> Path:
    """``<root>/logs/al_simulation/<time>/``: microseconds, as Hydra's run folders, so two starts never share one."""
    return root / "logs" / "al_simulation" / datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")


def model_probabilities(model_dir: str, texts: list[str], max_length: int) -> np.ndarray:
    """Softmax of an exported model's logits, as ``suggest`` computes them."""
    from negotiation_stance.modeling.model import load_exported, predict_logits, softmax

    tokenizer, model, _ = load_exported(model_dir)
    logits = predict_logits(model, tokenizer, texts, batch_size=INFERENCE_BATCH_SIZE, max_length=max_length)
    return softmax(logits)


def training_summary(cfg: Any) -> str:
    t = cfg.training
    steps = "" if t.max_steps is None or t.max_steps < 0 else f", max_steps {t.max_steps}"
    return (
        f"{cfg.model.name} ({cfg.model.base_model_id or cfg.model.name_or_path}), {t.epochs:g} epochs{steps}, "
        f"learning rate {t.learning_rate}, batch size {t.batch_size}, max_length {t.max_length}, "
        f"early stopping patience {t.early_stopping_patience}, labels {list(cfg.data.labels)}"
    )


def compose_train_config(config_dir: Path, overrides: Sequence[str]) -> Any:
    """The config ``scripts/train.py`` runs with these overrides; a bad key or value is a ConfigError."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from hydra.errors import HydraException
    from omegaconf import open_dict
    from omegaconf.errors import OmegaConfBaseException

    from negotiation_stance.config import register_configs

    register_configs()
    try:
        with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
            cfg = compose(config_name="train", overrides=list(overrides), return_hydra_config=True)
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(f"--overrides: {' '.join(str(exc).split())}") from None
    HydraConfig.instance().set_config(cfg)  # paths.project_dir and the run's override list read it, as in a script
    with open_dict(cfg):
        del cfg["hydra"]
    return cfg


def hydra_train_fn(config_dir: Path) -> TrainFn:
    """Each run as ``scripts/train.py`` would train it, in this process."""

    def train_fn(overrides: list[str]) -> dict[str, Any]:
        from negotiation_stance.training.run import train

        return train(compose_train_config(config_dir, overrides))

    return train_fn


def prepare(
    config_dir: Path, out_dir: Path, context: str, sizes: list[int], seeds: list[int], overrides: list[str]
) -> tuple[Simulation, Any]:
    """The simulation's settings from the composed config (the corpus files, labels, encoder), checked before
    any training: the runs read the statements file with its split field, so the corpus must be one such file."""
    cfg = compose_train_config(config_dir, [*RUN_DEFAULTS, *overrides])
    data = cfg.data
    if not (data.train_path == data.validation_path == data.test_path) or not data.split_field:
        raise ConfigError("the simulation holds a context out of one statements file with a split field (data.*_path)")
    if not seeds:
        raise ConfigError("--seeds: give at least one seed")
    sim = Simulation(
        context=context,
        statements=Path(data.train_path),
        articles=Path(cfg.paths.data_dir) / "raw" / "articles.jsonl",
        out_dir=out_dir,
        sizes=sizes,
        seeds=seeds,
        overrides=overrides,
        labels=list(data.labels),
        max_length=int(cfg.training.max_length),
        encoder=str(cfg.model.name_or_path),
    )
    return sim, cfg


def run_simulation(
    config_dir: Path,
    root: Path,
    *,
    context: str,
    sizes: list[int],
    seeds: list[int],
    overrides: list[str],
    doc: Path | None,
    command: str,
    train_fn: TrainFn | None = None,
    probabilities_fn: ProbabilitiesFn = model_probabilities,
) -> Path:
    """Everything ``make simulate-al`` does; returns the table written beside the runs.

    The study is on the three-label task (``data=negotiation``, as docs/active_learning.md
    was measured) unless ``overrides`` name another data config: the question is whether
    stance labels pay, and the default model's fourth label would change it.
    """
    import time

    if not any(o.lstrip("+~").startswith("data=") for o in overrides):
        overrides = ["data=negotiation", *overrides]
    out_dir = run_folder(root)
    sim, cfg = prepare(config_dir, out_dir, context, sizes, seeds, overrides)
    # The context and sizes are checked before the first run too: simulate() reads the files first.
    started = time.perf_counter()
    result = simulate(sim, train_fn or hydra_train_fn(config_dir), probabilities_fn)
    settings = {
        "date": datetime.now().strftime("%Y-%m-%d"),
        "wall_minutes": (time.perf_counter() - started) / 60,
        "training": training_summary(cfg),
        "overrides": overrides,
        # Relative to the working folder, so the committed table names no machine's paths.
        "result_file": str((out_dir / RESULT_FILE).relative_to(root) if out_dir.is_relative_to(root) else out_dir),
    }
    return write_outputs(result, out_dir, doc, command, settings)
