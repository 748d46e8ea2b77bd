"""Inference speed and agreement: ``transformers.pipeline`` (baseline) vs StanceClassifier on
PyTorch, ONNX fp32 and ONNX int8, on the same sentences and model, in one run.

  python scripts/benchmark_inference.py --model models/latest [--sentences 1000] [--threads 2]

Each backend runs in its own process so its peak memory is its own, and is
timed ``--repeats`` times on the same sentences; the best time is reported,
as ``timeit`` advises, because other load on a shared machine only ever adds time.
"onnx-int8" is the quantised model alone; "onnx-int8+recheck" is what
``backend="onnx"`` runs by default: int8, with near ties recomputed in fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from negotiation_stance.config import INFERENCE_BATCH_SIZE, find_checkout
from negotiation_stance.export.onnx import onnx_settings
from negotiation_stance.inference.benchmarking import (
    compute_limit,
    server_throughput,
    single_sentence_latency,
    start_server,
)

# The checkout's corpus and ../shared beside it are read; nothing is written there.
CHECKOUT = find_checkout(__file__)
BACKENDS = ["pipeline", "torch", "onnx-fp32", "onnx-int8", "onnx-int8+recheck"]


def load_sentences(n: int) -> tuple[list[str], str]:
    """Real statements from ../shared/corpus when present (speed only), else the project's corpus."""
    shared = CHECKOUT.parent / "shared" / "corpus" / "candidates.jsonl"
    source = shared if shared.is_file() else CHECKOUT / "data" / "processed" / "statements.jsonl"
    texts = [json.loads(line)["text"] for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(texts) < n:
        texts = (texts * (n // len(texts) + 1))[:n]
    return texts[:n], str(source)


def _peak_rss_mb() -> float:
    # VmHWM is this process's own high-water mark; ru_maxrss would carry the parent's over exec.
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _onnx_kwargs(backend: str) -> dict:
    """StanceClassifier arguments of an ONNX backend name; only int8 takes a re-check margin."""
    if not backend.startswith("onnx-int8"):
        return {"backend": "onnx", "quantized": False}
    return {"backend": "onnx", "quantized": True, "recheck_margin": None if backend.endswith("+recheck") else 0.0}


def worker(
    backend: str, model: str, texts: list[str], threads: int, batch_size: int, repeats: int, latency_samples: int
) -> dict:
    import torch

    torch.set_num_threads(threads)
    if backend == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model, device="cpu")
        run = lambda items: [p["label"] for p in pipe(items)]  # noqa: E731  (the user's default call)
    else:
        from negotiation_stance import StanceClassifier

        kwargs = _onnx_kwargs(backend) if backend.startswith("onnx") else {"backend": "torch"}
        clf = StanceClassifier.from_pretrained(model, batch_size=batch_size, threads=threads, **kwargs)
        run = lambda items: [p.label for p in clf.predict(items)]  # noqa: E731
    run(texts[:32])  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        labels = run(texts)
        times.append(time.perf_counter() - start)
    recheck = getattr(clf, "logits_fn", None) if backend != "pipeline" else None
    # Read before the latency calls, so the share describes the throughput run only.
    recheck_fraction = recheck.rechecked / recheck.seen if hasattr(recheck, "rechecked") else None
    latency = single_sentence_latency(run, texts, latency_samples) if latency_samples else None
    return {
        "latency": latency,
        "backend": backend,
        "seconds": min(times),
        "seconds_all": times,
        "per_second": len(texts) / min(times),
        "peak_mb": _peak_rss_mb(),
        "recheck_fraction": recheck_fraction,
        "labels": labels,
    }


def agreement_sets(model: str, threads: int, limit: int | None = None) -> dict[str, dict[str, float]]:
    """Label agreement of ONNX with PyTorch on the corpus test split and real_dev (when present)."""
    from negotiation_stance import StanceClassifier

    sets = {}
    test = CHECKOUT / "data" / "processed" / "statements.jsonl"
    rows = [json.loads(line) for line in test.read_text(encoding="utf-8").splitlines()]
    sets["corpus test split"] = [r["text"] for r in rows if r["split"] == "test"]
    real_dev = CHECKOUT.parent / "shared" / "eval" / "real_dev.jsonl"
    if real_dev.is_file():
        sets["real_dev"] = [json.loads(line)["text"] for line in real_dev.read_text(encoding="utf-8").splitlines()]
    sets = {name: texts[:limit] for name, texts in sets.items()}
    reference = StanceClassifier.from_pretrained(model, threads=threads)
    out = {}
    for name, texts in sets.items():
        ref = [p.label for p in reference.predict(texts)]
        out[name] = {"n": len(texts)}
        for key in BACKENDS[2:]:
            clf = StanceClassifier.from_pretrained(model, threads=threads, **_onnx_kwargs(key))
            got = [p.label for p in clf.predict(texts)]
            out[name][key] = sum(a == b for a, b in zip(ref, got, strict=True)) / len(ref)
            out[name][key + "_differ"] = sum(a != b for a, b in zip(ref, got, strict=True))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(Path.cwd() / "models" / "latest"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--agreement-sentences", type=int, help="score only the first N of each agreement set")
    parser.add_argument("--latency-samples", type=int, default=200, help="single-sentence calls per backend (0: skip)")
    parser.add_argument("--server-backends", default="torch,onnx", help="`serve --backend` values to load (''=skip)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the server")
    parser.add_argument("--server-requests", type=int, default=400, help="one-sentence requests per server")
    args = parser.parse_args()
    texts, source = load_sentences(args.sentences)
    if args.worker:
        figures = worker(
            args.worker, args.model, texts, args.threads, args.batch_size, args.repeats, args.latency_samples
        )
        print(json.dumps(figures))
        return

    model_dir = Path(args.model)
    if not (model_dir / "model.int8.onnx").is_file():
        raise SystemExit(f"{model_dir} has no ONNX files: run `make export-onnx MODEL={model_dir}` first")
    results = {}
    for backend in args.backends.split(","):
        cmd = [sys.executable, __file__, "--worker", backend, "--model", args.model, "--sentences", str(args.sentences),
               "--threads", str(args.threads), "--batch-size", str(args.batch_size),
               "--repeats", str(args.repeats), "--latency-samples", str(args.latency_samples)]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
        if out.returncode != 0:
            raise SystemExit(f"{backend} failed:\n{out.stderr[-2000:]}")
        results[backend] = json.loads(out.stdout.strip().splitlines()[-1])
    base = results.get("pipeline")
    ref = results.get("torch")
    settings = onnx_settings(model_dir)
    print(
        f"\n{len(texts)} sentences from {source}; model {args.model}; {args.threads} threads; "
        f"batch {args.batch_size}; best of {args.repeats}"
    )
    print(f"int8 re-check margin {settings['recheck_margin']:.3f} (fitted on {settings.get('calibration', {})})")
    header = ("backend", "sentences/s", "x pipeline", "peak MB", "agree w/ torch", "rechecked")
    print("{:<18} {:>12} {:>11} {:>9} {:>15} {:>10}".format(*header))
    for name, r in results.items():
        ratio = f"{r['per_second'] / base['per_second']:.2f}x" if base else "–"
        agree = sum(a == b for a, b in zip(r["labels"], ref["labels"], strict=True)) / len(texts) if ref else None
        agree_text = f"{100 * agree:.1f}%" if agree is not None else "–"
        share = f"{100 * r['recheck_fraction']:.1f}%" if r.get("recheck_fraction") is not None else "–"
        print(f"{name:<18} {r['per_second']:>12.1f} {ratio:>11} {r['peak_mb']:>9.0f} {agree_text:>15} {share:>10}")
    agreement = agreement_sets(args.model, args.threads, args.agreement_sentences)
    print("\nONNX label agreement with PyTorch:")
    for name, a in agreement.items():
        parts = [f"{key} {100 * a[key]:.2f}% ({a[key + '_differ']} differ)" for key in BACKENDS[2:]]
        print(f"  {name:<18} n={a['n']:<5} " + "   ".join(parts))
    latency = {name: r["latency"] for name, r in results.items() if r.get("latency")}
    if latency:
        print("\nSingle-sentence latency (one sentence per call, as a server request):")
        for name, lat in latency.items():
            print(f"  {name:<18} p50 {lat['p50_ms']:7.1f} ms   p99 {lat['p99_ms']:7.1f} ms   (n={lat['n']})")
    servers = {}
    for backend in filter(None, args.server_backends.split(",")):
        server, url = start_server(args.model, backend)
        try:
            servers[backend] = server_throughput(url, texts, args.clients, args.server_requests)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if servers:
        print(f"\n`serve` on 127.0.0.1, {args.clients} concurrent clients, one sentence a request:")
        for backend, r in servers.items():
            print(
                f"  --backend {backend:<8} {r['per_second']:7.1f} sentences/s   "
                f"p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms"
            )
    limit = compute_limit(args.model, texts, args.threads, args.batch_size)
    print(
        f"\nCompute limit: {limit['gmacs_per_sentence']:.3f} GMAC a sentence ({limit['mean_tokens']:.1f} tokens); "
        "GEMM measured at the encoder's shapes: "
        + ", ".join(f"{k} {v:.0f} GMAC/s" for k, v in limit["gemm_gmacs_per_second"].items())
    )
    for name, r in results.items():
        kind = "int8" if "int8" in name and "int8" in limit["limit_per_second"] else "fp32"
        bound = limit["limit_per_second"][kind]
        r["fraction_of_limit"] = r["per_second"] / bound
        print(
            f"  {name:<18} {r['per_second']:7.1f} of {bound:6.0f} sentences/s ({kind} limit): "
            f"{100 * r['fraction_of_limit']:5.1f}%"
        )
    if args.json:
        summary = {k: {kk: vv for kk, vv in v.items() if kk != "labels"} for k, v in results.items()}
        report = {"speed": summary, "agreement": agreement, "server": servers, "compute_limit": limit, "source": source}
        report["settings"] = {"sentences": len(texts), "threads": args.threads, "batch_size": args.batch_size}
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
