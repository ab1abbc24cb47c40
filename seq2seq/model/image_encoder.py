"""Image encoder for captioning: a (mostly) frozen CNN backbone (seq2seq.model.backbones) whose last feature grid
becomes the memory."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from seq2seq.errors import UserError
from seq2seq.model.backbones import build_backbone
from seq2seq.model.interface import EncoderOutput


class ImageEncoder(nn.Module):
    """Backbone grid -> per-location memory for the attention decoder (Show, Attend and Tell).

    The backbone is frozen and stays in eval mode (its BatchNorm statistics never move) except for its last
    `finetune_blocks` units (see each backbone's `units()`), which train with the encoder. Each grid vector is
    layer-normalised (backbones differ wildly in feature scale), projected to `hidden` and passed through ReLU
    and dropout; the decoder's initial state is built from the mean of that memory.
    """

    def __init__(self, backbone: str, hidden: int, dropout: float = 0.3, pretrained: bool = True,
                 weights: str | Path | None = None, finetune_blocks: int = 0):
        super().__init__()
        self.backbone = build_backbone(backbone, weights=weights, pretrained=pretrained)
        self.backbone_name = backbone
        self.feature_dim = self.backbone.out_channels
        self.output_dim = hidden
        self.norm = nn.LayerNorm(self.feature_dim)
        self.proj = nn.Linear(self.feature_dim, hidden)
        self.dropout = nn.Dropout(dropout)
        units = self.backbone.units()
        if finetune_blocks < 0 or finetune_blocks > len(units):
            raise UserError(f"finetune_blocks must be between 0 and {len(units)} for {backbone}")
        self.finetune_blocks = finetune_blocks
        self._tuned = [m for unit in units[len(units) - finetune_blocks:] for m in unit]
        self.backbone.requires_grad_(False)
        for m in self._tuned:
            m.requires_grad_(True)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ImageEncoder":
        """Train mode reaches only the projection and the finetuned units; the frozen backbone stays in eval."""
        super().train(mode)
        self.backbone.eval()
        if mode:
            for m in self._tuned:
                m.train()
        return self

    def grid(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) ImageNet-normalised -> (B, N, C) backbone feature vectors, N = h * w grid cells."""
        if self.finetune_blocks == 0:
            with torch.no_grad():
                feats = self.backbone.features(images)  # (B, C, h, w)
        else:
            feats = self.backbone.features(images)
        return feats.flatten(2).transpose(1, 2)  # (B, h*w, C)

    def encode_features(self, feats: torch.Tensor) -> EncoderOutput:
        """(B, N, C) grid features (possibly cached, any float dtype) -> EncoderOutput with memory (B, N, hidden)."""
        feats = feats.to(self.proj.weight.dtype)
        memory = self.dropout(F.relu(self.proj(self.norm(feats))))  # (B, N, hidden)
        mask = torch.ones(memory.shape[:2], dtype=torch.bool, device=memory.device)  # (B, N)
        return EncoderOutput(memory=memory, mask=mask, init_state=memory.mean(dim=1))  # init (B, hidden)

    def forward(self, images: torch.Tensor) -> EncoderOutput:
        return self.encode_features(self.grid(images))
