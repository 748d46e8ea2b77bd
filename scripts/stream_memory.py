"""Peak memory of ``predict --input ... --output ...`` as the input grows: streaming keeps it flat.

  python scripts/make_stream_input.py --sentences 100000 --output /tmp/stream_100k.jsonl   # (and 1k, 10k)
  python scripts/stream_memory.py --model DIR /tmp/stream_1k.jsonl /tmp/stream_10k.jsonl /tmp/stream_100k.jsonl

Each file is labelled by its own ``python -m negotiation_stance predict``
process; its peak resident memory is that child's own ``ru_maxrss``, read
with ``os.wait4``, so one run's peak cannot leak into the next. The last
column compares each peak with the first file's.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def peak_rss(command: list[str]) -> tuple[float, float]:
    """(peak resident MB, seconds) of one child process; it must succeed."""
    start = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    stderr = child.stderr.read() if child.stderr else ""
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, so Popen must not wait again
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {child.returncode}:\n{stderr[-2000:]}")
    return usage.ru_maxrss / 1024, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help=".jsonl files, smallest first")
    parser.add_argument("--model", required=True)
    parser.add_argument("--backend", choices=["torch", "onnx"], default="onnx")
    args = parser.parse_args()
    print(f"model {args.model}, backend {args.backend}")
    print(
        "{:<40} {:>10} {:>9} {:>12} {:>13} {:>9}".format(
            "input", "sentences", "seconds", "sentences/s", "peak RSS MB", "x first"
        )
    )
    first = None
    with tempfile.TemporaryDirectory() as tmp:
        for path in args.inputs:
            with path.open("rb") as handle:
                count = sum(1 for line in handle if line.strip())
            output = str(Path(tmp) / "out.jsonl")
            command = [sys.executable, "-m", "negotiation_stance", "predict", "--model", args.model,
                       "--backend", args.backend, "--input", str(path), "--output", output]  # fmt: skip
            peak, seconds = peak_rss(command)
            first = first or peak
            rate = count / seconds
            print(
                f"{path!s:<40} {count:>10} {seconds:>9.1f} {rate:>12.1f} {peak:>13.0f} {peak / first:>8.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
