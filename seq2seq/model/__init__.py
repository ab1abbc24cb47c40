"""Encoders, attention and the shared decoder."""

from seq2seq.model.interface import DecoderState, EncoderOutput
from seq2seq.model.seq2seq import EncoderDecoder, build_model

__all__ = ["EncoderOutput", "DecoderState", "EncoderDecoder", "build_model"]
