"""Entry points run as a user runs them: the scripts behind the Makefile targets, end to end.

Each of these once broke with no test noticing (issue #13): `make evaluate`
imported a function from the wrong module, `make benchmark` failed on the
`onnx-fp32` backend, and every experiment's tags were overwritten by the root.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from omegaconf import OmegaConf

from conftest import CONFIG_DIR, FIXTURES, ROOT, compose_config

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_SILENT": "true", "TOKENIZERS_PARALLELISM": "false"}


def run_script(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    out = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=timeout, check=False
    )
    assert out.returncode == 0, f"{args[0]} exited {out.returncode}:\n{out.stdout[-1500:]}\n{out.stderr[-3000:]}"
    return out


def test_evaluate_script_scores_an_exported_model(tiny_run, tmp_path):
    run_dir = tmp_path / "eval"
    run_script(
        "scripts/evaluate.py",
        f"model_dir={tiny_run['run_dir'] / 'model'}",
        "data=fixture",
        f"hydra.run.dir={run_dir}",
        f"paths.log_dir={tmp_path / 'logs'}",
        "evaluation.real_sets=[]",
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rows = [json.loads(line) for line in (FIXTURES / "statements_tiny.jsonl").read_text().splitlines()]
    for split in ("validation", "test"):
        expected = sum(r["split"] == split and r["label"] != "none" for r in rows)
        assert metrics[split]["n"] == expected and 0.0 <= metrics[split]["macro_f1"] <= 1.0
    assert "| test |" in (run_dir / "report.md").read_text()


def test_benchmark_runs_every_onnx_backend(onnx_model, tmp_path):
    out = tmp_path / "bench.json"
    result = run_script(
        "scripts/benchmark_inference.py",
        f"--model={onnx_model}",
        "--sentences=20",
        "--repeats=1",
        "--backends=torch,onnx-fp32",  # the int8 backends: in-process below and in test_inference
        "--steps=none",  # the export steps and batch sizes: test_benchmark_measures_every_export_step (slow)
        "--batch-sizes=none",
        "--agreement-sentences=20",
        "--latency-samples=10",
        "--server-backends=",  # the server under load: test_benchmark_loads_a_live_server (no second server start)
        "--gemm-seconds=0.2",
        "--no-unbucketed-rows",  # bucketing vs input order: test_streaming's bucketing tests
        f"--json={out}",
    )
    report = json.loads(out.read_text())
    assert set(report["speed"]) == {"torch", "onnx-fp32"}
    for name, figures in report["speed"].items():
        assert figures["fraction_of_limit"] > 0
        if name.endswith("unbucketed"):
            assert figures["latency"] is None  # a speed comparison only: no latency calls
            continue
        assert figures["latency"]["n"] == 10 and 0 < figures["latency"]["p50_ms"] <= figures["latency"]["p99_ms"]
    assert report["server"] == {}
    assert report["compute_limit"]["gmacs_per_sentence"] > 0
    assert set(report["compute_limit"]["limit_per_second"]) == {"fp32", "int8"}
    assert set(report["agreement"]["corpus test split"]) >= {"onnx-fp32", "onnx-int8", "onnx-int8+recheck"}
    assert all(r["per_second"] > 0 for r in report["speed"].values())
    assert report["agreement"]["corpus test split"]["onnx-fp32"] == 1.0
    assert "onnx-fp32" in result.stdout
    assert 0 <= report["speed"]["torch"]["padding_waste"] < 0.5


@pytest.mark.slow
def test_benchmark_measures_every_export_step(onnx_model, tmp_path):
    """Every row of the export-step table is built, run and printed, and the batch-size table too."""
    out = tmp_path / "bench.json"
    result = run_script(
        "scripts/benchmark_inference.py", f"--model={onnx_model}", "--sentences=20", "--repeats=1",
        "--backends=onnx-fp32", "--batch-sizes=8,16", "--agreement-sentences=5", f"--json={out}", timeout=900,
    )  # fmt: skip
    report = json.loads(out.read_text())
    steps = [line.split("  ")[0] for line in result.stdout.split("2. Export steps")[1].splitlines()[2:14]]
    assert set(report["steps"]) == set(steps) == {
        "fp32 previous", "fp32 eager", "fp32 every fusion", "fp32 fused", "int8 previous", "int8 eager",
        "int8 every fusion", "int8 fused", "int8 3 fp32 FFN", "int8 per-tensor", "int8 full-range", "int8 static",
    }  # fmt: skip
    assert all(r["per_second"] > 0 for r in report["steps"].values())
    assert set(report["batch_sizes"]) == {"torch", "onnx-int8+recheck"}


def test_training_benchmark_measures_each_variant(tmp_path):
    """`make benchmark-train`: a real (tiny) training in its own process per variant (one here, for time)."""
    out = tmp_path / "train_bench.json"
    result = run_script(
        "scripts/benchmark_training.py",
        "--variants=cache_frozen",
        "--steps=2",
        "--overrides=data=fixture model=minilm training=default training.max_length=32 training.batch_size=4 "
        "training.freeze_layers=3 evaluation.real_sets=[]",
        f"--json={out}",
    )
    report = json.loads(out.read_text())
    assert set(report) == {"cache_frozen"}
    for runs in report.values():
        assert runs[0]["global_step"] == 2 and runs[0]["samples_per_second"] > 0 and runs[0]["peak_mb"] > 100
        assert runs[0]["cache_seconds"] > 0  # the frozen layers' one pass, timed apart from the steps
    assert "x plain" in result.stdout and "cache_frozen" in result.stdout and "cache s" in result.stdout
    assert "Tokenising the 12 training sentences" in result.stdout  # the fixture's stance rows of train
    bad = subprocess.run(
        [sys.executable, "scripts/benchmark_training.py", "--variants=fast"], cwd=ROOT, capture_output=True, text=True
    )
    assert bad.returncode != 0 and "unknown ['fast']" in bad.stderr


@pytest.mark.parametrize("path", sorted((CONFIG_DIR / "experiment").glob("*.yaml")), ids=lambda p: p.stem)
def test_experiment_keys_survive_composition(path: Path):
    """An experiment overrides the root config, tags included (`_self_` comes first in train.yaml)."""
    own = yaml.safe_load(path.read_text()) or {}
    cfg = compose_config("train", [f"experiment={path.stem}"])
    for key, value in own.items():
        if key in ("defaults", "hydra"):
            continue
        composed = cfg[key]
        if isinstance(value, dict):
            unresolved = OmegaConf.to_container(composed, resolve=False)  # "${paths.data_dir}/..." as written
            for sub, sub_value in value.items():
                assert unresolved[sub] == sub_value, f"{path.name}: {key}.{sub}"
        else:
            assert list(composed) == value if isinstance(value, list) else composed == value, f"{path.name}: {key}"
    for choice in own.get("defaults", []):
        if isinstance(choice, dict):
            ((group, option),) = choice.items()
            group = group.removeprefix("override /")
            assert cfg[group]["name"] == option, f"{path.name}: {group}={option}"


def test_fixture_file_is_what_the_tiny_config_reads():
    cfg = compose_config("train", ["data=fixture"])
    assert Path(cfg.data.train_path).resolve() == (FIXTURES / "statements_tiny.jsonl").resolve()


def test_predict_reads_an_input_file_and_writes_jsonl(tiny_run, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("We are ready to talk at any time.\nTheir offer is a trick to buy time.\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    model = str(tiny_run["models_dir"] / "latest")
    run_script("-m", "negotiation_stance", "predict", "--model", model, "--input", str(source), "--output", str(out))
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in rows] == source.read_text().splitlines()
    assert all(r["label"] in tiny_run["metrics"]["labels"] for r in rows)


def _post(url: str, payload: dict, timeout: float = 30) -> dict:
    import urllib.request

    body = json.dumps(payload).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def live_server(tiny_run):
    """`negotiation-stance serve` on a free 127.0.0.1 port; stopped by its PID after the module."""
    import socket
    import time

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    model = str(tiny_run["models_dir"] / "latest")
    cmd = [sys.executable, "-m", "negotiation_stance", "serve", "--model", model, "--port", str(port),
           "--max-body-bytes", "100000", "--max-text-chars", "5000"]  # fmt: skip
    server = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):  # bounded: at most a minute for the model to load
            try:
                _post(f"{url}/predict", {"texts": ["warm-up"]}, timeout=5)
                break
            except OSError:
                assert server.poll() is None, server.stderr.read().decode()[-2000:]
                time.sleep(0.5)
        else:
            pytest.fail("the server did not answer within a minute")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_benchmark_loads_a_live_server(live_server):
    """The benchmark's server section: concurrent clients against a real `serve`, every request answered."""
    from negotiation_stance.inference.benchmarking import server_throughput

    figures = server_throughput(live_server, ["We will talk.", "Never with them."], clients=3, requests=12)
    assert figures["clients"] == 3 and figures["n"] == 12 and figures["per_second"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"]


def test_serve_answers_on_localhost(live_server, tiny_run):
    answer = _post(f"{live_server}/predict", {"texts": ["We are ready to talk."]})
    assert answer["predictions"][0]["label"] in tiny_run["metrics"]["labels"]


def test_serve_limits_on_localhost(live_server):
    """Issue #14.8 on the real server: 413 for a large body however it is sent, 422 for long texts and surrogates."""
    import http.client
    import urllib.error
    import urllib.request
    from urllib.parse import urlsplit

    def status(body: bytes) -> tuple[int, dict]:
        headers = {"Content-Type": "application/json"}
        request = urllib.request.Request(f"{live_server}/predict", data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    big = json.dumps({"texts": ["Talks resume on Monday."] * 5000}).encode()  # 130 kB, over --max-body-bytes 100000
    code, answer = status(big)
    assert code == 413 and "over 100000 bytes" in answer["detail"]
    host, port = urlsplit(live_server).hostname, urlsplit(live_server).port
    chunked = http.client.HTTPConnection(host, port, timeout=30)
    chunked.request("POST", "/predict", body=iter([big[i : i + 8192] for i in range(0, len(big), 8192)]),
                    headers={"Content-Type": "application/json"}, encode_chunked=True)  # fmt: skip
    assert chunked.getresponse().status == 413
    waiting = http.client.HTTPConnection(host, port, timeout=30)  # curl's way: headers first, body after 100 Continue
    waiting.putrequest("POST", "/predict")
    waiting.putheader("Content-Length", "5000000")
    waiting.putheader("Expect", "100-continue")
    waiting.endheaders()
    assert waiting.getresponse().status == 413
    code, answer = status(json.dumps({"texts": ["ok", "talks " * 1000]}).encode())
    assert code == 422 and answer["detail"][0]["loc"] == ["body", "texts", 1] and "limit is 5000" in str(answer)
    code, answer = status(b'{"texts": ["bad \\ud800"]}')
    assert code == 422 and "lone surrogate" in str(answer)
    assert status(json.dumps({"texts": ["We are ready to talk."]}).encode())[0] == 200


def test_server_under_concurrent_load_answers_like_single_requests(live_server):
    """Issue #14.1: 200 concurrent requests, half with texts past max_length, each equal to its lone answer."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    short = [f"Delegation {i} said it was ready to resume talks next week." for i in range(10)]
    long = [
        " ".join(f"Round {i}: we will negotiate only after the shelling stops." for _ in range(40)) for i in range(10)
    ]
    texts = [short[i % 10] if i % 2 else long[i % 10] for i in range(200)]
    alone = {t: _post(f"{live_server}/predict", {"texts": [t]})["predictions"][0] for t in set(texts)}
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda t: _post(f"{live_server}/predict", {"texts": [t]}), texts))
    assert time.perf_counter() - start < 60
    for text, answer in zip(texts, answers, strict=True):
        got, want = answer["predictions"][0], alone[text]
        assert got["label"] == want["label"]
        assert got["probabilities"] == pytest.approx(want["probabilities"], abs=1e-5)


def test_sweep_runs_one_job_per_seed(tmp_path):
    sweep = tmp_path / "sweep"
    run_script(
        "scripts/train.py", "-m", "experiment=sweep_seeds", "seed=1,2", "data=fixture", "model=minilm",
        "training=tiny", "logger=none", "evaluation.real_sets=[]", f"hydra.sweep.dir={sweep}",
        f"paths.log_dir={tmp_path / 'logs'}", f"paths.models_dir={tmp_path / 'models'}",
    )  # fmt: skip
    records = [json.loads((sweep / job / "metrics.json").read_text()) for job in ("0", "1")]
    assert [r["seed"] for r in records] == [1, 2]
    assert all(r["tags"] == ["sweep", "seeds"] for r in records)
    # models/best: the job with the best validation macro-F1 (the earlier on a tie), whatever ran last.
    best = max(records, key=lambda r: r["validation"]["macro_f1"])
    assert (tmp_path / "models" / "best").resolve() == Path(best["model_dir"]).resolve()


def test_make_help_lists_every_target_and_lint_and_clean_run():
    makefile = (ROOT / "Makefile").read_text()
    targets = re.findall(r"^([a-zA-Z_-]+):.*## ", makefile, flags=re.M)
    shown = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    listed = [line.split()[0] for line in re.sub(r"\x1b\[[0-9;]*m", "", shown).splitlines() if line.strip()]
    assert listed == targets and len(targets) >= 20
    # -o: take the installed environment as it is instead of re-running `make setup`.
    lint = subprocess.run(["make", "-s", "-o", ".venv/.installed", "lint"], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout[-2000:] + lint.stderr[-2000:]


def test_make_clean_removes_run_outputs_only(tmp_path):
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    for folder in ("logs/train", "outputs", "multirun", "pkg/__pycache__", "data/raw"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "data" / "raw" / "articles.jsonl").write_text("{}\n")
    subprocess.run(["make", "-s", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Makefile", "data", "pkg"]
    assert (tmp_path / "data" / "raw" / "articles.jsonl").is_file() and not (tmp_path / "pkg" / "__pycache__").exists()


def test_predict_names_a_non_utf8_input_file_in_one_line(tiny_run, tmp_path):
    source = tmp_path / "latin.txt"
    source.write_bytes(b"We are ready to talk.\nCaf\xe9 talks failed.\n")
    model = str(tiny_run["models_dir"] / "latest")
    out = subprocess.run(
        [sys.executable, "-m", "negotiation_stance", "predict", "--model", model, "--input", str(source)],
        cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode != 0 and "Traceback" not in out.stderr
    assert (
        out.stderr.strip().splitlines()[-1]
        == f"error: {source}, line 2: is not valid UTF-8 (invalid continuation byte); save the file as UTF-8"
    )


def _bad_jsonl(tmp_path: Path) -> Path:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"text": "We are ready to talk.", "label": "pro_negotiation"}\n{"text": "No.", "label": ["skeptical"]}\n'
    )
    return bad


def _jsonl_overrides(tmp_path: Path, data: Path) -> list[str]:
    return [
        "data=jsonl", f"data.train_path={data}", f"data.validation_path={data}", f"data.test_path={data}",
        "data.labels=[pro_negotiation,skeptical]", "model=minilm", "training=default",
        "logger=none", f"paths.log_dir={tmp_path / 'logs'}",
        f"paths.models_dir={tmp_path / 'models'}",
    ]  # fmt: skip


def _run_failing(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env or ENV, capture_output=True, text=True, timeout=300, check=False
    )


def _message_lines(stderr: str) -> list[str]:
    """stderr without log records (Hydra's `[time][logger][LEVEL] - ...` lines)."""
    return [line for line in stderr.splitlines() if line.strip() and not re.match(r"\[\d{4}-\d\d-\d\d ", line)]


@pytest.mark.parametrize(
    ("script", "case", "needle"),
    [
        ("train.py", "bad_file", "bad.jsonl, line 2, field 'label': must be a string"),
        ("train.py", "epochs_0", "invalid settings: training.epochs must be > 0"),
        ("train.py", "no_paths", "no value for data.labels, data.test_path, data.train_path, data.validation_path"),
        ("evaluate.py", "no_model", "model folder '/nonexistent/model' does not exist"),
    ],
)
def test_user_errors_of_hydra_scripts_are_one_line_and_exit_2(tmp_path, script, case, needle):
    """Issue #14.6: a bad file, setting or model folder is one `error:` line on stderr, not a Hydra traceback."""
    overrides = {
        "bad_file": _jsonl_overrides(tmp_path, _bad_jsonl(tmp_path)),
        "epochs_0": ["data=fixture", "training.epochs=0", "logger=none", f"paths.log_dir={tmp_path}"],
        "no_paths": ["data=jsonl", "logger=none", f"paths.log_dir={tmp_path}"],
        "no_model": ["model_dir=/nonexistent/model", "data=fixture", f"paths.log_dir={tmp_path}"],
    }[case]
    out = _run_failing(f"scripts/{script}", *overrides)
    lines = _message_lines(out.stderr)
    assert out.returncode == 2, out.stderr[-3000:]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], out.stderr[-3000:]


def test_hydra_full_error_keeps_the_traceback_and_a_sweep_stops_at_the_failing_job(tmp_path):
    bad = _bad_jsonl(tmp_path)
    out = _run_failing("scripts/train.py", *_jsonl_overrides(tmp_path, bad), env={**ENV, "HYDRA_FULL_ERROR": "1"})
    assert out.returncode != 0 and "Traceback" in out.stderr and "DataError" in out.stderr
    sweep = tmp_path / "sweep"
    out = _run_failing(
        "scripts/train.py", "-m", *_jsonl_overrides(tmp_path, bad), "seed=1,2", f"hydra.sweep.dir={sweep}"
    )
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert _message_lines(out.stderr) == [
        f"error: sweep job 0 ({sweep / '0'}): {bad}, line 2, field 'label': "
        "must be a string, one of ['pro_negotiation', 'skeptical']; got a JSON array"
    ]
    assert (sweep / "0").is_dir() and not (sweep / "1").exists()
    assert "got a JSON array" in (sweep / "0" / "train.log").read_text()  # the failed job's folder says why
