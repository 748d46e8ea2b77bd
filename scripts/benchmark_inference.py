"""Inference speed and agreement: ``transformers.pipeline`` (baseline) vs StanceClassifier on
PyTorch, ONNX fp32 and ONNX int8, on the same sentences and model, in one run.

  python scripts/benchmark_inference.py --model models/latest [--sentences 1000] [--threads 2]

Four tables, all measured in this run so that their ratios hold on any machine:

1. the backends as shipped, each also without length bucketing (batches in input order);
2. each export step on its own (``--steps``): the previous export (SDPA attention,
   unfused, three fp32 feed-forward blocks), eager attention, graph fusion (every
   fusion, then the default set), and the int8 choices (fp32 blocks, per-tensor,
   full-range and static quantisation), int8 rows without the re-check;
3. sentences/s per batch size (``--batch-sizes``), bucketed, for torch and the default ONNX path;
4. label agreement with PyTorch on the corpus test split and ``real_dev`` (when present).

Each measurement runs in its own process so its peak memory is its own, and is
timed ``--repeats`` times on the same sentences; the best time is reported,
as ``timeit`` advises, because other load on a shared machine only ever adds time.
"onnx-int8" is the quantised model alone; "onnx-int8+recheck" is what
``backend="onnx"`` runs by default: int8, with near ties recomputed in fp32.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from negotiation_stance.config import INFERENCE_BATCH_SIZE, find_checkout
from negotiation_stance.export.onnx import ONNX_CONFIG, ONNX_FP32, ONNX_INT8, onnx_settings
from negotiation_stance.inference.benchmarking import (
    compute_limit,
    peak_rss_mb,
    server_throughput,
    single_sentence_latency,
    start_server,
)

# The checkout's corpus and ../shared beside it are read; nothing is written there.
CHECKOUT = find_checkout(__file__)

BACKENDS = ["pipeline", "torch", "onnx-fp32", "onnx-int8", "onnx-int8+recheck"]
UNBUCKETED = ["torch", "onnx-int8+recheck"]
# (name, the row it is compared with, what it is, fp32 graph, int8 settings or None for an fp32 row)
STEPS = [
    ("fp32 previous", None, "SDPA attention, unfused (the export before fusion)", "sdpa", None),
    ("fp32 eager", "fp32 previous", "eager attention, no optimizer", "eager", None),
    ("fp32 every fusion", "fp32 eager", "optimizer, Attention and SkipLayerNorm fused too", "all", None),
    ("fp32 fused", "fp32 eager", "optimizer, default fusions (= onnx-fp32)", "default", None),
    ("int8 previous", "fp32 previous", "SDPA graph, 3 fp32 FFN blocks, per-channel reduce-range", "sdpa",
     {"fp32_ffn_layers": 3}),
    ("int8 eager", "int8 previous", "eager graph, no optimizer, no fp32 FFN blocks", "eager", {}),
    ("int8 every fusion", "int8 eager", "QAttention and SkipLayerNorm fused too", "all", {}),
    ("int8 fused", "int8 eager", "fused graph, per-channel reduce-range (= onnx-int8)", "default", {}),
    ("int8 3 fp32 FFN", "int8 fused", "fused graph, first 3 FFN blocks kept fp32", "default", {"fp32_ffn_layers": 3}),
    ("int8 per-tensor", "int8 fused", "fused graph, one weight scale per matrix", "default", {"per_channel": False}),
    ("int8 full-range", "int8 fused", "fused graph, 8-bit weights", "default", {"reduce_range": False}),
    # The quantizer cannot place static int8 around the fused BiasGelu: the eager graph it is.
    ("int8 static", "int8 eager", "eager graph, activation ranges fixed on 512 training sentences", "eager",
     {"static": True}),
]  # fmt: skip
CORPUS = CHECKOUT / "data" / "processed" / "statements.jsonl"


def load_sentences(n: int) -> tuple[list[str], str]:
    """Real statements from ../shared/corpus when present (speed only), else the project's corpus."""
    shared = CHECKOUT.parent / "shared" / "corpus" / "candidates.jsonl"
    source = shared if shared.is_file() else CORPUS
    texts = [json.loads(line)["text"] for line in source.read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(texts) < n:
        texts = (texts * (n // len(texts) + 1))[:n]
    return texts[:n], str(source)


def _onnx_kwargs(backend: str) -> dict:
    """StanceClassifier arguments of an ONNX backend name; only int8 takes a re-check margin."""
    if not backend.startswith("onnx-int8"):
        return {"backend": "onnx", "quantized": False}
    return {"backend": "onnx", "quantized": True, "recheck_margin": None if backend.endswith("+recheck") else 0.0}


def worker(backend: str, model: str, texts: list[str], args: argparse.Namespace) -> dict:
    import torch

    from negotiation_stance.modeling.model import length_sorted_batches, padding_waste

    torch.set_num_threads(args.threads)
    waste = None
    if backend == "pipeline":
        from transformers import pipeline

        pipe = pipeline("text-classification", model=model, device="cpu")
        run = lambda items: [p["label"] for p in pipe(items)]  # noqa: E731  (the user's default call)
    else:
        from negotiation_stance import StanceClassifier

        kwargs = _onnx_kwargs(backend) if backend.startswith("onnx") else {"backend": "torch"}
        clf = StanceClassifier.from_pretrained(
            model, batch_size=args.batch_size, threads=args.threads, bucket=not args.unbucketed, **kwargs
        )
        run = lambda items: [p.label for p in clf.predict(items)]  # noqa: E731
        lengths = [len(ids) for ids in clf.tokenizer(texts, truncation=True, max_length=clf.max_length)["input_ids"]]
        waste = padding_waste(lengths, length_sorted_batches(lengths, args.batch_size, bucket=not args.unbucketed))
    run(texts[:32])  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        labels = run(texts)
        times.append(time.perf_counter() - start)
    recheck = getattr(clf, "logits_fn", None) if backend != "pipeline" else None
    # Read before the latency calls, so the share describes the throughput run only.
    recheck_fraction = recheck.rechecked / recheck.seen if hasattr(recheck, "rechecked") else None
    latency = single_sentence_latency(run, texts, args.latency_samples) if args.latency_samples else None
    return {
        "backend": backend,
        "latency": latency,
        "seconds": min(times),
        "seconds_all": times,
        "per_second": len(texts) / min(times),
        "peak_mb": peak_rss_mb(),
        "recheck_fraction": recheck_fraction,
        "padding_waste": waste,
        "labels": labels,
    }


def measure(backend: str, model: str | Path, args: argparse.Namespace, *, unbucketed: bool = False, **over) -> dict:
    """``worker`` in a fresh process (its own peak memory), with ``over`` replacing arguments."""
    settings = {"sentences": args.sentences, "threads": args.threads, "batch_size": args.batch_size,
                "repeats": args.repeats, "latency_samples": args.latency_samples, **over}  # fmt: skip
    cmd = [sys.executable, __file__, "--worker", backend, "--model", str(model)]
    cmd += [f"--{key.replace('_', '-')}={value}" for key, value in settings.items()]
    cmd += ["--unbucketed"] if unbucketed else []
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    if out.returncode != 0:
        raise SystemExit(f"{backend} on {model} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def build_steps(model_dir: Path, workdir: Path, names: list[str]) -> dict[str, Path]:
    """A model folder per export step (tokenizer and config linked), each with the one ONNX file it measures."""
    from negotiation_stance.export import onnx as export
    from negotiation_stance.export.onnx import calibration_sentences
    from negotiation_stance.modeling.model import load_exported

    tokenizer, model, _ = load_exported(model_dir)
    graphs: dict[str, Path] = {}

    def graph(kind: str) -> Path:
        if kind not in graphs:
            plain = workdir / f"{'sdpa' if kind == 'sdpa' else 'eager'}.onnx"
            if not plain.is_file():
                export.export_graph(model, tokenizer, plain, eager_attention=kind != "sdpa")
            graphs[kind] = plain
            if kind in ("all", "default"):
                graphs[kind] = workdir / f"fused-{kind}.onnx"
                fusions = {"attention": True, "skip_layer_norm": True} if kind == "all" else None
                export.fuse_graph(plain, graphs[kind], model.config, fusions=fusions)
        return graphs[kind]

    folders = {}
    for index, (name, _, _, kind, int8) in enumerate(STEPS):
        if name not in names or ((int8 or {}).get("static") and not CORPUS.is_file()):
            continue
        folder = workdir / f"step{index}"
        folder.mkdir()
        for item in model_dir.iterdir():
            if item.is_file() and not item.name.endswith(".onnx") and item.name != ONNX_CONFIG:
                (folder / item.name).symlink_to(item.resolve())
        (folder / ONNX_CONFIG).write_text(json.dumps({"recheck_margin": 0.0}))
        if int8 is None:
            (folder / ONNX_FP32).symlink_to(graph(kind))
        elif int8.get("static"):
            texts = calibration_sentences(CORPUS)[::10][:512]  # training and validation rows only
            export.quantize_static_int8(graph(kind), folder / ONNX_INT8, tokenizer, texts)
        else:
            export.quantize_int8(graph(kind), folder / ONNX_INT8, **int8)
        folders[name] = folder
    return folders


def agreement_sets(model: str, threads: int, limit: int | None = None) -> dict[str, dict[str, float]]:
    """Label agreement of ONNX with PyTorch on the corpus test split and real_dev (when present)."""
    from negotiation_stance import StanceClassifier

    sets = {}
    rows = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
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


def _row(name: str, r: dict, base: dict | None, ref: dict | None, note: str = "") -> str:
    ratio = f"{r['per_second'] / base['per_second']:.2f}x" if base else "-"
    agree = sum(a == b for a, b in zip(r["labels"], ref["labels"], strict=True)) / len(r["labels"]) if ref else None
    agree_text = f"{100 * agree:.1f}%" if agree is not None else "-"
    share = f"{100 * r['recheck_fraction']:.1f}%" if r.get("recheck_fraction") is not None else "-"
    waste = f"{100 * r['padding_waste']:.1f}%" if r.get("padding_waste") is not None else "-"
    return (
        f"{name:<28} {r['per_second']:>11.1f} {ratio:>10} {r['peak_mb']:>8.0f} {agree_text:>14} {share:>9} "
        f"{waste:>8}  {note}"
    )


HEADER = "{:<28} {:>11} {:>10} {:>8} {:>14} {:>9} {:>8}".format(
    "", "sentences/s", "x pipeline", "peak MB", "agree w/ torch", "rechecked", "padding"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=str(Path.cwd() / "models" / "latest"))
    parser.add_argument("--sentences", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=INFERENCE_BATCH_SIZE)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--steps", default="all", help="'all', 'none' or a comma-separated list of STEPS names")
    parser.add_argument("--batch-sizes", default="8,16,32,64", help="'none' skips the batch-size table")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--unbucketed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--no-unbucketed-rows", action="store_true", help="skip the input-order rows that show what bucketing gives"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--agreement-sentences", type=int, help="score only the first N of each agreement set")
    parser.add_argument("--latency-samples", type=int, default=200, help="single-sentence calls per backend (0: skip)")
    parser.add_argument("--server-backends", default="torch,onnx", help="`serve --backend` values to load (''=skip)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients of the server")
    parser.add_argument("--server-requests", type=int, default=400, help="one-sentence requests per server")
    parser.add_argument("--gemm-seconds", type=float, default=1.0, help="time spent measuring each GEMM rate")
    args = parser.parse_args()
    texts, source = load_sentences(args.sentences)
    if args.worker:
        print(json.dumps(worker(args.worker, args.model, texts, args)))
        return

    model_dir = Path(args.model)
    if not (model_dir / ONNX_INT8).is_file():
        raise SystemExit(f"{model_dir} has no ONNX files: run `make export-onnx MODEL={model_dir}` first")
    settings = onnx_settings(model_dir)
    print(
        f"{len(texts)} sentences from {source}; model {args.model}; {args.threads} threads; "
        f"batch {args.batch_size}; best of {args.repeats}",
        flush=True,
    )
    print(f"int8 re-check margin {settings['recheck_margin']:.3f} (fitted on {settings.get('calibration', {})})")
    print(f"graph: {settings.get('graph', 'not recorded (an export before graph fusion)')}")

    results: dict[str, dict] = {}
    for backend in args.backends.split(","):
        results[backend] = measure(backend, model_dir, args)
        if backend in UNBUCKETED and not args.no_unbucketed_rows:
            results[f"{backend} unbucketed"] = measure(backend, model_dir, args, unbucketed=True, latency_samples=0)
    base, ref = results.get("pipeline"), results.get("torch")
    print("\n1. Backends as shipped (unbucketed: batches in input order; padding: tokens added per real token)")
    print(HEADER)
    for name, r in results.items():
        bucketed = results.get(name.removesuffix(" unbucketed"))
        note = f"bucketing gives {bucketed['per_second'] / r['per_second']:.2f}x" if name.endswith("unbucketed") else ""
        print(_row(name, r, base, ref, note))

    names = [s[0] for s in STEPS] if args.steps == "all" else [] if args.steps == "none" else args.steps.split(",")
    steps: dict[str, dict] = {}
    if names:
        print("\n2. Export steps, one at a time (int8 rows without the re-check)")
        print(HEADER)
        with tempfile.TemporaryDirectory() as tmp:
            folders = build_steps(model_dir, Path(tmp), names)
            for name, against, what, _, int8 in STEPS:
                if name not in folders:
                    continue
                backend = "onnx-fp32" if int8 is None else "onnx-int8"
                steps[name] = measure(backend, folders[name], args, latency_samples=0)
                gain = (
                    f"{steps[name]['per_second'] / steps[against]['per_second']:.2f}x {against}; "
                    if against in steps
                    else ""
                )
                print(_row(name, steps[name], base, ref, gain + what), flush=True)

    sizes: dict[str, dict[int, float]] = {}
    if args.batch_sizes != "none":
        print("\n3. Sentences/s by batch size (bucketed)")
        batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
        print("{:<20} ".format("backend") + " ".join(f"{b:>8}" for b in batch_sizes))
        for backend in ("torch", "onnx-int8+recheck"):
            sizes[backend] = {
                b: measure(backend, model_dir, args, batch_size=b, latency_samples=0)["per_second"] for b in batch_sizes
            }
            print(f"{backend:<20} " + " ".join(f"{sizes[backend][b]:>8.1f}" for b in batch_sizes), flush=True)

    agreement = agreement_sets(args.model, args.threads, args.agreement_sentences)
    print("\n4. ONNX label agreement with PyTorch:")
    for name, a in agreement.items():
        parts = [f"{key} {100 * a[key]:.2f}% ({a[key + '_differ']} differ)" for key in BACKENDS[2:]]
        print(f"  {name:<18} n={a['n']:<5} " + "   ".join(parts))
    latency = {name: r["latency"] for name, r in results.items() if r.get("latency")}
    if latency:
        print("\n5. Single-sentence latency (one sentence per call, as a server request sees it):")
        for name, lat in latency.items():
            print(f"  {name:<18} p50 {lat['p50_ms']:7.1f} ms   p99 {lat['p99_ms']:7.1f} ms   (n={lat['n']})")
    servers = serve_under_load(args, texts)
    limit = print_compute_limit(args, texts, results)
    if args.json:
        strip = lambda table: {k: {kk: vv for kk, vv in v.items() if kk != "labels"} for k, v in table.items()}  # noqa: E731
        report = {"speed": strip(results), "steps": strip(steps), "batch_sizes": sizes, "agreement": agreement}
        report |= {"server": servers, "compute_limit": limit}
        report["settings"] = {"sentences": len(texts), "threads": args.threads, "batch_size": args.batch_size}
        args.json.write_text(json.dumps({**report, "source": source}, indent=2))


def serve_under_load(args: argparse.Namespace, texts: list[str]) -> dict[str, dict]:
    """A live `serve` per backend on 127.0.0.1, ``--clients`` threads sending one-sentence requests."""
    servers = {}
    for backend in filter(None, args.server_backends.split(",")):
        server, url = start_server(args.model, backend)
        try:
            servers[backend] = server_throughput(url, texts, args.clients, args.server_requests)
        finally:
            server.terminate()
            server.wait(timeout=30)
    if servers:
        print(f"\n6. `serve` on 127.0.0.1, {args.clients} concurrent clients, one sentence a request:")
        for backend, r in servers.items():
            print(
                f"  --backend {backend:<8} {r['per_second']:7.1f} sentences/s   "
                f"p50 {r['p50_ms']:7.1f} ms   p99 {r['p99_ms']:7.1f} ms"
            )
    return servers


def print_compute_limit(args: argparse.Namespace, texts: list[str], results: dict[str, dict]) -> dict:
    """The machine's estimated limit (measured GEMM rate / multiply-adds a sentence) and each backend's share."""
    limit = compute_limit(args.model, texts, args.threads, args.batch_size, args.gemm_seconds)
    rates = ", ".join(f"{k} {v:.0f} GMAC/s" for k, v in limit["gemm_gmacs_per_second"].items())
    print(
        f"\n7. Compute limit: {limit['gmacs_per_sentence']:.3f} GMAC a sentence ({limit['mean_tokens']:.1f} tokens); "
        f"GEMM measured here at the encoder's shapes: {rates}"
    )
    for name, r in results.items():
        kind = "int8" if "int8" in name and "int8" in limit["limit_per_second"] else "fp32"
        bound = limit["limit_per_second"][kind]
        r["fraction_of_limit"] = r["per_second"] / bound
        print(
            f"  {name:<28} {r['per_second']:7.1f} of {bound:6.0f} sentences/s ({kind}): "
            f"{100 * r['fraction_of_limit']:5.1f}%"
        )
    return limit


if __name__ == "__main__":
    main()
