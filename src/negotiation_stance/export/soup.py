"""A uniform model soup: the average of the weights of several fine-tuned models (Wortsman et al., 2022).

Models fine-tuned from the same pretrained encoder with the same labels (typically
one recipe under several seeds) usually sit in one basin of the loss, so their
averaged weights form one model that often generalises better than each of them,
at the cost of a single model at inference. The soup is written as an ordinary
exported folder, so ``pipeline()``, ``StanceClassifier`` and ``make evaluate`` load it.

Why our own code: the averaging itself is a few lines of torch; what matters is
refusing ingredients that cannot be averaged (other labels, other architectures,
other tokenizers), which no library checks for us.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import torch

from negotiation_stance.errors import ConfigError
from negotiation_stance.export.folder import export_model
from negotiation_stance.export.model_card import card_metadata
from negotiation_stance.modeling import exported_mask_names, exported_pair_field, load_exported
from negotiation_stance.modeling.model import scale_logits

log = logging.getLogger(__name__)

# config.json keys that must agree for two models' weights to be averaged meaningfully.
ARCHITECTURE_KEYS = ("model_type", "hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size")


def model_folder(path: str | Path) -> Path:
    """A model folder itself, or a training run folder holding one in ``model/``."""
    folder = Path(path).expanduser()
    return folder / "model" if (folder / "model" / "config.json").is_file() else folder


def _tokenizer_fingerprint(folder: Path) -> str:
    vocab = folder / "tokenizer.json" if (folder / "tokenizer.json").is_file() else folder / "vocab.txt"
    return hashlib.sha256(vocab.read_bytes()).hexdigest() if vocab.is_file() else ""


def average_weights(folders: list[Path]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """The uniform average of the ingredients' floating-point weights, after checking they can be averaged."""
    if len(folders) < 2:
        raise ConfigError(f"a soup needs at least two models, got {len(folders)}")
    _, first, labels = load_exported(folders[0])
    fingerprint = _tokenizer_fingerprint(folders[0])
    models = [first]
    for folder in folders[1:]:
        _, model, other_labels = load_exported(folder)
        if other_labels != labels:
            raise ConfigError(f"{folder}: labels {other_labels} differ from {folders[0]}'s {labels}")
        for key in ARCHITECTURE_KEYS:
            if getattr(model.config, key, None) != getattr(first.config, key, None):
                raise ConfigError(f"{folder}: config {key} differs from {folders[0]}'s; not the same encoder")
        if exported_mask_names(folder) != exported_mask_names(folders[0]):
            raise ConfigError(f"{folder}: data.mask_names differs from {folders[0]}'s; the models read different text")
        if exported_pair_field(folder) != exported_pair_field(folders[0]):
            raise ConfigError(f"{folder}: data.pair_field differs from {folders[0]}'s; the models read different input")
        if _tokenizer_fingerprint(folder) != fingerprint:
            raise ConfigError(f"{folder}: its tokenizer differs from {folders[0]}'s; not the same encoder")
        models.append(model)
    total: dict[str, torch.Tensor] = {}
    for model in models:
        # Each ingredient's own temperature is baked into its head: undo it, so the soup averages
        # the weights training found, not heads scaled by different temperatures.
        temperature = float(getattr(model.config, "calibration_temperature", 1.0) or 1.0)
        if temperature != 1.0:
            scale_logits(model, temperature)
        for name, tensor in model.state_dict().items():
            total[name] = total[name] + tensor.double() if name in total else tensor.detach().clone().double()
    reference = first.state_dict()
    averaged = {
        name: (tensor / len(folders)).to(reference[name].dtype)
        if reference[name].is_floating_point()
        else reference[name]
        for name, tensor in total.items()
    }
    return averaged, labels


def make_soup(runs: list[str | Path], target: Path) -> Path:
    """Average the models of ``runs`` (run or model folders) and export the soup to ``target``."""
    folders = [model_folder(run) for run in runs]
    averaged, labels = average_weights(folders)
    tokenizer, model, _ = load_exported(folders[0])
    model.load_state_dict(averaged)
    # Averaged from uncalibrated weights; no temperature is fitted here (a soup is scored afterwards).
    model.config.calibration_temperature = 1.0
    model.config.soup_ingredients = [str(folder.resolve()) for folder in folders]
    card = _card(folders, labels)
    export_model(model, tokenizer, target, card)
    (target / "soup.json").write_text(json.dumps({"ingredients": model.config.soup_ingredients}, indent=2) + "\n")
    log.info("Soup of %d models written to %s", len(folders), target)
    return target


def _card(folders: list[Path], labels: list[str]) -> str:
    ingredients = "\n".join(f"- `{folder}`" for folder in folders)
    metadata = card_metadata(str(folders[0]), {})  # no scores: a soup is scored afterwards
    metadata.tags = [*metadata.tags, "model-soup"]
    return (
        f"---\n{metadata.to_yaml()}\n---\n\n"
        "# negotiation-stance model soup\n\n"
        f"The uniform average of the weights of {len(folders)} fine-tuned models (Wortsman et al., 2022), "
        f"labels {', '.join(f'`{label}`' for label in labels)}. Ingredients:\n\n{ingredients}\n\n"
        "Score it with `make evaluate MODEL=<this folder>`: a soup is not evaluated when it is made.\n"
    )
