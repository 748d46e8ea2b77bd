"""The README tells the truth: its targets table, its configuration table and its shell commands."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, compose_config

README = (ROOT / "README.md").read_text(encoding="utf-8")
LABELS = ("pro_negotiation", "skeptical", "conditional")
MAKEFILE_TARGETS = re.findall(r"^([a-zA-Z_-]+):.*## ", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)


def section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def shell_commands() -> list[str]:
    """Every command of the README's fenced bash blocks, continuation lines joined, comment lines left out."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|shell)\n(.*?)```", README, flags=re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                commands.append(line.strip())
    return commands


def make_dry_run(args: list[str]) -> subprocess.CompletedProcess:
    # -o: take the installed environment as it is instead of planning `make setup`.
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-o", ".venv/.installed", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )


def test_the_targets_table_and_the_makefile_name_the_same_targets():
    table = [line for line in README.splitlines() if line.startswith("| `make ")]
    documented = set()
    for line in table:
        documented |= set(re.findall(r"`make ([a-zA-Z_-]+)", line.split("|")[1]))
    assert len(MAKEFILE_TARGETS) >= 20
    assert sorted(set(MAKEFILE_TARGETS) - documented) == [], "targets missing from the README table"
    assert sorted(documented - set(MAKEFILE_TARGETS)) == [], "the README table lists targets the Makefile lacks"


def test_every_documented_make_command_parses():
    commands = [shlex.split(c, comments=True) for c in shell_commands() if c.startswith("make ")]
    assert len(commands) >= 15
    for command in commands:
        dry = make_dry_run(command[1:])
        assert dry.returncode == 0, f"{shlex.join(command)}: {dry.stderr}"
        assert dry.stdout.strip(), f"{shlex.join(command)} plans no command"


def test_torch_index_takes_the_cpu_build_and_the_default_stays_the_local_one():
    cpu = "https://download.pytorch.org/whl/cpu"
    assert f"make setup TORCH_INDEX={cpu}" in README
    # -B: plan the install even where .venv is already set up.
    with_index = subprocess.run(["make", "-n", "-B", "setup", f"TORCH_INDEX={cpu}"], cwd=ROOT, capture_output=True)
    plain = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True)
    assert f'pip install -q --index-url {cpu} "torch==2.13.0"' in with_index.stdout.decode()
    torch_line = next(line for line in plain.stdout.splitlines() if '"torch==' in line)
    assert "--index-url" not in torch_line


def test_make_train_installs_only_what_training_needs_and_setup_adds_the_extras():
    # -B: plan every install as on a fresh clone.
    train = subprocess.run(["make", "-n", "-B", "train"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    setup = subprocess.run(["make", "-n", "-B", "setup"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    installs = [line for line in train.splitlines() if "pip install" in line]
    assert any(line.endswith("pip install -q -e .") for line in installs), train
    assert not any("[dev" in line for line in installs), "make train installs the test and serving extras"
    assert train.index("pip install -q -e .") < train.index("scripts/pretrained_mpnet.py") < train.index("train.py")
    assert 'pip install -q -e ".[dev,onnx,serve,search]"' in setup
    assert setup.index("pip install -q -e .\n") < setup.index('".[dev,onnx,serve,search]"')


def test_hub_models_are_documented_with_the_hub_switched_on():
    command = next(c for c in shell_commands() if "model=hub" in c)
    assert command.startswith("make train HF_HUB_OFFLINE=0 ")
    dry = make_dry_run(shlex.split(command)[1:])
    assert dry.returncode == 0 and "model=hub" in dry.stdout
    exported = subprocess.run(
        ["make", "-s", "-o", ".venv/.installed", "--eval=show:\n\t@echo $$HF_HUB_OFFLINE", "show", "HF_HUB_OFFLINE=0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert exported.stdout.strip() == "0"  # the command line wins over the Makefile's `export HF_HUB_OFFLINE ?= 1`


def test_the_commands_that_name_scripts_and_tools_name_real_ones():
    for command in shell_commands():
        words = shlex.split(command, comments=True)
        for word in words:
            if word.startswith("scripts/") and word.endswith(".py"):
                assert (ROOT / word).is_file(), command
        if words[0] == ".venv/bin/wandb":
            assert (Path(sys.executable).parent / "wandb").is_file(), command


def test_cli_help_lists_the_documented_verbs(capsys):
    from negotiation_stance.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    shown = capsys.readouterr().out
    assert all(verb in shown for verb in ("predict", "serve", "export-onnx"))


def test_the_documented_predict_commands_run(onnx_model, pair_run, tmp_path, monkeypatch, capsys):
    from negotiation_stance import cli

    # The README's working folder: models/latest, a pair model, and the input files its commands name.
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "latest").symlink_to(onnx_model)
    (tmp_path / "models" / "pair-model").symlink_to(pair_run["model_dir"])
    (tmp_path / "rows.jsonl").write_text('{"text": "We are ready to talk.", "pair": "talks with the rebels"}\n' * 3)
    (tmp_path / "sentences.txt").write_text("We are ready to talk.\nTheir offer is a trick.\n")
    (tmp_path / "big.jsonl").write_text('{"text": "Talks can start once the shelling stops."}\n' * 3)
    (tmp_path / "article.txt").write_text(
        'The minister said on Monday that "we are ready to talk at any time." '
        "Officials in the capital called the offer a ploy to buy time.\n"
    )
    monkeypatch.chdir(tmp_path)
    # One load per backend: the commands differ in their arguments and outputs, not in the model they load.
    loaded, load = {}, cli._load
    monkeypatch.setattr(
        cli,
        "_load",
        lambda args: (
            loaded.get((args.model, args.backend)) or loaded.setdefault((args.model, args.backend), load(args))
        ),
    )
    commands = [c for c in shell_commands() if c.startswith(".venv/bin/python -m negotiation_stance predict")]
    assert len(commands) >= 5
    for command in commands:
        (tmp_path / "out.jsonl").unlink(missing_ok=True)
        args = shlex.split(command, comments=True)[3:]
        assert cli.main(args) == 0, command
        printed = capsys.readouterr().out
        if "--output" in args:
            lines = (tmp_path / "out.jsonl").read_text().splitlines()
            assert len(lines) == (2 if "sentences.txt" in args else 3), command
            assert all(json.loads(line)["label"] in LABELS for line in lines), command
        else:
            assert any(label in printed for label in LABELS), command


def _config_table() -> dict[str, str]:
    rows = {}
    for line in section("Configuration").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[0].startswith("`"):
            for key in re.findall(r"`([^`]+)`", cells[0]):
                rows[key] = cells[1]
    return rows


def _lookup(cfg, key: str):
    value = cfg
    for part in key.split("."):
        assert part in value, f"the README's configuration table names {key}, the composed config has no such key"
        value = value[part]
    return value


def test_the_configuration_table_matches_the_composed_config(tmp_path):
    cfg = compose_config("train", [f"paths.output_dir={tmp_path}"])
    table = _config_table()
    # Defaults the table describes in words, checked against what they say.
    worded = {
        "model.name_or_path": lambda v: v == str(Path.cwd() / "models" / "pretrained" / "all-mpnet-base-v2"),
        "paths.root_dir": lambda v: v == str(Path.cwd()),
        "paths.project_dir": lambda v: Path(v) == ROOT,
        "paths.output_dir": lambda v: v == str(tmp_path),  # the Hydra run folder; the test sets it
        "wandb.group": lambda v: v == cfg.data.name,
        "evaluation.context_sources": lambda v: (
            [Path(v[k]).resolve() for k in ("real_dev", "seed")]
            == [(ROOT.parent / "shared" / f).resolve() for f in ("corpus/candidates.jsonl", "seed_article.txt")]
        ),
    }
    checked = 0
    for key, documented in table.items():
        composed = _lookup(cfg, key)
        if key in ("model", "data", "logger", "training"):
            composed = composed["name"]  # a group: the table names the chosen option
        if key in worded:
            assert worded[key](composed), f"README says {key} = {documented}, the config has {composed}"
        else:
            expected = yaml.safe_load(documented.strip("`"))
            if isinstance(expected, str) and isinstance(composed, float):
                expected = float(expected)  # YAML 1.1 reads 1e-4 as a string
            if isinstance(expected, list):
                composed = list(composed)
            if isinstance(expected, dict):
                composed = dict(composed)
            assert composed == expected, f"README says {key} = {documented}, the config has {composed}"
        checked += 1
    assert checked == len(table) >= 25
    groups = {key.split(".")[0] for key in table}
    assert {"data", "model", "training", "evaluation", "logger", "wandb", "paths", "seed"} <= groups
