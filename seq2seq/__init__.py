"""seq2seq: recurrent encoder-decoder models for translation, image captioning and speech recognition, and RNN
language models.

    from seq2seq import Translator, Captioner
    Translator.load("multi30k-en-de").translate("A dog runs.")      # -> one German sentence
    Captioner.load("flickr8k-en").caption("photo.jpg")               # -> one caption
    Transcriber.load("an4-en").transcribe("utterance.wav")           # -> its words
    LanguageModel.load("runs/lm-en").score(["A dog runs."])          # -> log-probabilities, perplexity
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from seq2seq.errors import UserError
from seq2seq.version import __version__

__all__ = ["Translator", "Captioner", "Transcriber", "LanguageModel", "SearchConfig", "UserError", "__version__"]

if TYPE_CHECKING:  # imported lazily at run time, so that `import seq2seq` stays light
    from seq2seq.caption import Captioner
    from seq2seq.config import SearchConfig
    from seq2seq.lm import LanguageModel
    from seq2seq.transcribe import Transcriber
    from seq2seq.translate import Translator


def __getattr__(name: str):
    if name == "Translator":
        from seq2seq.translate import Translator  # lazy: keeps start-up fast

        return Translator
    if name == "Captioner":
        from seq2seq.caption import Captioner  # lazy: keeps start-up fast

        return Captioner
    if name == "Transcriber":
        from seq2seq.transcribe import Transcriber  # lazy: keeps start-up fast

        return Transcriber
    if name == "LanguageModel":
        from seq2seq.lm import LanguageModel  # lazy: keeps start-up fast

        return LanguageModel
    if name == "SearchConfig":
        from seq2seq.config import SearchConfig  # lazy: keeps start-up fast

        return SearchConfig
    raise AttributeError(f"module 'seq2seq' has no attribute {name!r}")
