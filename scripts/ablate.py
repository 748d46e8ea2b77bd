"""``make ablate``: train each recipe variant over seeds, soup the best, and write the table (docs/experiments.md).

  python scripts/ablate.py [--variants default,class_weights,...] [--seeds 42,1,2] [--out docs/experiments.md]
  python scripts/ablate.py --from logs/ablate/<time>      # only rebuild the table from finished runs
  python scripts/ablate.py --variants default,relevance  # adds the row "default + relevance" (a pipeline)

Each variant is a preset ``configs/experiment/ablate_<name>.yaml``; all of them run as one
Hydra multirun (``scripts/train.py -m experiment=... seed=...``) in one sweep folder, so
``make compare`` and W&B see them as ordinary runs. The best variant is chosen on real
text (mean ``real_dev`` 3-way macro-F1 over seeds), never on the corpus test split; its seed
models are then averaged into a uniform soup, scored by ``scripts/evaluate.py`` and added
as one more row.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from negotiation_stance.errors import UserError
from negotiation_stance.evaluation.ablation import (
    BASELINE,
    ECE_COLUMN,
    PIPELINE,
    PRESET_PREFIX,
    ablation_rows,
    best_variant,
    collect_variants,
    markdown_table,
    merge_rows,
    real_calibration,
    real_scores,
    table_rows,
)
from negotiation_stance.evaluation.record import RECORD_FILE, RunRecord
from negotiation_stance.io import write_text

SCRIPTS = Path(__file__).resolve().parent
PRESETS = SCRIPTS.parent / "configs" / "experiment"
DEFAULT_VARIANTS = (
    "default,class_weights,label_smoothing,llrd,4label,mpnet,mpnet_4label,mpnet_4label_fast,"
    "mpnet_4label_fast_avg,mpnet_4label_freeze4_avg,mpnet_4label_freeze8_3ep_avg,"
    "mpnet_4label_freeze10_3ep_avg,mpnet_4label_freeze10_3ep_avg_cached,"
    "mpnet_4label_freeze11_3ep_avg_cached,mpnet_4label_freeze9_3ep_avg_cached,mpnet_4label_freeze9_probe,"
    "mpnet_4label_freeze9_2ep_avg_cached,mpnet_4label_freeze9_3ep_avg75_cached,mpnet_4label_freeze9_4ep_avg_cached,"
    "mpnet_4label_freeze9_3ep_lr15e5_cached,mpnet_4label_freeze10_4ep_avg_cached,mpnet_4label_freeze9_mean_pooled,"
    "mpnet_4label_freeze9_constant_lr,mpnet_4label_freeze9_label_smoothing,mpnet_4label_freeze9_class_weights,"
    "mpnet_4label_freeze9_context,"
    "mpnet_4label_freeze10_3ep_context_avg,mpnet_4label_fast_avg_lr5e5,mpnet_4label_fast_avg_lr2e4,"
    "mpnet_4label_fast_context,mpnet_4label_fast_context_avg,mpnet_4label_context_1ep,context,mask_names,"
    "entity_swap,relevance"
)
BEGIN, END = "<!-- ablation table: begin (scripts/ablate.py) -->", "<!-- ablation table: end -->"


def run_sweep(variants: list[str], seeds: str, overrides: list[str], sweep_dir: Path) -> None:
    experiments = ",".join(PRESET_PREFIX + v for v in variants)
    command = [sys.executable, str(SCRIPTS / "train.py"), "-m", f"experiment={experiments}", f"seed={seeds}"]
    # Not models/best: the variants are different tasks and encoders, and the ablation chooses on real text.
    command += [f"hydra.sweep.dir={sweep_dir}", "~hydra.callbacks.best_of_sweep", *overrides]
    print("+", " ".join(command), flush=True)
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"error: the sweep failed; finished runs are in {sweep_dir} (rebuild with --from)")


def fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def write_between_markers(path: Path, text: str) -> None:
    """Replace what lies between the ablation markers of ``path`` (its prose stays); a new file gets just the table.

    An existing file without the markers is refused rather than overwritten.
    """
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    if old is None:
        text = f"{BEGIN}\n{text}{END}\n"
    elif BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        text = f"{head}{BEGIN}\n{text}{END}{rest.split(END, 1)[1]}"
    else:
        raise UserError(f"{path} has no ablation markers ({BEGIN} ... {END}); not overwriting it")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, text)


def soup_row(sweep_dir: Path, variant: str, runs: list[Path], data: str, overrides: list[str]) -> dict | None:
    """Average the seeds of ``variant``, score the soup like any exported model, and return its table row."""
    if len(runs) < 2:
        return None
    from negotiation_stance.export.soup import make_soup  # torch: only when a soup is made
    from negotiation_stance.modeling import exported_pair_field

    folder = sweep_dir / "soup"
    model = make_soup(runs, folder / "model")
    command = [sys.executable, str(SCRIPTS / "evaluate.py"), f"model_dir={model}", f"data={data}"]
    if pair_field := exported_pair_field(model):  # the context variant: scored on the pairs it was trained on
        command.append(f"data.pair_field={pair_field}")
    command += [f"hydra.run.dir={folder / 'evaluation'}", *(o for o in overrides if not o.startswith("training."))]
    if subprocess.run(command).returncode != 0:
        raise SystemExit(f"error: scoring the soup failed ({folder})")
    record = RunRecord.read(folder / "evaluation" / RECORD_FILE)
    three, four = real_scores(record, "real_dev")
    cal = real_calibration(folder / "evaluation", record, "real_dev")
    return {
        "variant": f"soup of {variant}",
        "labels": len(record.labels),
        "seeds": f"{len(runs)} averaged",
        "validation": fmt(record.splits["validation"]["macro_f1"]),
        "corpus test": fmt(record.splits["test"]["macro_f1"]),
        "real_dev 3-way": fmt(three),
        "real_dev 4-way": fmt(four),
        ECE_COLUMN: f"{cal['ece']:.3f} → {cal['ece_scaled']:.3f} (T {cal['temperature']:.2f})" if cal else "–",
        f"Δ 3-way vs {BASELINE} (p per seed)": "–",
        "_sort": float("nan"),  # not a preset: sorted last, never chosen
    }


def earlier_rows(out: Path | None, columns: list[str]) -> list[dict]:
    """``--keep-rows``: the rows of the table now between ``out``'s markers, which must have these columns."""
    if out is None or not out.is_file():
        raise UserError("--keep-rows needs --out naming an existing table to keep rows from")
    text = out.read_text(encoding="utf-8")
    if BEGIN not in text or END not in text:
        raise UserError(f"{out} has no ablation markers ({BEGIN} ... {END}): no rows to keep")
    try:
        old_columns, rows = table_rows(text.split(BEGIN, 1)[1].split(END, 1)[0])
    except UserError as exc:
        raise UserError(f"{out}: {exc}") from exc
    if old_columns != columns:
        raise UserError(f"{out}: its table's columns {old_columns} are not this script's {columns}; "
                        "rebuild it from all the runs instead of --keep-rows")  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default=DEFAULT_VARIANTS, help=f"comma-separated (default {DEFAULT_VARIANTS})")
    parser.add_argument("--seeds", default="42,1,2")
    parser.add_argument("--overrides", default="", help='Hydra overrides for every run, e.g. "training.epochs=3"')
    parser.add_argument("--from", dest="source", type=Path, help="a finished sweep folder: only rebuild the table")
    parser.add_argument("--out", type=Path, help="also write the table here (make ablate: docs/experiments.md)")
    parser.add_argument("--no-soup", action="store_true")
    parser.add_argument(
        "--keep-rows",
        action="store_true",
        help="keep the rows of --out's table for variants these runs lack (earlier sweeps' runs)",
    )
    args = parser.parse_args()
    overrides = args.overrides.split()
    variants = [v for v in args.variants.split(",") if v]
    missing = [v for v in variants if not (PRESETS / f"{PRESET_PREFIX}{v}.yaml").is_file()]
    if missing:
        known = sorted(p.stem.removeprefix(PRESET_PREFIX) for p in PRESETS.glob(f"{PRESET_PREFIX}*.yaml"))
        print(f"error: --variants: no preset for {missing}; known: {known}", file=sys.stderr)
        return 2
    mpnet = Path.cwd() / "models" / "pretrained" / "all-mpnet-base-v2"
    custom_paths = any(o.startswith(("paths.", "model.")) for o in overrides)
    needs_mpnet = any(v.startswith("mpnet") for v in variants) and not args.source and not custom_paths
    if needs_mpnet and not (mpnet / "config.json").is_file():
        print(f"error: the mpnet variants need {mpnet}: run `make pretrained-mpnet` first, "
              "or leave it out (--variants ...)", file=sys.stderr)  # fmt: skip
        return 2
    swapped = SCRIPTS.parent / "data" / "processed" / "statements_swapped.jsonl"
    if "entity_swap" in variants and not args.source and not custom_paths and not swapped.is_file():
        print(f"error: the entity_swap variant needs {swapped}: run `make augment` first, "
              "or leave it out (--variants ...)", file=sys.stderr)  # fmt: skip
        return 2
    # A sweep folder named in --overrides is where the runs go, so it is also the folder read back.
    named = [o for o in overrides if o.startswith("hydra.sweep.dir=")]
    overrides = [o for o in overrides if o not in named]
    if args.source:
        sweep_dir = args.source
    else:
        stamp = Path("logs") / "ablate" / time.strftime("%Y-%m-%d_%H-%M-%S")
        sweep_dir = Path.cwd() / (named[-1].split("=", 1)[1] if named else stamp)
        run_sweep(variants, args.seeds, overrides, sweep_dir)
    found = collect_variants(sweep_dir)
    if not found:
        print(f"error: no finished ablation runs under {sweep_dir}", file=sys.stderr)
        return 2
    # The real sets, for default runs older than their `none` rows' predictions (the pipeline row).
    eval_dir = SCRIPTS.parent.parent / "shared" / "eval"
    eval_dir = next((Path(o.split("=", 1)[1]) for o in overrides if o.startswith("paths.shared_eval_dir=")), eval_dir)
    rows = ablation_rows(found, eval_dir=eval_dir)
    try:
        old = earlier_rows(args.out, [c for c in rows[0] if not c.startswith("_")]) if args.keep_rows else []
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    best = best_variant(merge_rows(rows, old))
    if best in found and not args.no_soup:
        runs = [folder for _, folder, _ in found[best].runs]
        try:
            row = soup_row(sweep_dir, best, runs, found[best].runs[0][2].data["name"], overrides)
        except UserError as exc:
            print(f"error: soup of {best}: {exc}", file=sys.stderr)
            return 2
        if row:
            rows.append(row)
    merged = merge_rows(rows, old)
    kept, rows = len(merged) - len(rows), merged
    table = markdown_table(rows)
    earlier = f", and {kept} rows kept from the table before (`--keep-rows`; their runs are not under it)" * bool(kept)
    text = (
        f"Runs: `{sweep_dir}`{earlier}. Sorted by mean real_dev 3-way macro-F1 after the default (the rule that "
        f"chooses the default); the corpus test split is reported, never used to choose. "
        f"Best variant: **{best}**.\n\n{table}\n"
    )
    if any(row["variant"] == PIPELINE for row in rows):
        text += (
            f"\n`{PIPELINE}`: each seed's three-label default run with the relevance run of the same seed, as one "
            "four-label model (`none` where the relevance model gives p(none) > 0.5, else the default's stance); "
            "its 3-way score is the default's, the same stance model.\n"
        )
    write_text(sweep_dir / "experiments.md", text)
    if args.out:
        try:
            write_between_markers(args.out, text)
        except UserError as exc:
            print(f"error: {exc}; the table is in {sweep_dir / 'experiments.md'}", file=sys.stderr)
            return 2
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
