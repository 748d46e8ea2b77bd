"""Precision and device choice. The GPU check runs only where CUDA is present (`make test-gpu`)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import compose_config, tiny_overrides
from negotiation_stance.training.fit import precision_flags

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def test_precision_auto_follows_the_hardware(monkeypatch, caplog):
    from negotiation_stance.training import fit

    flags = precision_flags("auto")
    if not torch.cuda.is_available():
        # bf16 autocast only where the CPU multiplies bf16 in hardware (AMX, AVX512-BF16).
        assert flags == {"bf16": fit.cpu_has_native_bf16(), "fp16": False}
        monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: False)
        with caplog.at_level("INFO", logger=fit.__name__):
            assert precision_flags("auto") == {"bf16": False, "fp16": False}
        assert "this CPU has neither AMX nor AVX512-BF16, so training runs in fp32" in caplog.text
        caplog.clear()
        monkeypatch.setattr(fit, "cpu_has_native_bf16", lambda: True)
        assert precision_flags("auto") == {"bf16": True, "fp16": False}
        assert "fp32" not in caplog.text
    elif torch.cuda.is_bf16_supported():
        assert flags == {"bf16": True, "fp16": False}
    else:
        assert flags == {"bf16": False, "fp16": True}
    assert precision_flags("fp16") == {"bf16": False, "fp16": True}
    assert precision_flags("fp32") == {"bf16": False, "fp16": False}
    with pytest.raises(ValueError, match=r"training\.precision must be"):
        precision_flags("int8")


@gpu
def test_training_runs_on_the_gpu_and_exports_a_model_that_loads_on_gpu_and_cpu(tmp_path):
    from negotiation_stance import StanceClassifier
    from negotiation_stance.training.run import train

    torch.cuda.reset_peak_memory_stats()
    metrics = train(compose_config("train", tiny_overrides(tmp_path, "logger=none", "training.precision=auto")))
    assert torch.cuda.max_memory_allocated() > 0, "training did not touch the GPU"
    # The tiny config's 4 steps ran, and every validation sentence was scored.
    assert metrics["train"]["global_step"] == 4
    assert metrics["validation"]["n"] == metrics["data"]["counts"]["validation"]
    folder = tmp_path / "run" / "model"
    texts = ["The minister said talks could resume next week.", "Rebels called the offer a trick."]
    on_gpu = StanceClassifier.from_pretrained(folder, device="cuda").logits_fn(texts)
    on_cpu = StanceClassifier.from_pretrained(folder).logits_fn(texts)
    np.testing.assert_allclose(on_gpu, on_cpu, atol=1e-2)  # the export is fp32 and device-free
