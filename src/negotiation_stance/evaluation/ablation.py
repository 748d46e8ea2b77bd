"""The ablation table (``make ablate`` -> docs/experiments.md): recipe variants over seeds, corpus and real text.

A variant is a preset ``configs/experiment/ablate_<name>.yaml``. Three- and four-label
models are put on the same footing through the cross-task scores every run records
(``three_way`` for a four-label model, ``four_way`` through article mode's rule for a
three-label one; see ``evaluation.scoring``), and each variant is tested against the
default with a paired bootstrap on the same real sentences, seed against seed. A relevance
model (stance vs none, ``ablate_relevance``) has neither task of its own: it is scored paired with
the default's three-label run of the same seed, as the pipeline row ``default + relevance``.
"""

from __future__ import annotations

import json
import logging
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import softmax

from negotiation_stance.errors import UserError
from negotiation_stance.evaluation.metrics import calibration, classification_metrics, fit_temperature, paired_bootstrap
from negotiation_stance.evaluation.record import RECORD_FILE, RunRecord
from negotiation_stance.labels import CONTRACT_LABELS, STANCE_LABELS

log = logging.getLogger(__name__)

PRESET_PREFIX = "ablate_"
ECE_COLUMN = "real_dev ECE: raw → T fitted on validation"
BASELINE = "default"
RELEVANCE = "relevance"
PIPELINE = f"{BASELINE} + {RELEVANCE}"
# The pipeline says `none` where the relevance model does: p(none) > 0.5 is its own argmax (two labels), so
# no temperature moves it.
NONE_THRESHOLD = 0.5


@dataclass
class Variant:
    name: str
    labels: list[str]
    # (seed, run folder, record), sorted by seed.
    runs: list[tuple[int, Path, RunRecord]] = field(default_factory=list)


def variant_name(record: RunRecord) -> str | None:
    """``class_weights`` for a run made with ``experiment=ablate_class_weights``; None for other runs."""
    for override in record.overrides:
        key, _, value = override.partition("=")
        if key.lstrip("+") == "experiment" and value.startswith(PRESET_PREFIX):
            return value[len(PRESET_PREFIX) :]
    return None


def train_rows(record: RunRecord) -> int | None:
    return (record.data.get("counts") or {}).get("train")


def collect_variants(root: Path) -> dict[str, Variant]:
    """Every finished ablation run below ``root``, grouped by variant.

    Runs of one preset trained on different data (the corpus grew between them) are
    different rows, named with their training-set size: seeds are averaged only over
    runs that saw the same sentences.
    """
    found: dict[str, list[tuple[Path, RunRecord]]] = {}
    for path in sorted(root.rglob(RECORD_FILE)):
        record = RunRecord.read(path)
        name = variant_name(record)
        if record.kind == "train" and name is not None:
            found.setdefault(name, []).append((path.parent, record))
    variants: dict[str, Variant] = {}
    for name, runs in found.items():
        sizes = {train_rows(record) for _, record in runs}
        for folder, record in runs:
            size = train_rows(record)
            key = name if len(sizes) == 1 else f"{name} ({size:,} train rows)" if size else f"{name} (size unknown)"
            variant = variants.setdefault(key, Variant(key, list(record.labels)))
            variant.runs.append((int(record.seed), folder, record))
    for variant in variants.values():
        variant.runs.sort(key=lambda run: run[0])
    return variants


def real_scores(record: RunRecord, real_set: str) -> tuple[float | None, float | None]:
    """(3-way, 4-way) macro-F1 on ``real_set``, whichever label set the model has; None where not scored."""
    block = record.real.get(real_set) or {}
    if not block or not set(STANCE_LABELS) <= set(record.labels):  # a relevance model: neither task is its own
        return None, None
    if "none" in record.labels:
        return block.get("three_way", {}).get("macro_f1"), block["macro_f1"]
    return block["macro_f1"], block.get("four_way", {}).get("macro_f1")


def stance_predictions(folder: Path, real_set: str) -> dict[str, tuple[int, int]]:
    """Per stance sentence of ``real_set``: (gold, predicted) over the three stance labels only.

    A four-label model's prediction is its most probable stance label, as in its 3-way score.
    """
    path = folder / f"predictions_{real_set}.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: the run did not score {real_set}")
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["gold"] not in STANCE_LABELS:
            continue
        probs = [row["probabilities"][label] for label in STANCE_LABELS]
        out[row["id"]] = (STANCE_LABELS.index(row["gold"]), int(np.argmax(probs)))
    return out


def paired_against(a: Path, b: Path, real_set: str, samples: int, seed: int) -> dict[str, float]:
    """Paired bootstrap of 3-way macro-F1 on ``real_set``: run ``a`` against run ``b``, the same sentences."""
    pa, pb = stance_predictions(a, real_set), stance_predictions(b, real_set)
    ids = sorted(set(pa) & set(pb))
    if len(ids) != len(pa) or len(ids) != len(pb):
        raise ValueError(f"{a} and {b} were not scored on the same {real_set} sentences")
    gold = [pa[i][0] for i in ids]
    return paired_bootstrap(
        gold, [pa[i][1] for i in ids], [pb[i][1] for i in ids], len(STANCE_LABELS), samples=samples, seed=seed
    )


def _read_predictions(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def three_label_predictions(folder: Path, real_set: str, eval_dir: Path | None = None) -> list[dict[str, Any]]:
    """A three-label run's saved predictions on every row of ``real_set``, its `none` rows included.

    The stance rows are in ``predictions_<set>.jsonl``; the `none` rows, which such a model is
    not scored on, in ``predictions_<set>_none.jsonl``. A run made before the scorer wrote that
    file has them predicted again by its exported model (``<run>/model``) on ``eval_dir``'s set.
    """
    stance = _read_predictions(folder / f"predictions_{real_set}.jsonl")
    none = folder / f"predictions_{real_set}_none.jsonl"
    if none.is_file():
        return [*stance, *_read_predictions(none)]
    if eval_dir is None:
        raise FileNotFoundError(f"{none} not found, and no eval_dir to predict its rows with {folder / 'model'}")
    log.warning("%s not found (a run from before it was written): predicting its rows with %s", none, folder / "model")
    return [*stance, *predict_none_rows(folder, real_set, eval_dir)]


def predict_none_rows(folder: Path, real_set: str, eval_dir: Path) -> list[dict[str, Any]]:
    """The `none` rows of ``real_set`` labelled by a three-label run's exported model, as the scorer saves them."""
    # torch only here: the table itself is built from files.
    from negotiation_stance.evaluation.scoring import load_real_sets, torch_logits_fn
    from negotiation_stance.modeling import exported_mask_names, exported_pair_field, load_exported

    model_dir = folder / "model"
    tokenizer, model, labels = load_exported(model_dir)
    if "none" in labels or exported_pair_field(model_dir):
        raise ValueError(f"{model_dir}: only a three-label single-sentence model's `none` rows are predicted here")
    sets = load_real_sets(eval_dir, [real_set], labels, mask_names=exported_mask_names(model_dir))
    if real_set not in sets:
        raise FileNotFoundError(f"{eval_dir / real_set}.jsonl not found")
    rows = sets[real_set].none_rows
    logits = torch_logits_fn(model, tokenizer, batch_size=64, max_length=_max_length(folder))(rows)
    return [
        {"id": str(row["id"]), "gold": "none", "predicted": labels[int(p.argmax())],
         "probabilities": {label: float(value) for label, value in zip(labels, p, strict=True)}}
        for row, p in zip(rows, softmax(logits, axis=-1), strict=True)
    ]  # fmt: skip


def _max_length(folder: Path) -> int:
    """The run's ``training.max_length`` (its saved settings), which its scoring truncated at; 128 without them."""
    import yaml

    path = folder / "run_config.yaml"
    saved = yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None
    return int(((saved or {}).get("config") or {}).get("training", {}).get("max_length", 128))


def relevance_pipeline(
    stance_run: Path, relevance_run: Path, real_set: str = "real_dev", eval_dir: Path | None = None
) -> dict[str, Any]:
    """Four-label scores on ``real_set`` of a three-label run and a relevance run as one model.

    A sentence is `none` when the relevance run gives p(none) > 0.5, otherwise the three-label
    run's most probable stance; ``predicted`` holds each sentence's label by id.
    """
    stance = {row["id"]: row for row in three_label_predictions(stance_run, real_set, eval_dir)}
    relevance = {row["id"]: row for row in _read_predictions(relevance_run / f"predictions_{real_set}.jsonl")}
    if set(stance) != set(relevance):
        raise ValueError(f"{stance_run} and {relevance_run} were not scored on the same {real_set} sentences")
    gold, predicted = [], {}
    for sid, row in stance.items():
        other = relevance[sid]
        if (row["gold"] == "none") != (other["gold"] == "none"):
            where = f"{real_set} {sid}: gold {row['gold']!r} in {stance_run}"
            raise ValueError(f"{where}, {other['gold']!r} in {relevance_run}")
        gold.append(CONTRACT_LABELS.index(row["gold"]))
        stance_label = max(STANCE_LABELS, key=lambda label: row["probabilities"][label])  # ties: the first, as argmax
        predicted[sid] = "none" if other["probabilities"]["none"] > NONE_THRESHOLD else stance_label
    scores = classification_metrics(gold, [CONTRACT_LABELS.index(p) for p in predicted.values()], CONTRACT_LABELS)
    return {**{key: scores[key] for key in ("macro_f1", "accuracy", "n", "per_class")}, "predicted": predicted}


def _log_probs(folder: Path, name: str, labels: list[str], temperature: float) -> tuple[np.ndarray, list[int]]:
    """Logits (up to a constant per row) and gold ids of a run's saved predictions on ``name``.

    The saved probabilities are those the run reported: divided by its own temperature when it
    calibrated, so multiplying their logs by it gives back the raw logits.
    """
    text = (folder / f"predictions_{name}.jsonl").read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines()]
    probs = np.array([[row["probabilities"][label] for label in labels] for row in rows], dtype=float)
    return np.log(np.clip(probs, 1e-12, None)) * temperature, [labels.index(row["gold"]) for row in rows]


def real_calibration(folder: Path, record: RunRecord, real_set: str, bins: int = 10) -> dict[str, float] | None:
    """ECE on ``real_set`` of the raw model and after a temperature fitted on corpus validation only.

    Real text never fits the temperature: it only shows whether one fitted in-domain carries over
    (the issue's rule: keep temperature scaling as the default if it lowers real ECE). None when the
    run saved no validation or real predictions.
    """
    if not all((folder / f"predictions_{n}.jsonl").is_file() for n in ("validation", real_set)):
        return None
    labels = list(record.labels)
    temperature = float((record.train or {}).get("temperature") or 1.0)
    val_logits, val_gold = _log_probs(folder, "validation", labels, temperature)
    fitted = fit_temperature(val_logits, val_gold)
    logits, gold = _log_probs(folder, real_set, labels, temperature)
    raw = calibration(softmax(logits, axis=-1), gold, bins)["ece"]
    scaled = calibration(softmax(logits / fitted, axis=-1), gold, bins)["ece"]
    return {"ece": raw, "ece_scaled": scaled, "temperature": fitted}


def _mean_sd(values: list[float | None]) -> str:
    kept = [v for v in values if v is not None]
    if not kept:
        return "–"
    if len(kept) == 1:
        return f"{kept[0]:.3f}"
    return f"{statistics.mean(kept):.3f} ± {statistics.stdev(kept):.3f}"


def _mean(values: list[float | None]) -> float:
    kept = [v for v in values if v is not None]
    return statistics.mean(kept) if kept else float("nan")


def ablation_rows(
    variants: dict[str, Variant], real_set: str = "real_dev", samples: int = 2000, eval_dir: Path | None = None
) -> list[dict[str, Any]]:
    """One row per variant, the default first, the others by mean real 3-way macro-F1 (how the default is chosen).

    With both default and relevance runs, the row ``default + relevance`` comes last (see :func:`pipeline_row`;
    ``eval_dir`` holds the real sets, for default runs older than their `none` rows' predictions file).
    """
    base = variants.get(BASELINE)
    base_by_seed = {seed: folder for seed, folder, _ in base.runs} if base else {}
    rows = []
    for variant in variants.values():
        records = [record for _, _, record in variant.runs]
        three, four = zip(*(real_scores(r, real_set) for r in records), strict=True)
        row: dict[str, Any] = {
            "variant": variant.name,
            "labels": len(variant.labels),
            "seeds": ",".join(str(seed) for seed, _, _ in variant.runs),
            "validation": _mean_sd([r.splits["validation"]["macro_f1"] for r in records]),
            "corpus test": _mean_sd([r.splits["test"]["macro_f1"] for r in records]),
            f"{real_set} 3-way": _mean_sd(list(three)),
            f"{real_set} 4-way": _mean_sd(list(four)),
            "_sort": _mean(list(three)),
        }
        if not set(STANCE_LABELS) <= set(variant.labels):  # a relevance model: its own task's real score
            own = _mean_sd([(r.real.get(real_set) or {}).get("macro_f1") for r in records])
            row[f"{real_set} 4-way"] = f"– ({'/'.join(variant.labels)}: {own})"
        cal = [real_calibration(folder, record, real_set) for _, folder, record in variant.runs]
        if all(cal):
            raw, scaled = (_mean([c[key] for c in cal]) for key in ("ece", "ece_scaled"))
            temps = _mean([c["temperature"] for c in cal])
            row[ECE_COLUMN.replace("real_dev", real_set)] = f"{raw:.3f} → {scaled:.3f} (T {temps:.2f})"
            row["_ece"], row["_ece_scaled"] = raw, scaled
        else:
            row[ECE_COLUMN.replace("real_dev", real_set)] = "–"
        tests = []
        if variant.name != BASELINE:
            for seed, folder, _ in variant.runs:
                if seed in base_by_seed and all(v is not None for v in three):
                    tests.append(paired_against(folder, base_by_seed[seed], real_set, samples, seed))
        p_values = " / ".join(f"{t['p_value']:.2f}" for t in tests)
        delta = statistics.mean(t["delta_macro_f1"] for t in tests) if tests else 0.0
        row[f"Δ 3-way vs {BASELINE} (p per seed)"] = f"{delta:+.3f} (p {p_values})" if tests else "–"
        rows.append(row)
    rows = sort_rows(rows)
    pipeline = pipeline_row(variants, real_set, eval_dir)
    return [*rows, pipeline] if pipeline else rows


def pipeline_row(variants: dict[str, Variant], real_set: str, eval_dir: Path | None = None) -> dict[str, Any] | None:
    """The row ``default + relevance``: each seed's three-label default run and relevance run as one four-label model.

    Its 4-way score comes from :func:`relevance_pipeline`; its 3-way score is the default's (the
    same stance model on the same stance rows). No corpus scores: the three-label runs never
    predicted the corpus's `none` rows. None without runs of both, paired by seed.
    """
    base, relevance = variants.get(BASELINE), variants.get(RELEVANCE)
    if base is None or relevance is None or "none" in base.labels:
        return None
    stance_runs = {seed: (folder, record) for seed, folder, record in base.runs}
    seeds, three, four = [], [], []
    for seed, folder, _ in relevance.runs:
        if seed not in stance_runs:
            continue
        stance_folder, stance_record = stance_runs[seed]
        try:
            four.append(relevance_pipeline(stance_folder, folder, real_set, eval_dir)["macro_f1"])
        except (FileNotFoundError, ValueError, UserError) as exc:  # one seed's files: the others still count
            log.warning("%s, seed %d: not scored: %s", PIPELINE, seed, exc)
            continue
        seeds.append(seed)
        three.append(real_scores(stance_record, real_set)[0])
    if not seeds:
        log.warning("%s: no relevance run has a scored %s run of the same seed; no row", PIPELINE, BASELINE)
        return None
    return {
        "variant": PIPELINE,
        "labels": f"{len(base.labels)}+{len(relevance.labels)}",
        "seeds": ",".join(str(seed) for seed in seeds),
        "validation": "–",
        "corpus test": "–",
        f"{real_set} 3-way": f"{_mean_sd(three)} (= {BASELINE})",
        f"{real_set} 4-way": _mean_sd(four),
        ECE_COLUMN.replace("real_dev", real_set): "–",
        f"Δ 3-way vs {BASELINE} (p per seed)": "–",
        "_sort": float("nan"),  # not a preset: never the best variant, never souped
    }


def markdown_table(rows: list[dict[str, Any]]) -> str:
    columns = [c for c in rows[0] if not c.startswith("_")] if rows else []
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row.get(c, "–")) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def sort_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The default first, then by mean real 3-way macro-F1; rows without a score (pipeline, soup) last."""
    scored = [r for r in rows if r["_sort"] == r["_sort"]]  # NaN is not equal to itself
    scored.sort(key=lambda r: (r["variant"] != BASELINE, -r["_sort"]))
    return scored + [r for r in rows if r["_sort"] != r["_sort"]]


def table_rows(markdown: str, real_set: str = "real_dev") -> tuple[list[str], list[dict[str, Any]]]:
    """The columns and rows of the first markdown table in ``markdown`` (a table :func:`markdown_table` wrote).

    Each row gets back its sort key, the mean it shows in the ``<real_set> 3-way`` column; rows that
    show none or are not a preset's (the pipeline, a soup) sort last, as they were written.
    """
    lines = [line.strip() for line in markdown.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2:
        return [], []
    split = [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]
    columns, body = split[0], split[2:]
    rows = []
    for number, cells in enumerate(body, start=1):
        if len(cells) != len(columns):
            shown = " | ".join(cells)
            raise UserError(f"table row {number} has {len(cells)} cells, its header {len(columns)}: {shown}")
        row: dict[str, Any] = dict(zip(columns, cells, strict=True))
        mean = re.match(r"(-?\d+\.\d+)", row.get(f"{real_set} 3-way", ""))
        name = row.get("variant", "")
        not_preset = name == PIPELINE or name.startswith("soup of ")
        row["_sort"] = float(mean.group(1)) if mean and not not_preset else float("nan")
        rows.append(row)
    return columns, rows


def merge_rows(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``new`` plus the rows of ``old`` whose variant ``new`` lacks, in table order.

    An earlier table's row stands for runs this folder no longer holds. A new soup replaces
    every earlier one (the soup is of the best variant); its paired test stays as it was
    computed against that sweep's default runs.
    """
    names = {row["variant"] for row in new}
    new_soup = any(row["variant"].startswith("soup of ") for row in new)
    kept = [r for r in old if r["variant"] not in names and not (new_soup and r["variant"].startswith("soup of "))]
    return sort_rows([*new, *kept])


def best_variant(rows: list[dict[str, Any]]) -> str | None:
    """The variant with the best mean real 3-way macro-F1 (the issue's rule for choosing the default)."""
    scored = [r for r in rows if r["_sort"] == r["_sort"]]
    return max(scored, key=lambda r: r["_sort"])["variant"] if scored else None
