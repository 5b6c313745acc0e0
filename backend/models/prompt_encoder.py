"""The text encoder of the shapes model: a word-level tokenizer plus a two-layer transformer encoder.

It is a diffusers `ModelMixin`/`ConfigMixin`, so it saves and loads like any pipeline component
(`text_encoder/config.json` + safetensors) and `DiffusionPipeline.from_pretrained` imports it by the module
path recorded in `model_index.json`. The token list lives in its config, so the weights and the ids they
were trained with can never be paired wrongly; a CLIP/T5 encoder would be 100x the size of the whole model
for a 40-word language.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from backend.models.vocab import MAX_TOKENS, PAD_TOKEN, token_list, tokenize


class PromptEncoder(ModelMixin, ConfigMixin):  # type: ignore[misc]  # diffusers' two config_name types
    """Maps prompts to per-token embeddings and a padding mask for cross-attention."""

    @register_to_config
    def __init__(
        self,
        vocab: Sequence[str] | None = None,
        dim: int = 64,
        num_layers: int = 2,
        num_heads: int = 4,
        max_tokens: int = MAX_TOKENS,
    ) -> None:
        """Build an untrained encoder.

        Args:
            vocab: Token list, special tokens first; defaults to the current grammar's (`token_list()`).
            dim: Embedding width (the transformer's `caption_channels`).
            num_layers: Encoder layers; two let "small" bind to the shape word that follows.
            num_heads: Attention heads per layer.
            max_tokens: Sequence length, start token included.
        """
        super().__init__()
        tokens = list(vocab) if vocab is not None else token_list()
        if vocab is None:
            self.register_to_config(vocab=tokens)
        self.token_embedding = nn.Embedding(len(tokens), dim)
        self.position_embedding = nn.Parameter(torch.zeros(max_tokens, dim))
        layer = nn.TransformerEncoderLayer(
            dim, num_heads, dim_feedforward=2 * dim, dropout=0.0, batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        nn.init.normal_(self.position_embedding, std=0.02)

    @property
    def vocab(self) -> list[str]:
        """The token list, special tokens first."""
        return list(self.config["vocab"])

    def tokenize(self, prompts: Sequence[str]) -> torch.Tensor:
        """Padded token ids, (B, max_tokens) int64 on the encoder's device.

        Raises:
            PromptError: If a prompt has a word outside the vocabulary.
        """
        ids = torch.full(
            (len(prompts), self.config["max_tokens"]), self.vocab.index(PAD_TOKEN), dtype=torch.long
        )
        for row, prompt in enumerate(prompts):
            tokens = tokenize(prompt, self.vocab)
            ids[row, : len(tokens)] = torch.tensor(tokens)
        return ids.to(self.device)

    def forward(self, token_ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode token ids.

        Args:
            token_ids: (B, L) ids, padded with the pad id (0).

        Returns:
            (B, L, dim) embeddings and the (B, L) mask, 1 for real tokens, 0 for padding.
        """
        mask = token_ids != self.vocab.index(PAD_TOKEN)
        hidden = self.token_embedding(token_ids) + self.position_embedding[: token_ids.shape[1]]
        hidden = self.encoder(hidden, src_key_padding_mask=~mask)
        return self.norm(hidden), mask.to(hidden.dtype)
