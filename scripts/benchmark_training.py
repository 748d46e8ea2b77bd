"""Training speed on this machine: the plain recipe against each speed-up, measured in one run.

  python scripts/benchmark_training.py [--steps 120] [--variants plain,default,...] [--full --seeds 42,1,2]

Each variant is one ``scripts/train.py``-equivalent run in its own process (so its
peak memory is its own) with the same seed and data; variants differ only in their
Hydra overrides (``VARIANTS``). Without ``--full`` each trains ``--steps`` steps and
reports training samples/s and the seconds an epoch of the default data would take;
with ``--full`` each trains the whole default recipe and also reports wall-clock
seconds, validation and real_dev macro-F1, per seed, so a speed-up is kept only if
its scores stay within the seed-to-seed spread.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# The recipe before issue #16 (fp32, random batches, frozen layers run every step) and what each
# speed-up adds, in the order they came: plain -> group_by_length -> bf16 -> default (+ the cache).
NO_CACHE = "training.cache_frozen=false"
VARIANTS: dict[str, list[str]] = {
    "plain": ["training.precision=fp32", "training.group_by_length=false", NO_CACHE],
    "group_by_length": ["training.precision=fp32", "training.group_by_length=true", NO_CACHE],
    "bf16": ["training.precision=bf16", "training.group_by_length=true", NO_CACHE],
    "default": [],
    "threads=1": ["training.num_threads=1"],
    "torch.compile": ["training.torch_compile=true"],
    # The frozen layers run once before training; the steps then run the layers above only.
    "cache_frozen": ["training.cache_frozen=true"],
}


def worker(overrides: list[str], out_dir: Path) -> dict:
    """One run in this process: the record's training figures, the wall clock and this process's peak RSS."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    from negotiation_stance.config import register_configs
    from negotiation_stance.inference.benchmarking import peak_rss_mb
    from negotiation_stance.training.run import train

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        # The encoder's path as a plain run would resolve it (model=mpnet reads it under paths.models_dir,
        # which this worker moves to a temporary folder).
        plain = compose(config_name="train", overrides=overrides, return_hydra_config=True)
        HydraConfig.instance().set_config(plain)
        encoder = str(plain.model.name_or_path)
        cfg = compose(
            return_hydra_config=True,  # paths.project_dir reads the config folder from Hydra, as in a script
            config_name="train",
            overrides=[
                "logger=none",
                f"paths.output_dir={out_dir / 'run'}",
                f"paths.models_dir={out_dir / 'models'}",
                f"paths.log_dir={out_dir / 'logs'}",
                *overrides,
                f"model.name_or_path={encoder}",
            ],
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        del cfg["hydra"]
    start = time.perf_counter()
    record = train(cfg)
    wall = time.perf_counter() - start
    real = record.get("real", {})
    return {
        "wall_seconds": wall,
        "train_seconds": record["train"]["seconds"],
        "samples_per_second": record["train"]["samples_per_second"],
        "global_step": record["train"]["global_step"],
        "train_sentences": record["data"]["counts"]["train"],
        "batch_size": cfg.training.batch_size,
        "validation_macro_f1": record["validation"]["macro_f1"],
        "real_dev_macro_f1": real.get("real_dev", {}).get("macro_f1"),
        "peak_mb": peak_rss_mb(),
        # The per-epoch validation passes (checkpoint choice): what fewer evaluations could save.
        "eval_seconds": sum(h.get("eval_runtime", 0.0) for h in record["train"]["log_history"]),
        # training.cache_frozen's one-time forward pass of the frozen layers, before the first step.
        "cache_seconds": record["train"].get("cache_seconds", 0.0),
    }


def tokenising_seconds(overrides: list[str]) -> tuple[int, float]:
    """Rows of the training split and the seconds tokenising them takes: what a pre-tokenised cache could save."""
    from hydra import compose, initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from transformers import AutoTokenizer

    from negotiation_stance.config import register_configs
    from negotiation_stance.data import load_splits
    from negotiation_stance.training.fit import tokenize

    register_configs()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    train = load_splits(cfg.data)["train"]
    tokenizer = AutoTokenizer.from_pretrained(str(cfg.model.name_or_path))
    start = time.perf_counter()
    tokenize(train, tokenizer, cfg.training.max_length)
    return len(train), time.perf_counter() - start


def run_variant(name: str, extra: list[str], seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        overrides = [*VARIANTS[name], *extra, f"seed={seed}"]
        cmd = [sys.executable, __file__, "--worker", json.dumps(overrides), "--out", tmp]
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode != 0:
        raise SystemExit(f"{name} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="plain,group_by_length,bf16,default")
    parser.add_argument("--steps", type=int, default=120, help="steps per variant without --full")
    parser.add_argument("--full", action="store_true", help="train the whole recipe and report scores too")
    parser.add_argument("--seeds", default="42", help="comma-separated; with --full, 3 seeds give the spread")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--overrides", default="", help='Hydra overrides for every variant, e.g. "data=fixture"')
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker), args.out)))
        return
    names = args.variants.split(",")
    unknown = sorted(set(names) - set(VARIANTS))
    if unknown:
        raise SystemExit(f"error: --variants: unknown {unknown}; choose from {sorted(VARIANTS)}")
    extra = [] if args.full else [f"training.max_steps={args.steps}", "evaluation.real_sets=[]"]
    extra += args.overrides.split()
    seeds = [int(s) for s in args.seeds.split(",")]
    results = {name: [run_variant(name, extra, seed) for seed in seeds] for name in names}
    steps_per_epoch = None
    print(f"\n{'full recipe' if args.full else f'{args.steps} steps'} per run; seeds {seeds}; cores {os.cpu_count()}")
    header = ["variant", "samples/s", "x plain", "s/epoch", "cache s", "eval s", "peak MB"]
    if args.full:
        header += ["wall s", "val F1", "real_dev F1"]
    print("  ".join(f"{h:>13}" for h in header))
    base = statistics.fmean(r["samples_per_second"] for r in results[names[0]])
    for name, runs in results.items():
        speed = statistics.fmean(r["samples_per_second"] for r in runs)
        steps_per_epoch = -(-runs[0]["train_sentences"] // runs[0]["batch_size"])
        epoch_seconds = steps_per_epoch * runs[0]["batch_size"] / speed
        cells = [
            name,
            f"{speed:.1f}",
            f"{speed / base:.2f}x",
            f"{epoch_seconds:.0f}",
            f"{statistics.fmean(r['cache_seconds'] for r in runs):.0f}",
            f"{statistics.fmean(r['eval_seconds'] for r in runs):.1f}",
            f"{max(r['peak_mb'] for r in runs):.0f}",
        ]
        if args.full:
            for key in ("wall_seconds", "validation_macro_f1", "real_dev_macro_f1"):
                values = [r[key] for r in runs if r[key] is not None]
                sd = statistics.stdev(values) if len(values) > 1 else 0.0
                cells.append(f"{statistics.fmean(values):.3f}±{sd:.3f}" if values else "–")
        print("  ".join(f"{c:>13}" for c in cells))
    print(f"(x plain: against '{names[0]}', the first variant; s/epoch: {steps_per_epoch} steps of the training data;")
    print(" cache s: training.cache_frozen's one pass of the frozen layers before training, once a run;")
    print(" eval s: the validation passes of the run, one per epoch, which choose the checkpoint)")
    rows, seconds = tokenising_seconds(args.overrides.split())
    print(f"Tokenising the {rows:,} training sentences: {seconds:.2f} s a run, all a pre-tokenised cache could save.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
