"""What the benchmark measures beyond batch throughput: single-sentence latency, a live server
under concurrent clients, and how close a backend comes to the machine's compute limit.

The compute limit is estimated, not assumed: the encoder's multiply-adds per sentence
(from its config and the measured mean token count) against the GEMM rate this machine
reaches at the same thread count, measured in the same run with the shapes the encoder uses.
"""

from __future__ import annotations

import json
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any


def peak_rss_mb() -> float:
    """This process's own high-water mark (VmHWM); ru_maxrss would carry the parent's over exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds (nearest-rank p99, so 100 samples name their second-worst)."""
    ordered = sorted(seconds)
    rank = max(0, min(len(ordered) - 1, round(0.99 * len(ordered)) - 1))
    return {"p50_ms": 1000 * statistics.median(ordered), "p99_ms": 1000 * ordered[rank], "n": len(ordered)}


def single_sentence_latency(predict: Callable[[list[str]], Any], texts: Sequence[str], n: int = 200) -> dict:
    """One sentence per call, as a server request sees it; the first 5 calls warm up and are not counted."""
    for text in texts[:5]:
        predict([text])
    times = []
    for i in range(n):
        start = time.perf_counter()
        predict([texts[i % len(texts)]])
        times.append(time.perf_counter() - start)
    return percentiles_ms(times)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def post_json(url: str, payload: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def start_server(model: str | Path, backend: str, start_timeout: float = 120.0) -> tuple[Any, str]:
    """A real ``negotiation-stance serve`` on a free 127.0.0.1 port, answering before this returns."""
    port = free_port()
    cmd = [sys.executable, "-m", "negotiation_stance", "serve", "--model", str(model), "--backend", backend,
           "--port", str(port)]  # fmt: skip
    # A file, not a pipe: nobody reads the server's warnings while it is under load, and a full pipe blocks it.
    stderr_file = tempfile.TemporaryFile()  # noqa: SIM115  (lives as long as the server; closed with the process)
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=stderr_file)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + start_timeout
    while time.monotonic() < deadline:
        try:
            post_json(f"{url}/predict", {"texts": ["warm-up"]}, timeout=5)
            return server, url
        except OSError:
            if server.poll() is not None:
                stderr_file.seek(0)
                raise RuntimeError(f"serve exited: {stderr_file.read().decode()[-1500:]}") from None
            time.sleep(0.5)
    server.kill()
    raise RuntimeError(f"serve did not answer within {start_timeout:.0f} s")


def server_throughput(url: str, texts: Sequence[str], clients: int = 8, requests: int = 400) -> dict[str, float]:
    """``clients`` threads each send one-sentence requests back to back; sentences/s and request latency."""
    latencies: list[float] = []
    failures: list[BaseException] = []
    lock = threading.Lock()
    counter = iter(range(requests))

    def client() -> None:
        try:
            for i in counter:  # a shared iterator: the clients draw requests until none are left
                start = time.perf_counter()
                post_json(f"{url}/predict", {"texts": [texts[i % len(texts)]]})
                with lock:
                    latencies.append(time.perf_counter() - start)
        except Exception as exc:  # a failed client would otherwise vanish and flatter the figures
            failures.append(exc)

    workers = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise RuntimeError(f"{len(failures)} of {clients} clients failed; the first: {failures[0]!r}")
    return {"clients": clients, "per_second": len(latencies) / elapsed, **percentiles_ms(latencies)}


def encoder_macs_per_sentence(config: Any, tokens: float) -> float:
    """Multiply-adds of one forward pass: projections, feed-forward and attention, per layer."""
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_layer = 4 * tokens * hidden * hidden + 2 * tokens * hidden * inner + 2 * tokens * tokens * hidden
    return layers * per_layer


def measured_gemm_rates(hidden: int, inner: int, rows: int, threads: int, seconds: float = 1.0) -> dict[str, float]:
    """Multiply-adds per second of fp32 (torch) and int8 (ONNX Runtime MatMulInteger) at the encoder's shapes."""
    import numpy as np
    import torch

    torch.set_num_threads(threads)
    a, b = torch.randn(rows, hidden), torch.randn(hidden, inner)
    rates = {"fp32": _rate(lambda: a @ b, rows * hidden * inner, seconds)}
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except ImportError:
        return rates
    node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
    graph = helper.make_graph(
        [node],
        "gemm",
        [helper.make_tensor_value_info("A", TensorProto.UINT8, [rows, hidden])],
        [helper.make_tensor_value_info("Y", TensorProto.INT32, [rows, inner])],
        initializer=[onnx.numpy_helper.from_array(np.random.randint(-127, 127, (hidden, inner), dtype=np.int8), "B")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    feed = {"A": np.random.randint(0, 255, (rows, hidden), dtype=np.uint8)}
    rates["int8"] = _rate(lambda: session.run(None, feed), rows * hidden * inner, seconds)
    return rates


def _rate(call: Callable[[], Any], macs: float, seconds: float) -> float:
    call()
    count, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        call()
        count += 1
    return count * macs / elapsed


def compute_limit(
    model_dir: str | Path, texts: Sequence[str], threads: int, batch_size: int, seconds: float = 1.0
) -> dict[str, Any]:
    """Sentences/s the machine could reach if every multiply-add ran at the measured GEMM rate."""
    from transformers import AutoConfig, AutoTokenizer

    config = AutoConfig.from_pretrained(model_dir)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokens = statistics.fmean(len(ids) for ids in tokenizer(list(texts), truncation=True)["input_ids"])
    macs = encoder_macs_per_sentence(config, tokens)
    rows = max(1, round(tokens * batch_size))
    rates = measured_gemm_rates(config.hidden_size, config.intermediate_size, rows, threads, seconds)
    return {
        "mean_tokens": tokens,
        "gmacs_per_sentence": macs / 1e9,
        "gemm_gmacs_per_second": {k: v / 1e9 for k, v in rates.items()},
        "limit_per_second": {k: v / macs for k, v in rates.items()},
    }
