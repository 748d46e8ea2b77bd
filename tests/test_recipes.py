"""The recipe variants: balanced class weights, label smoothing, layer-wise LR decay, frozen lower layers,
tail weight averaging."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from negotiation_stance.training.recipes import (
    TailAverage,
    balanced_class_weights,
    cross_entropy_loss,
    freeze_lower_layers,
    layerwise_param_groups,
    parameter_depth,
)


def test_balanced_weights_make_every_label_weigh_the_same_in_total():
    labels = [0] * 6 + [1] * 3 + [2] * 1
    weights = balanced_class_weights(labels, 3)
    totals = [weights[i].item() * labels.count(i) for i in range(3)]
    assert totals == pytest.approx([10 / 3] * 3)
    with pytest.raises(ValueError, match=r"label ids \[2\] have no training rows"):
        balanced_class_weights([0, 1, 1], 3)


def test_loss_is_weighted_smoothed_cross_entropy_over_the_accumulated_batch():
    logits = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-1.0, 3.0, 0.0]])
    labels = torch.tensor([0, 2, 1])
    weights = torch.tensor([0.5, 1.0, 2.0])
    loss = cross_entropy_loss(weights, 0.1)({"logits": logits}, labels, num_items_in_batch=6)
    per_row = F.cross_entropy(logits, labels, weight=weights, label_smoothing=0.1, reduction="none")
    assert loss.item() == pytest.approx(per_row.sum().item() / 6)
    plain = cross_entropy_loss(None, 0.0)({"logits": logits}, labels)
    assert plain.item() == pytest.approx(F.cross_entropy(logits, labels).item())


@pytest.mark.parametrize(
    ("name", "depth"),
    [
        ("bert.embeddings.word_embeddings.weight", 0),
        ("bert.encoder.layer.0.attention.self.query.weight", 1),
        ("bert.encoder.layer.5.output.LayerNorm.bias", 6),
        ("bert.pooler.dense.weight", 7),
        ("mpnet.encoder.relative_attention_bias.weight", 0),
        ("deberta.encoder.rel_embeddings.weight", 0),
        ("classifier.weight", 7),
    ],
)
def test_parameter_depth_orders_embeddings_layers_and_head(name, depth):
    assert parameter_depth(name, num_layers=6) == depth


def test_layerwise_groups_decay_the_learning_rate_downwards_and_keep_every_parameter():
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(
        BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, num_labels=3)
    )
    decayed = {n for n, _ in model.named_parameters() if not n.endswith("bias") and "LayerNorm" not in n}
    groups = layerwise_param_groups(model, base_lr=1e-4, decay=0.5, weight_decay=0.01, decay_names=decayed)
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    lrs = sorted({g["lr"] for g in groups})
    assert lrs == pytest.approx([1e-4 * 0.5**k for k in (4, 3, 2, 1, 0)])  # embeddings, 3 layers, head
    head = next(g for g in groups if g["lr"] == pytest.approx(1e-4) and g["weight_decay"] > 0)
    assert any(p is model.classifier.weight for p in head["params"])
    assert all(g["weight_decay"] == 0.0 for g in groups if any(p is model.classifier.bias for p in g["params"]))


def test_the_trainer_builds_its_optimizer_and_schedule_from_the_decayed_groups(tmp_path):
    """RunTrainer with training.layer_lr_decay: the optimizer the fit uses; the schedule scales every group."""
    from transformers import BertConfig, BertForSequenceClassification, TrainingArguments

    from negotiation_stance.training.fit import RunTrainer

    model = BertForSequenceClassification(
        BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=3)
    )
    args = TrainingArguments(output_dir=str(tmp_path), learning_rate=1e-3, weight_decay=0.01, use_cpu=True,
                             warmup_steps=0, report_to=[])  # fmt: skip
    trainer = RunTrainer(model=model, args=args)
    trainer.layer_lr_decay = 0.5
    optimizer = trainer.create_optimizer()
    assert sorted({g["lr"] for g in optimizer.param_groups}) == pytest.approx([1e-3 * 0.5**k for k in (3, 2, 1, 0)])
    assert sum(len(g["params"]) for g in optimizer.param_groups) == len(list(model.parameters()))
    scheduler = trainer.create_scheduler(num_training_steps=10, optimizer=optimizer)
    optimizer.step()
    scheduler.step()
    lrs = [g["lr"] for g in optimizer.param_groups]
    initial = [g["initial_lr"] for g in optimizer.param_groups]
    assert [lr / i for lr, i in zip(lrs, initial, strict=True)] == pytest.approx([0.9] * len(lrs))
    trainer.layer_lr_decay, trainer.optimizer = 1.0, None
    assert {g["lr"] for g in trainer.create_optimizer().param_groups} == {1e-3}  # transformers' own groups


@pytest.mark.parametrize("schedule", ["linear", "constant_with_warmup"])
def test_training_lr_scheduler_sets_the_rate_after_the_warm_up(tmp_path, schedule):
    """training.lr_scheduler reaches the trainer's schedule: constant_with_warmup holds the rate, linear decays it."""
    from transformers import get_scheduler

    from conftest import compose_config, tiny_overrides
    from negotiation_stance.training.fit import training_arguments

    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", f"training.lr_scheduler={schedule}",
                                                 "training.warmup_ratio=0.2"))  # fmt: skip
    args = training_arguments(cfg, tmp_path, {}, None)
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(2))], lr=args.learning_rate)
    # What Trainer.create_scheduler builds from the arguments.
    scheduler = get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=args.get_warmup_steps(10),
                              num_training_steps=10, scheduler_specific_kwargs=args.lr_scheduler_kwargs)  # fmt: skip
    rates = []
    for _ in range(10):
        optimizer.step()
        scheduler.step()
        rates.append(scheduler.get_last_lr()[0] / cfg.training.learning_rate)
    assert rates[0] == pytest.approx(0.5)  # the warm-up: 2 of 10 steps
    if schedule == "linear":
        assert rates[1:] == pytest.approx([1 - k / 8 for k in range(9)])
    else:
        assert rates[1:] == pytest.approx([1.0] * 9)


def test_freezing_stops_at_the_named_layer():
    from transformers import BertConfig, BertForSequenceClassification

    model = BertForSequenceClassification(
        BertConfig(hidden_size=32, num_hidden_layers=3, num_attention_heads=2, intermediate_size=64, num_labels=3)
    )
    trainable = freeze_lower_layers(model, 2)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen and all(
        n.startswith(("bert.embeddings.", "bert.encoder.layer.0.", "bert.encoder.layer.1.")) for n in frozen
    )
    assert any(n.startswith("bert.embeddings.") for n in frozen) and any(".layer.1." in n for n in frozen)
    assert trainable == sum(p.numel() for n, p in model.named_parameters() if n not in frozen)
    assert model.classifier.weight.requires_grad and model.bert.encoder.layer[2].output.dense.weight.requires_grad
    with pytest.raises(ValueError, match=r"training\.freeze_layers must be < 3, the model's layers; got 3"):
        freeze_lower_layers(model, 3)


def test_a_run_with_frozen_layers_exports_them_unchanged(tmp_path):
    """training.freeze_layers=3 on MiniLM: embeddings and layers 0-2 are the pretrained weights, layer 5 moved."""
    from transformers import AutoModel, AutoModelForSequenceClassification

    from conftest import compose_config, tiny_overrides
    from negotiation_stance.training.run import train

    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", "training.max_steps=2",
                                                 "training.freeze_layers=3", "training.calibrate=false"))  # fmt: skip
    record = train(cfg)
    tuned = AutoModelForSequenceClassification.from_pretrained(record["model_dir"]).base_model.state_dict()
    base = AutoModel.from_pretrained(cfg.model.name_or_path).state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.0.attention.self.query.weight",
                 "encoder.layer.2.output.dense.weight"):  # fmt: skip
        assert torch.equal(tuned[name], base[name]), name
    assert not torch.equal(tuned["encoder.layer.5.output.dense.weight"], base["encoder.layer.5.output.dense.weight"])


@pytest.mark.parametrize("family", ["bert", "mpnet", "mpnet_mean_pooled"])
def test_the_cached_forward_gives_the_full_models_logits(family):
    """training.cache_frozen: states cached below layer 2, then layers 2.. and the head = the whole model
    (the mean-pooled head, model.pooling=mean, included: it pools over the same mask)."""
    from datasets import Dataset
    from transformers import BertConfig, BertForSequenceClassification, MPNetConfig, MPNetForSequenceClassification

    from negotiation_stance.modeling.mean_pooling import MeanPooledMPNetConfig, MeanPooledMPNetForSequenceClassification
    from negotiation_stance.training.frozen_cache import CACHE_INDEX, build_cache, from_layer

    torch.manual_seed(0)
    sizes = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64}
    if family == "bert":
        model = BertForSequenceClassification(BertConfig(**sizes, num_labels=3)).eval()
    elif family == "mpnet":
        model = MPNetForSequenceClassification(MPNetConfig(**sizes, num_labels=3)).eval()
    else:
        model = MeanPooledMPNetForSequenceClassification(MeanPooledMPNetConfig(**sizes, num_labels=3)).eval()
    ids = [[5, 17, 9, 22, 6], [5, 40, 6], [5, 11, 12, 13, 14, 15, 6]]  # different lengths: padding is masked
    ds = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids],
                            "length": [len(i) for i in ids], "label": [0, 1, 2]})  # fmt: skip
    cache, indexed = build_cache(model, 2, {"train": ds}, 2, torch.device("cpu"), None)
    assert [s.shape for s in cache.states] == [(5, 32), (3, 32), (7, 32)]
    assert indexed["train"][CACHE_INDEX] == [0, 1, 2]
    padded = torch.tensor([i + [1] * (7 - len(i)) for i in ids])
    mask = torch.tensor([[1] * len(i) + [0] * (7 - len(i)) for i in ids])
    with torch.no_grad():
        full = model(input_ids=padded, attention_mask=mask).logits
        batch = {"input_ids": padded, "attention_mask": mask, CACHE_INDEX: torch.tensor([0, 1, 2])}
        with from_layer(model, 2):
            assert len(model.base_model.encoder.layer) == 1
            cached = model(**cache.inputs(batch)).logits
    assert len(model.base_model.encoder.layer) == 3  # the whole model again outside the context
    assert torch.allclose(full, cached, atol=1e-5)
    assert not torch.allclose(full[0], full[1])


def test_a_cached_run_trains_the_layers_above_the_cache(tmp_path, caplog):
    """training.cache_frozen=true on MiniLM: the frozen layers are run once and exported unchanged; layer 5 moved.

    With training.probe_epochs=2 the head first trains alone on the cache's output: logged, kept in metrics.json.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification

    from conftest import compose_config, tiny_overrides
    from negotiation_stance.training.run import train

    cfg = compose_config("train", tiny_overrides(tmp_path, "logger=none", "training.max_steps=3",
                                                 "training.freeze_layers=4", "training.cache_frozen=true",
                                                 "training.average_last=0.5", "training.probe_epochs=2"))  # fmt: skip
    with caplog.at_level("INFO"):
        record = train(cfg)
    assert any("layers 0-3 run once over" in r.getMessage() for r in caplog.records)
    assert any("the head alone trained 2 epochs" in r.getMessage() for r in caplog.records)
    probe = record["train"]["probe"]
    assert probe["epochs"] == 2 and len(probe["losses"]) == 2 and 0.0 <= probe["validation_macro_f1"] <= 1.0
    assert probe["losses"][1] < probe["losses"][0]
    tuned = AutoModelForSequenceClassification.from_pretrained(record["model_dir"]).base_model.state_dict()
    base = AutoModel.from_pretrained(cfg.model.name_or_path).state_dict()
    for name in ("embeddings.word_embeddings.weight", "encoder.layer.3.output.dense.weight"):
        assert torch.equal(tuned[name], base[name]), name
    assert not torch.equal(tuned["encoder.layer.5.output.dense.weight"], base["encoder.layer.5.output.dense.weight"])
    assert record["train"]["tail_average"]["steps_averaged"] >= 1


def test_tail_average_is_the_mean_of_the_last_steps_trainable_weights():
    from types import SimpleNamespace

    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Linear(2, 1))
    model[0].requires_grad_(False)
    frozen = model[0].weight.detach().clone()
    tail = TailAverage(0.4)
    state = SimpleNamespace(max_steps=10, global_step=0)
    tail.on_train_begin(None, state, None)
    seen = []
    for step in range(1, 11):
        with torch.no_grad():
            model[1].weight.fill_(float(step))
        state.global_step = step
        tail.on_step_end(None, state, None, model=model)
        seen.append(step)
    assert tail.count == 4 and set(tail.average) == {"1.weight", "1.bias"}  # steps 7-10, trainable weights only
    saved = tail.state_dict()
    again = TailAverage(0.4)
    again.load_state_dict(saved)
    assert again.apply(model) == 4
    assert torch.allclose(model[1].weight, torch.full((1, 2), (7 + 8 + 9 + 10) / 4))
    assert torch.equal(model[0].weight, frozen)
    with pytest.raises(RuntimeError, match="no step was averaged"):
        TailAverage(0.4).apply(model)


@pytest.mark.parametrize("family", ["bert", "mpnet"])
def test_the_probe_reads_the_heads_input_the_same_from_the_cache(family):
    """training.probe_epochs: what the head receives is the same whether the encoder runs whole or from the cache,
    and the head trained alone on it fits the labels."""
    from datasets import Dataset
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        DataCollatorWithPadding,
        MPNetConfig,
        MPNetForSequenceClassification,
    )

    from negotiation_stance.training.frozen_cache import build_cache
    from negotiation_stance.training.probe import head_inputs, probe_macro_f1, train_probe

    torch.manual_seed(0)
    sizes = {"hidden_size": 32, "num_hidden_layers": 3, "num_attention_heads": 2, "intermediate_size": 64}
    if family == "bert":
        model = BertForSequenceClassification(BertConfig(**sizes, num_labels=3))
    else:
        model = MPNetForSequenceClassification(MPNetConfig(**sizes, num_labels=3))
    ids = [[5, 20 + i % 3, 30 + i % 5, 20 + i % 3, 6][: 4 + i % 2] for i in range(24)]  # the label: i % 3
    ds = Dataset.from_dict({"input_ids": ids, "attention_mask": [[1] * len(i) for i in ids],
                            "length": [len(i) for i in ids], "label": [i % 3 for i in range(24)]})  # fmt: skip
    collator = DataCollatorWithPadding(_PadOnly())
    cpu = torch.device("cpu")
    whole = head_inputs(model, ds, collator, 5, cpu, None)
    cache, indexed = build_cache(model, 2, {"train": ds}, 5, cpu, None)
    cached = head_inputs(model, indexed["train"], collator, 5, cpu, None, cache)
    assert model.training  # the encoder ran in eval mode, then went back
    expected = (len(ids[1]), 32) if family == "mpnet" else (32,)  # MPNet's head reads tokens, BERT's the pooler
    assert whole[1].shape == expected
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(whole, cached, strict=True))
    # A random tiny encoder gives every row nearly the same features: the head learns from separable ones instead.
    labels = ds["label"]
    separable = [3 * torch.nn.functional.one_hot(torch.tensor(y), 32).float() + 0.1 * torch.randn(32) for y in labels]
    if family == "mpnet":  # its head reads the first token of each row
        separable = [torch.cat([f[None], torch.randn(2, 32)]) for f in separable]
    before = [p.detach().clone() for p in model.base_model.parameters()]
    losses = train_probe(model, separable, labels, epochs=20, learning_rate=1e-2, batch_size=8, weight_decay=0.0,
                         seed=0, device=cpu)  # fmt: skip
    assert losses[-1] < losses[0] / 2
    assert probe_macro_f1(model, separable, labels, ["a", "b", "c"]) == 1.0
    assert all(torch.equal(a, b) for a, b in zip(before, model.base_model.parameters(), strict=True))  # head only


class _PadOnly:
    """The tokenizer side of DataCollatorWithPadding for rows that are already token ids (pad id 1)."""

    padding_side = "right"
    model_input_names = ("input_ids", "attention_mask")

    def pad(self, features, padding=True, max_length=None, pad_to_multiple_of=None, return_tensors="pt"):
        width = max(len(f["input_ids"]) for f in features)
        out = {}
        for key in features[0]:
            values = [f[key] for f in features]
            if isinstance(values[0], list):
                fill = 1 if key == "input_ids" else 0
                values = [v + [fill] * (width - len(v)) for v in values]
            out[key] = torch.tensor(values)
        return out
