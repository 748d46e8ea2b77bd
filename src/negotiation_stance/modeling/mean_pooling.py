"""MPNet whose classification head reads the mean of the last layer's token states (``model.pooling=mean``).

all-mpnet-base-v2 was trained as a sentence encoder on the *mean* of its token states,
while transformers' ``MPNetForSequenceClassification`` reads the first token only, a
state the pretraining never asked to summarise the sentence. On the frozen encoder a
linear probe on the mean beats one on the first token on real text (docs/experiments.md).

This file is saved beside the weights of every export that uses it
(``register_for_auto_class``), so ``pipeline(..., trust_remote_code=True)`` loads the
folder on any machine; it must therefore import nothing but torch and transformers.
The head is MPNet's own (dense, tanh, projection) on the pooled vector: only the pooling
differs from the stock class.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import MPNetConfig, MPNetModel, MPNetPreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class MeanPooledMPNetConfig(MPNetConfig):
    # Its own model type, so that a loader without this file refuses the folder (and says to pass
    # trust_remote_code=True) instead of reading it as a stock first-token MPNet.
    model_type = "mpnet_mean_pooled"


def masked_mean(states: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
    """The mean over each row's real tokens (padding excluded), as sentence-transformers pools."""
    if attention_mask is None:
        return states.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    return (states * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class MeanPooledClassificationHead(nn.Module):
    def __init__(self, config: MPNetConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)
        self.out_proj = nn.Linear(config.hidden_size, config.num_labels)

    def forward(self, pooled: torch.Tensor) -> torch.Tensor:
        x = self.dropout(pooled)
        x = torch.tanh(self.dense(x))
        return self.out_proj(self.dropout(x))


class MeanPooledMPNetForSequenceClassification(MPNetPreTrainedModel):
    config_class = MeanPooledMPNetConfig

    def __init__(self, config: MPNetConfig) -> None:
        super().__init__(config)
        self.num_labels = config.num_labels
        self.mpnet = MPNetModel(config, add_pooling_layer=False)
        self.classifier = MeanPooledClassificationHead(config)
        self.post_init()

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        output_attentions: bool | None = None,
        output_hidden_states: bool | None = None,
        return_dict: bool | None = None,
        **kwargs: object,
    ) -> SequenceClassifierOutput:
        outputs = self.mpnet(
            input_ids,
            attention_mask=attention_mask,
            position_ids=position_ids,
            inputs_embeds=inputs_embeds,
            output_attentions=output_attentions,
            output_hidden_states=output_hidden_states,
            return_dict=True,
        )
        logits = self.classifier(masked_mean(outputs.last_hidden_state, attention_mask))
        loss = None
        if labels is not None:
            loss = nn.functional.cross_entropy(logits.view(-1, self.num_labels), labels.view(-1))
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )
