"""EncoderDecoder: any encoder that returns `EncoderOutput`, plus the shared attention decoder; with `NoEncoder`
the decoder alone is a language model."""

from __future__ import annotations

import torch
from torch import nn

from seq2seq.config import ModelConfig
from seq2seq.data.tokenizer import PAD
from seq2seq.model.audio_encoder import AudioEncoder
from seq2seq.model.decoder import Decoder
from seq2seq.model.image_encoder import ImageEncoder
from seq2seq.model.interface import EncoderOutput
from seq2seq.model.text_encoder import TextEncoder


class EncoderDecoder(nn.Module):
    def __init__(self, encoder: nn.Module, decoder: Decoder, encoder_kind: str = "text"):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.encoder_kind = encoder_kind

    def encode(self, src: torch.Tensor, src_lengths: torch.Tensor) -> EncoderOutput:
        """Token ids (B, S) with lengths for text; images (B, 3, H, W) or cached features (B, N, C) for images;
        feature frames (B, T, F) with lengths for audio."""
        if self.encoder_kind == "image":
            return self.encoder.encode_features(src) if src.dim() == 3 else self.encoder(src)
        return self.encoder(src, src_lengths)

    def forward(self, src: torch.Tensor, src_lengths: torch.Tensor, tgt_in: torch.Tensor, ctc: bool = False):
        """Teacher-forced logits (B, T, V) and attention (B, T, S) or None; with `ctc` (an audio encoder), also its
        CTC head's logits (B, S, V) and each row's memory frames (B,): inside forward, so that data-parallel
        training sees every parameter the loss uses."""
        enc = self.encode(src, src_lengths)
        logits, attn = self.decoder(tgt_in, enc)
        if not ctc:
            return logits, attn
        return logits, attn, self.encoder.ctc_logits(enc), enc.mask.sum(1)


def _text_encoder(cfg: ModelConfig, src_vocab: int, embedding: nn.Embedding | None) -> TextEncoder:
    return TextEncoder(src_vocab, cfg.emb_dim, cfg.hidden, cfg.enc_layers, cfg.cell, cfg.bidirectional,
                       cfg.dropout, cfg.emb_dropout, cfg.residual, cfg.deep_input, embedding, cfg.word_dropout)


def _audio_encoder(cfg: ModelConfig, src_vocab: int, embedding: nn.Embedding | None) -> AudioEncoder:
    """Speech has no source vocabulary: as for captioning, the source tokenizer is the target's, and the encoder's
    CTC head scores that vocabulary."""
    return AudioEncoder(cfg.audio_features, cfg.hidden, cfg.enc_layers, src_vocab, cfg.cell, cfg.bidirectional,
                        cfg.dropout, cfg.reductions, cfg.residual)


def _image_encoder(cfg: ModelConfig, src_vocab: int, embedding: nn.Embedding | None) -> nn.Module:
    return ImageEncoder(cfg.backbone, cfg.hidden, cfg.dropout, pretrained=cfg.pretrained,
                        weights=cfg.backbone_weights, finetune_blocks=cfg.finetune_blocks)


class NoEncoder(nn.Module):
    """A language model's encoder: nothing to read. An empty memory (B, 0, 1), and a zero summary (B, 1), so that
    the decoder's initial state is tanh(bridge bias): a learned start state."""

    output_dim = 1

    def forward(self, src: torch.Tensor, lengths: torch.Tensor) -> EncoderOutput:
        """src (B, *): only its batch size and device are read."""
        B = src.size(0)
        zeros = src.new_zeros(B, 0, 1, dtype=torch.float)
        return EncoderOutput(memory=zeros, mask=src.new_zeros(B, 0, dtype=torch.bool), init_state=zeros.new_zeros(B, 1))


ENCODERS = {"text": _text_encoder, "image": _image_encoder, "audio": _audio_encoder,
            "none": lambda cfg, src_vocab, embedding: NoEncoder()}


def build_model(cfg: ModelConfig, src_vocab: int, tgt_vocab: int) -> EncoderDecoder:
    """Build the model a config describes. Embeddings are shared when `share_embeddings` (joint vocabulary)."""
    shared = None
    if cfg.share_embeddings:
        if src_vocab != tgt_vocab:
            raise ValueError("share_embeddings needs one vocabulary for both sides")
        shared = nn.Embedding(tgt_vocab, cfg.emb_dim, padding_idx=PAD)
    encoder = ENCODERS[cfg.encoder](cfg, src_vocab, shared)
    decoder = Decoder(tgt_vocab, cfg.emb_dim, cfg.hidden, cfg.dec_layers, memory_dim=encoder.output_dim,
                      init_dim=encoder.output_dim, cell=cfg.cell, attention=cfg.attention, attn_dim=cfg.attn_dim,
                      input_feeding=cfg.input_feeding, deep_output=cfg.deep_output, dropout=cfg.dropout,
                      emb_dropout=cfg.emb_dropout, residual=cfg.residual, tie_embeddings=cfg.tie_embeddings,
                      embedding=shared, word_dropout=cfg.word_dropout)
    model = EncoderDecoder(encoder, decoder, cfg.encoder)
    _init_weights(model)
    return model


def _init_weights(model: nn.Module) -> None:
    """Uniform(-0.1, 0.1) as in the classic NMT recipes; embeddings N(0, d^-1/2) with a zero pad row; biases 0.
    A CNN backbone keeps its own (pretrained) initialisation; norm layers keep theirs."""
    for name, p in model.named_parameters():
        if name.startswith("encoder.backbone."):
            continue
        if "embedding" in name:
            nn.init.normal_(p, std=p.size(1) ** -0.5)
            with torch.no_grad():
                p[PAD].zero_()
        elif p.dim() >= 2:
            nn.init.uniform_(p, -0.1, 0.1)
        elif name.endswith("bias"):
            nn.init.zeros_(p)
    for m in model.modules():  # LSTM forget-gate bias 1: remembers by default, eases gradient flow
        if isinstance(m, nn.LSTM):
            for name, p in m.named_parameters():
                if name.startswith("bias_ih"):
                    n = p.size(0) // 4
                    with torch.no_grad():
                        p[n : 2 * n].fill_(1.0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in {id(p): p for p in model.parameters()}.values())
