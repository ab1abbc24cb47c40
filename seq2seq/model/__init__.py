"""Encoders, attention and the shared decoder."""

from seq2seq.model.build import EncoderDecoder, build_model
from seq2seq.model.interface import DecoderState, EncoderOutput

__all__ = ["EncoderOutput", "DecoderState", "EncoderDecoder", "build_model"]
