"""Continuing an interrupted run from its last complete checkpoint, with its own settings, and the run folder itself."""

from __future__ import annotations

import copy
import json
import logging
import os
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from negotiation_stance.config import to_plain_dict
from negotiation_stance.errors import ConfigError, MissingPathError, NotWritableError
from negotiation_stance.evaluation.record import RECORD_FILE
from negotiation_stance.io import write_text

log = logging.getLogger(__name__)

DONE_MARKER = RECORD_FILE
# The resolved settings of a run and its command-line overrides, written when it starts.
RUN_CONFIG_FILE = "run_config.yaml"
# Settings of an invocation, not of the run it continues: where files go, how many
# threads, how it is tracked. Everything else is taken back from the run's saved config.
INVOCATION_KEYS = frozenset(
    {
        "paths",
        "logger",
        "training.resume",
        "training.num_threads",
        "training.dataloader_num_workers",
        "wandb.mode",
        "wandb.init_timeout",
    }
)


def resolve_resume(resume: str | None, runs_dir: Path) -> Path | None:
    """The run folder to continue: a given folder, or with ``true`` the newest unfinished one."""
    if resume in (None, "", "false", "False"):
        return None
    if str(resume).lower() == "true":
        candidates = sorted(
            (p.parent.parent for p in runs_dir.glob("*/checkpoints/checkpoint-*") if p.is_dir()),
            key=lambda p: p.name,
        )
        unfinished = [p for p in candidates if not (p / DONE_MARKER).exists()]
        if not unfinished:
            raise MissingPathError(f"training.resume=true: no unfinished run with a checkpoint under {runs_dir}")
        return unfinished[-1]
    folder = Path(str(resume)).expanduser().resolve()
    if (folder / DONE_MARKER).exists() and not (folder / "checkpoints").is_dir():
        raise MissingPathError(f"training.resume={resume}: that run finished ({DONE_MARKER} exists); nothing to resume")
    if not (folder / "checkpoints").is_dir():
        raise MissingPathError(f"training.resume={resume}: {folder}/checkpoints does not exist")
    return folder


def last_complete_checkpoint(folder: Path) -> Path | None:
    """The newest ``checkpoint-N`` whose trainer state was written (the Trainer writes it last).

    A run killed while saving leaves a checkpoint without it; resuming from that
    one would fail or silently lose the optimizer state, so it is skipped.
    """
    found = sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]), reverse=True)
    for checkpoint in found:
        try:
            json.loads((checkpoint / "trainer_state.json").read_text())
            return checkpoint
        except (OSError, ValueError):
            log.warning("Skipping incomplete checkpoint %s (interrupted while saving)", checkpoint)
    return None


def save_run_config(cfg: DictConfig, output_dir: Path, overrides: list[str]) -> Path:
    """Write ``run_config.yaml``: what a resume of this run takes back (resolved, so no later default leaks in)."""
    payload = OmegaConf.create({"overrides": list(overrides), "config": to_plain_dict(cfg)})
    path = output_dir / RUN_CONFIG_FILE
    write_text(path, OmegaConf.to_yaml(payload))
    return path


def saved_run_config(run_dir: Path) -> tuple[dict[str, Any], list[str] | None, Path] | None:
    """The saved settings of a run folder, its overrides and the file read; None when it has none.

    ``run_config.yaml`` first; a run started before it existed has Hydra's ``.hydra/config.yaml``
    (unresolved: its interpolations then resolve against this invocation's paths).
    """
    own = run_dir / RUN_CONFIG_FILE
    if own.is_file():
        payload = _load_yaml(own)
        complete = isinstance(payload, dict) and isinstance(payload.get("config"), dict)
        if not complete or not isinstance(payload.get("overrides"), list):
            raise ConfigError(f"{own}: not a saved run config (needs 'config' and 'overrides' sections)")
        return payload["config"], [str(o) for o in payload["overrides"]], own
    hydra_config = run_dir / ".hydra" / "config.yaml"
    if hydra_config.is_file():
        overrides_file = hydra_config.with_name("overrides.yaml")
        overrides = _load_yaml(overrides_file) if overrides_file.is_file() else None
        listed = [str(o) for o in overrides] if isinstance(overrides, list) else None
        config = _load_yaml(hydra_config)
        if not isinstance(config, dict):
            raise ConfigError(f"{hydra_config}: not a saved run config (expected a mapping of settings)")
        return config, listed, hydra_config
    return None


def _load_yaml(path: Path) -> Any:
    try:
        return OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or exc
        raise ConfigError(f"{path}{where}: cannot read the saved run config: {problem}") from exc
    except (OSError, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"{path}: cannot read the saved run config: {exc}") from exc


def restore_run_config(cfg: DictConfig, run_dir: Path, overrides: list[str]) -> tuple[DictConfig, list[str]]:
    """``cfg`` with the resumed run's own settings (all but :data:`INVOCATION_KEYS`), and the run's overrides.

    A resumed run must train, seed and record as the run it continues, whatever this
    invocation repeats or leaves out; settings given here that differ are named in one warning.
    """
    saved = saved_run_config(run_dir)
    if saved is None:
        log.warning("training.resume: %s has no saved config; resuming with this invocation's settings", run_dir)
        return cfg, overrides
    config, saved_overrides, source = saved
    restored = copy.deepcopy(cfg)
    ignored = []
    for section, value in config.items():
        if section in INVOCATION_KEYS or section not in _keys(restored):
            continue
        node = restored[section] if isinstance(value, dict) else restored
        items = value.items() if isinstance(value, dict) else [(section, value)]
        for name, saved_value in items:
            key = f"{section}.{name}" if isinstance(value, dict) else section
            if key in INVOCATION_KEYS or name not in _keys(node):
                continue  # a setting of this invocation, or one this version no longer has
            before = _plain(node, name)
            node[name] = saved_value
            after = _plain(node, name)
            if before != after:
                ignored.append(f"{key}={before} (run: {after})")
    if ignored:
        log.warning(
            "training.resume: %s continues with its own settings (%s); ignored here: %s",
            run_dir,
            source.relative_to(run_dir),
            ", ".join(ignored),
        )
    return restored, saved_overrides if saved_overrides is not None else overrides


def _keys(node: DictConfig) -> set[str]:
    # `in` is False for a key whose value is still ??? (data.train_path of data=jsonl).
    return {str(k) for k in node.keys()}  # noqa: SIM118


def _plain(node: DictConfig, name: str) -> Any:
    try:
        value = node[name]
    except MissingMandatoryValue:
        return "???"
    return OmegaConf.to_container(value, resolve=True) if isinstance(value, DictConfig | ListConfig) else value


def prepare_output_dir(output_dir: Path, resumed: Path | None) -> Path:
    """The run folder (the resumed run's, when resuming), created and checked writable."""
    try:
        if resumed is not None and resumed != output_dir:
            log.info("Resuming run %s (this invocation's log stays in %s)", resumed, output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            (output_dir / "resumed_into.txt").write_text(str(resumed) + "\n")
            output_dir = resumed
        output_dir.mkdir(parents=True, exist_ok=True)
        probe = output_dir / f".write_test.{process_rank()}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise NotWritableError(f"paths.output_dir {output_dir} is not writable: {exc.strerror or exc}") from exc
    return output_dir


def process_rank() -> int:
    """Under torchrun every rank runs the task; only rank 0 logs, reports and exports."""
    return int(os.environ.get("RANK", "0"))
