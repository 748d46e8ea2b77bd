"""What happens when things go wrong: interrupted runs, bad output folders, odd inputs, reruns."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, compose_config, tiny_overrides
from negotiation_stance.training.resume import last_complete_checkpoint
from negotiation_stance.training.run import train


def _resume_overrides(tmp, *extra):
    # Three epochs of three steps, a checkpoint per epoch.
    return [
        *tiny_overrides(tmp, "logger=none"),
        "training.max_steps=-1",
        "training.epochs=3",
        "training.batch_size=4",
        "evaluation.real_sets=[]",  # resuming is about the fit; real-text scoring is tested elsewhere
        *extra,
    ]


def _test_predictions(run_dir):
    return [json.loads(line) for line in (run_dir / "predictions_test.jsonl").read_text().splitlines()]


def test_same_seed_same_run_and_other_seed_differs(tiny_run, tiny_run_seed7, tmp_path):
    again = train(compose_config("train", tiny_overrides(tmp_path / "a", "logger=none")))
    assert again["test"] == tiny_run["metrics"]["test"]
    assert _test_predictions(tmp_path / "a" / "run") == _test_predictions(tiny_run["run_dir"])
    assert _test_predictions(tiny_run_seed7["run_dir"]) != _test_predictions(tiny_run["run_dir"])


# The tail average's resume is checked with cached frozen layers (the default recipe's shape):
# one run covers both, as the cache is rebuilt the same way whatever else the recipe does.
TAIL_CACHED = ["training.average_last=0.8", "training.freeze_layers=3", "training.cache_frozen=true"]


@pytest.mark.parametrize("recipe", [[], TAIL_CACHED], ids=["best_checkpoint", "tail_average_cached_frozen_layers"])
def test_killed_run_resumes_to_the_same_result(tmp_path, caplog, recipe):
    """kill -9 after the first epoch's checkpoint, resume without repeating seed=7, and match an uninterrupted run.

    Issue #14.9: the resumed run used to record seed 42 and a train_loss over its last epochs only.
    With training.average_last=0.8 the average starts at step 3 of 9, so the killed run's first
    checkpoint already holds part of it, and the resumed run must carry it on. With
    training.cache_frozen the resumed run builds its cache again from the same frozen layers.
    """
    reference = train(compose_config("train", _resume_overrides(tmp_path / "ref", "seed=7", *recipe)))

    run_dir = tmp_path / "killed" / "run"
    overrides = _resume_overrides(tmp_path / "killed", "seed=7", *recipe)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"}
    proc = subprocess.Popen([sys.executable, str(ROOT / "scripts" / "train.py"), *overrides], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    deadline = time.time() + 300
    while time.time() < deadline and last_complete_checkpoint(run_dir / "checkpoints") is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run_dir / "metrics.json").exists(), "the run finished before it could be killed"
    assert last_complete_checkpoint(run_dir / "checkpoints") is not None

    # Only where things go and what to resume: seed, data, model and schedule come from the run folder.
    with caplog.at_level("WARNING"):
        resume = [*tiny_overrides(tmp_path / "killed", "logger=none"), f"training.resume={run_dir}"]
        resumed = train(compose_config("train", resume))
    assert resumed["seed"] == reference["seed"] == 7
    assert json.loads((run_dir / "metrics.json").read_text())["seed"] == 7
    assert resumed["train"]["global_step"] == reference["train"]["global_step"] == 9
    assert resumed["train"]["train_loss"] == pytest.approx(reference["train"]["train_loss"], rel=1e-6)
    assert resumed["train"].get("tail_average") == reference["train"].get("tail_average")
    if recipe:
        assert reference["train"]["tail_average"]["steps_averaged"] == 7
    assert "seed=42 (run: 7)" in caplog.text  # the ignored setting is named
    # Same seed, same data order and RNG state restored: the same model, to float tolerance.
    assert resumed["test"]["macro_f1"] == pytest.approx(reference["test"]["macro_f1"], abs=1e-6)
    ref_probs = [r["probabilities"] for r in _test_predictions(tmp_path / "ref" / "run")]
    new_probs = [r["probabilities"] for r in _test_predictions(run_dir)]
    for a, b in zip(ref_probs, new_probs, strict=True):
        assert a == pytest.approx(b, abs=1e-4)


def _outputs_in(folder):
    """Run folders, model folders and where models/latest points, under a checkout's logs/ and models/."""
    found = {str(p) for p in (folder / "logs").glob("*/*/*")} | {str(p) for p in (folder / "models").glob("*")}
    latest = folder / "models" / "latest"
    return found | ({os.readlink(latest)} if latest.is_symlink() else set())


def test_outputs_go_under_the_working_directory_not_the_checkout(tmp_path):
    """Issue #14.2: a run started elsewhere writes logs/ and models/latest there; data still comes from the checkout."""
    before = _outputs_in(ROOT)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])])
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "train.py"), "data=fixture", "model=minilm", "training=tiny",
         "logger=none", "evaluation.real_sets=[]"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    [run_dir] = (tmp_path / "logs" / "train" / "runs").iterdir()
    assert (run_dir / "metrics.json").is_file() and (run_dir / ".hydra" / "config.yaml").is_file()
    assert (tmp_path / "models" / "latest").resolve() == (run_dir / "model").resolve()
    assert _outputs_in(ROOT) == before, "the run wrote into the checkout's logs/ or models/"


def test_incomplete_checkpoint_is_skipped(tmp_path):
    good, bad = tmp_path / "checkpoint-3", tmp_path / "checkpoint-6"
    good.mkdir()
    bad.mkdir()
    (good / "trainer_state.json").write_text("{}")
    (bad / "trainer_state.json").write_text('{"global_st')  # killed while writing
    assert last_complete_checkpoint(tmp_path) == good


def test_resume_without_checkpoints_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoints does not exist"):
        train(compose_config("train", tiny_overrides(tmp_path, "logger=none", f"training.resume={tmp_path / 'nope'}")))


def test_a_finished_run_drops_its_checkpoints_unless_kept(tiny_run, tmp_path):
    """Resume states are 0.5 GB a MiniLM run and useless once the model is exported; resuming such a run says why."""
    assert (tiny_run["run_dir"] / "model" / "model.safetensors").is_file()
    assert not (tiny_run["run_dir"] / "checkpoints").exists()
    with pytest.raises(FileNotFoundError, match="that run finished"):
        train(
            compose_config("train", tiny_overrides(tmp_path, "logger=none", f"training.resume={tiny_run['run_dir']}"))
        )
    kept = train(compose_config("train", tiny_overrides(tmp_path / "kept", "logger=none", "training.max_steps=2",
                                                        "training.keep_checkpoints=true")))  # fmt: skip
    assert [p.name for p in (Path(kept["run_dir"]) / "checkpoints").iterdir()] == ["checkpoint-2"]


def test_resume_of_an_older_run_takes_its_hydra_config(tmp_path):
    """A run folder from before run_config.yaml: its .hydra/config.yaml wins, except this invocation's keys."""
    from negotiation_stance.training.resume import restore_run_config

    run_dir = tmp_path / "old"
    (run_dir / ".hydra").mkdir(parents=True)
    saved = {"seed": 3, "training": {"epochs": 2.0, "num_threads": 7}, "paths": {"log_dir": "/elsewhere"}}
    (run_dir / ".hydra" / "config.yaml").write_text(json.dumps(saved))
    (run_dir / ".hydra" / "overrides.yaml").write_text('["seed=3", "training.epochs=2"]')
    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", "training.num_threads=1"))
    restored, overrides = restore_run_config(cfg, run_dir, ["training.resume=old"])
    assert (restored.seed, restored.training.epochs, restored.training.num_threads) == (3, 2.0, 1)
    assert restored.paths.log_dir == str(tmp_path / "logs") and overrides == ["seed=3", "training.epochs=2"]
    assert cfg.seed == 42  # the given config is left as it was


def test_unreadable_saved_run_config_is_a_clear_error(tmp_path):
    run_dir = tmp_path / "old"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "run_config.yaml").write_text("config: [unclosed\n")
    with pytest.raises(ValueError, match=r"old/run_config\.yaml, line 2: cannot read the saved run config"):
        train(compose_config("train", tiny_overrides(tmp_path, "logger=none", f"training.resume={run_dir}")))


def test_unwritable_output_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cfg = compose_config("train", [*tiny_overrides(tmp_path, "logger=none"), f"paths.output_dir={blocker / 'run'}"])
    with pytest.raises(OSError, match="is not writable"):
        train(cfg)


def test_failed_export_leaves_no_model_folder(tiny_run, tmp_path, monkeypatch):
    from negotiation_stance.export.folder import export_model
    from negotiation_stance.modeling import load_exported

    tokenizer, model, _ = load_exported(tiny_run["run_dir"] / "model")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(type(model), "save_pretrained", disk_full)
    target = tmp_path / "model"
    with pytest.raises(OSError, match="No space left on device"):
        export_model(model, tokenizer, target, "card")
    assert not target.exists() and not (tmp_path / "model.partial").exists()


def test_safetensors_disk_full_during_export_leaves_nothing(tiny_run, tmp_path, monkeypatch):
    """safetensors reports ENOSPC as SafetensorError, not OSError; the staging folder must still go."""
    from safetensors import SafetensorError

    from negotiation_stance.export.folder import export_model
    from negotiation_stance.modeling import load_exported

    tokenizer, model, _ = load_exported(tiny_run["run_dir"] / "model")
    save = type(model).save_pretrained

    def half_written(self, folder, *args, **kwargs):
        save(self, folder, *args, **kwargs)  # config and weights land in model.partial, then the disk is full
        raise SafetensorError('Error while serializing: IoError(Os { code: 28, message: "No space left on device" })')

    monkeypatch.setattr(type(model), "save_pretrained", half_written)
    target = tmp_path / "model"
    with pytest.raises(OSError, match=r"model\.partial: Error while serializing.*No space left"):
        export_model(model, tokenizer, target, "card")
    assert not target.exists() and not (tmp_path / "model.partial").exists()


def test_odd_inference_inputs(tiny_run, caplog):
    from negotiation_stance import StanceClassifier

    clf = StanceClassifier.from_pretrained(tiny_run["models_dir"] / "latest", batch_size=256)
    with pytest.raises(ValueError, match="#0 is empty"):
        clf.predict("")
    with pytest.raises(ValueError, match="#1 is empty"):
        clf.predict(["ok", " \n\t"])
    with pytest.raises(TypeError, match="#0 is int"):
        clf.predict([42])
    assert clf.predict([]) == []
    long_text = " ".join(["negotiations"] * 10_000)
    with caplog.at_level("WARNING"):
        [pred] = clf.predict(long_text)
    assert "truncated" in caplog.text and pred.label in clf.labels
    foreign_texts = ["Переговоры возобновятся в понедельник.", "Las negociaciones se reanudarán el lunes."]
    foreign = clf.predict(foreign_texts)
    # Non-Latin text goes through the same batches: each scored as if alone, labelled by its top probability.
    for text, pred in zip(foreign_texts, foreign, strict=True):
        assert pred.probabilities == pytest.approx(clf.predict(text)[0].probabilities, abs=1e-5)
        assert pred.label == max(pred.probabilities, key=pred.probabilities.get)
    many = clf.predict(["Talks resume on Monday."] * 300)
    assert len(many) == 300 and len({p.label for p in many}) == 1


def test_unreachable_wandb_falls_back_to_offline(tmp_path, monkeypatch, caplog):
    from test_training import wandb_summary

    monkeypatch.setenv("WANDB_API_KEY", "0" * 40)  # a key, but no server can be reached here
    overrides = tiny_overrides(
        tmp_path,
        "logger=wandb",
        "wandb.mode=online",
        "wandb.init_timeout=2",
        "wandb.log_model=false",
        "evaluation.real_sets=[]",
    )
    with caplog.at_level("WARNING"):
        metrics = train(compose_config("train", overrides))
    assert "logging offline" in caplog.text
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["test"] == metrics["test"]
    assert wandb_summary(tmp_path / "run")["summary"]["test/macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])


def test_bad_precision_fails_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"training\.precision must be auto, fp32, fp16 or bf16"):
        train(compose_config("train", tiny_overrides(tmp_path, "logger=none", "training.precision=fp8")))
    assert not (tmp_path / "run" / "checkpoints").exists()


@pytest.mark.slow
def test_data_parallel_training_on_cpu(tmp_path):
    """torchrun with two gloo processes: one export, and the same model as one process with the same global batch."""
    single = train(compose_config("train", [*tiny_overrides(tmp_path / "one", "logger=none"), "training.batch_size=8"]))
    run_dir = tmp_path / "ddp" / "run"
    cmd = [
        str(ROOT / ".venv" / "bin" / "torchrun") if (ROOT / ".venv" / "bin" / "torchrun").exists() else "torchrun",
        "--standalone", "--nproc_per_node=2", str(ROOT / "scripts" / "train.py"), f"hydra.run.dir={run_dir}",
        *tiny_overrides(tmp_path / "ddp", "logger=none"), f"paths.output_dir={run_dir}",
        "training.batch_size=4", "training.num_threads=1",
    ]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.count("Exported model:") == 1  # rank 0 only
    assert "rank 1 of 2" in out.stderr + (run_dir / "train.log").read_text()
    ddp = json.loads((run_dir / "metrics.json").read_text())
    assert ddp["train"]["global_step"] == single["train"]["global_step"]
    # Same seed, same global batch of 8: validation loss agrees to 0.05 (data order and reductions differ).
    val_loss = [h["eval_loss"] for h in ddp["train"]["log_history"] if "eval_loss" in h][-1]
    single_loss = [h["eval_loss"] for h in single["train"]["log_history"] if "eval_loss" in h][-1]
    assert val_loss == pytest.approx(single_loss, abs=0.05)


def test_training_rows_past_max_length_are_counted_in_a_warning(caplog):
    """Issue #14.7: training truncates like inference does, and now says so, with counts."""
    from datasets import Dataset
    from transformers import AutoTokenizer

    from negotiation_stance.training.fit import tokenize

    tokenizer = AutoTokenizer.from_pretrained(compose_config("train", ["model=minilm"]).model.name_or_path)
    texts = ["Talks resume on Monday.", " ".join(["negotiations"] * 40), " ".join(["ceasefire"] * 30)]
    ds = Dataset.from_list([{"text": t, "label": 0} for t in texts])
    with caplog.at_level("WARNING"):
        encoded = tokenize(ds, tokenizer, 16)
    assert max(len(ids) for ids in encoded["input_ids"]) == 16
    assert (
        "2 of 3 train rows exceed training.max_length=16 tokens and are truncated (the longest has 42)" in caplog.text
    )
    caplog.clear()
    with caplog.at_level("WARNING"):
        tokenize(ds, tokenizer, 64, "validation")
    assert "truncated" not in caplog.text
