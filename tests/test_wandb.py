"""W&B runs you can compare in: per-sentence tables keyed by id, the corpus as a dataset artifact each run
uses, the model logged once, ``models/best`` on a sweep's best job, and a sync command that finds every run."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT

LABELS = ["pro_negotiation", "skeptical", "conditional"]


def wandb_records(run_dir: Path) -> list[dict]:
    """Every record of the offline run in ``run_dir``, read back from its .wandb transaction log."""
    files = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert len(files) == 1, files
    wandb_cli = Path(sys.executable).with_name("wandb")
    out = subprocess.run(
        [str(wandb_cli), "leet", "inspect", "--json", str(files[0])], check=True, capture_output=True, text=True
    )
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def artifacts(records: list[dict], kind: str) -> list[dict]:
    return [r["artifact"] for r in records if r.get("type") == "artifact" and r["artifact"]["type"] == kind]


def md5_b64(path: Path) -> str:
    return base64.b64encode(hashlib.md5(path.read_bytes()).digest()).decode()


def test_run_uses_the_corpus_artifact_and_logs_its_model_once(tiny_run):
    records = wandb_records(tiny_run["run_dir"])
    (dataset,) = artifacts(records, "dataset")
    assert dataset["name"] == "fixture-corpus" and dataset["use_after_commit"] is True
    (entry,) = dataset["manifest"]["contents"]
    assert entry["path"] == "statements_tiny.jsonl" and entry["digest"] == md5_b64(FIXTURES / "statements_tiny.jsonl")
    # One model artifact: the exported folder, not also transformers' own copy of the weights.
    (model,) = artifacts(records, "model")
    assert model["name"] == "stance-fixture-minilm" and model["aliases"] == ["latest"]
    exported = {
        p.relative_to(tiny_run["run_dir"] / "model").as_posix() for p in (tiny_run["run_dir"] / "model").rglob("*")
    }
    assert {e["path"] for e in model["manifest"]["contents"]} == {p for p in exported if "." in Path(p).name}


class LoggedOffline:
    """An offline run that keeps what ``use_dataset`` logs."""

    offline = True

    def _log_artifact(self, artifact, **kwargs):
        self.artifact = artifact


def test_the_corpus_artifact_holds_the_data_extra_corpora(tmp_path, monkeypatch):
    """Corpus + user labels is another dataset version than the corpus alone: each extra file is in it."""
    from conftest import compose_config, tiny_overrides
    from negotiation_stance.tracking import use_dataset

    monkeypatch.setenv("WANDB_DATA_DIR", str(tmp_path / "staging"))
    labels = tmp_path / "data" / "user" / "mine" / "v2" / "labels.jsonl"
    labels.parent.mkdir(parents=True)
    labels.write_text(json.dumps({"id": "1", "text": "We will talk.", "label": "pro_negotiation"}) + "\n")
    entries = {}
    for extra in ("[]", f"[{labels}]"):
        run = LoggedOffline()
        use_dataset(run, compose_config("train", tiny_overrides(tmp_path, "logger=none", f"data.extra={extra}")).data)
        entries[extra] = {path: entry.digest for path, entry in run.artifact.manifest.entries.items()}
        assert run.artifact.name == "fixture-corpus"
    alone, with_labels = entries.values()
    assert alone == {"statements_tiny.jsonl": md5_b64(FIXTURES / "statements_tiny.jsonl")}
    assert with_labels == alone | {"extra-mine-v2.jsonl": md5_b64(labels)}


def test_every_scored_set_has_a_predictions_table_keyed_by_sentence_id(tiny_run):
    run_dir = tiny_run["run_dir"]
    (offline,) = (run_dir / "wandb").glob("offline-run-*")
    for name in ("validation", "test"):
        (table_file,) = (offline / "files" / "media" / "table" / name).glob("predictions_*.table.json")
        table = json.loads(table_file.read_text())
        assert table["columns"] == ["id", "text", "gold", "predicted", "confidence", *[f"p_{x}" for x in LABELS]]
        rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
        written = [json.loads(line) for line in (run_dir / f"predictions_{name}.jsonl").read_text().splitlines()]
        assert [r["id"] for r in rows] == [w["id"] for w in written] and len({r["id"] for r in rows}) == len(rows)
        for row, line in zip(rows, written, strict=True):
            assert (row["gold"], row["predicted"]) == (line["gold"], line["predicted"])
            assert row["p_skeptical"] == pytest.approx(line["probabilities"]["skeptical"], abs=1e-6)
            assert row["confidence"] == pytest.approx(max(line["probabilities"].values()), abs=1e-6)


def _fake_job(sweep: Path, job: int, validation: float | None, test: float, labels=LABELS, data="fixture") -> Path:
    from negotiation_stance.evaluation.record import RunRecord

    folder = sweep / str(job)
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "config.json").write_text("{}")
    splits = {"test": {"macro_f1": test}} | ({"validation": {"macro_f1": validation}} if validation is not None else {})
    RunRecord("train", list(labels), {"name": data}, splits, model_dir=str(folder / "model")).write(folder)
    return folder


def test_models_best_is_the_best_validation_job_not_the_last_or_the_best_test(tmp_path):
    from negotiation_stance.training.selection import best_job, select_best, sweep_results

    sweep, models = tmp_path / "multiruns" / "2026-12-06_10-00-00-000000", tmp_path / "models"
    for job, validation, test in [(0, 0.50, 0.99), (1, 0.80, 0.10), (2, 0.80, 0.20), (10, 0.70, 0.30)]:
        _fake_job(sweep, job, validation, test)
    (sweep / "3").mkdir()  # a job that failed: no metrics.json
    assert [r.job for r in sweep_results(sweep)] == [0, 1, 2, 10]  # numeric order: 10 after 2
    best = select_best(sweep, models)
    assert best is not None and best.job == 1  # the tie with job 2 goes to the earlier job
    assert (models / "best").resolve() == (sweep / "1" / "model").resolve()
    noted = json.loads((sweep / "best.json").read_text())
    assert noted["job"] == 1 and noted["chosen_on"] == "validation macro_f1" and noted["jobs"]["10"] == 0.7
    assert best_job([]) is None and select_best(tmp_path / "empty", models) is None


def test_best_job_is_chosen_only_among_jobs_on_the_same_task(tmp_path, caplog):
    """Another label set or data is another task; a record without validation scores must not fail the sweep."""
    from negotiation_stance.training.selection import select_best

    sweep, models = tmp_path / "sweep", tmp_path / "models"
    for job, validation, labels, data in [
        (0, 0.50, LABELS, "fixture"),
        (1, 0.95, [*LABELS, "none"], "fixture"),  # four labels: a higher score on another task
        (2, 0.90, LABELS, "other"),
        (3, 0.60, LABELS, "fixture"),
        (4, None, LABELS, "fixture"),  # wrote metrics.json but no validation scores
    ]:
        _fake_job(sweep, job, validation, 0.5, labels, data)
    (sweep / "5").mkdir()
    (sweep / "5" / "metrics.json").write_text('{"kind": "train"}')  # not a run record
    with caplog.at_level("WARNING", logger="negotiation_stance.training.selection"):
        best = select_best(sweep, models)
    assert best is not None and best.job == 3
    assert (models / "best").resolve() == (sweep / "3" / "model").resolve()
    noted = json.loads((sweep / "best.json").read_text())
    assert noted["jobs"] == {"0": 0.5, "3": 0.6} and noted["not_compared"] == [1, 2]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any(w.startswith("Jobs [1, 2] have other labels or data than job 0") for w in warnings), warnings
    assert any(w.startswith("Job 4 left out") and "no validation scores" in w for w in warnings), warnings
    assert any(w.startswith("Job 5 left out") and "not a run record" in w for w in warnings), warnings


def sync_command() -> str:
    """The offline-run finder of the README's `wandb sync` line."""
    readme = (ROOT / "README.md").read_text()
    (line,) = [line for line in readme.splitlines() if line.startswith(".venv/bin/wandb sync")]
    (command,) = re.findall(r"\$\((find .*?)\)", line)
    return command


def find_offline_runs(root: Path, start: Path) -> list[str]:
    """Run the README's finder in ``root``, starting at ``start`` instead of ``logs``."""
    command = sync_command().replace("find logs ", f"find {start} ", 1)
    return subprocess.run(command, shell=True, cwd=root, capture_output=True, text=True, check=True).stdout.split()


def test_readme_sync_command_finds_offline_runs_at_any_depth(tiny_run):
    assert sync_command().startswith("find logs ")
    root = tiny_run["run_dir"].parent
    assert find_offline_runs(root, Path(".")) == [f"./{p.relative_to(root)}" for p in root.glob("run/wandb/offline-*")]


@pytest.mark.slow
def test_sweep_and_baselines_with_wandb_best_alias_and_sync_command(tmp_path):
    """A real 2-job multirun and the baselines, W&B offline, laid out as `make sweep` and `make baselines` do."""
    from test_entry_points import run_script

    common = ["data=fixture", "logger=wandb", "evaluation.real_sets=[]", f"paths.root_dir={tmp_path}"]
    run_script("scripts/train.py", "-m", "seed=1,2", "model=minilm", "training=tiny", *common)
    run_script("scripts/baselines.py", *common)
    (sweep,) = (tmp_path / "logs" / "train" / "multiruns").iterdir()
    noted = json.loads((sweep / "best.json").read_text())
    records = [json.loads((sweep / job / "metrics.json").read_text()) for job in ("0", "1")]
    best = max(range(2), key=lambda i: records[i]["validation"]["macro_f1"])
    assert noted["job"] == best and (tmp_path / "models" / "best").resolve() == Path(records[best]["model_dir"])
    digests = [artifacts(wandb_records(sweep / job), "model") for job in ("0", "1")]
    assert all(len(d) == 1 and d[0]["aliases"] == ["latest"] for d in digests)
    (marked,) = artifacts(wandb_records(sweep), "model")
    # wandb adds "latest" to every log_artifact; the same digest makes both aliases land on the job's version.
    assert sorted(marked["aliases"]) == ["best", "latest"] and marked["digest"] == digests[best][0]["digest"]
    assert marked["name"] == digests[best][0]["name"]
    found = {(tmp_path / p).resolve() for p in find_offline_runs(tmp_path, Path("logs"))}
    expected = {p.resolve() for p in (tmp_path / "logs").rglob("offline-run-*") if p.is_dir()}
    assert found == expected and len(found) == 5  # two jobs, the best-of-sweep run, two baselines
