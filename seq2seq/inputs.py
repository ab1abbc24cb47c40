"""What the public API accepts, checked at its boundary: texts (valid Unicode strings, control characters made
spaces) and images (a path, bytes or a PIL image of any mode). Anything else is a UserError naming the item."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Sequence

from PIL import Image

from seq2seq.data.images import load_image, to_rgb, upright
from seq2seq.errors import UserError


def check_text(text: object, index: int = 0) -> str:
    """An input sentence as the model should see it: a str of valid Unicode, control characters (NUL, escape,
    line breaks, ...) turned into spaces. A non-string or a lone surrogate is a UserError naming the item."""
    if not isinstance(text, str):
        raise UserError(f"text {index}: expected a string, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UserError(f"text {index}: not valid Unicode (a lone surrogate, U+{ord(text[e.start]):04X}, at "
                        f"character {e.start})") from None
    if text.isprintable():
        return text
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)


def check_texts(texts: object) -> list[str]:
    """check_text on each item of a list (or tuple) of strings."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise UserError(f"expected a list of strings, got {type(texts).__name__}")
    return [check_text(t, i) for i, t in enumerate(texts)]


def as_rgb(image: object, index: int = 0):
    """A path, bytes or a PIL image of any mode -> an 8-bit RGB PIL image; anything else is a UserError."""
    if isinstance(image, Image.Image):
        return to_rgb(upright(image))
    if isinstance(image, (str, Path)):
        return load_image(image)
    if isinstance(image, (bytes, bytearray)):
        return load_image(bytes(image), name=f"image {index}")
    raise UserError(f"image {index}: expected a file path, bytes or a PIL image, got {type(image).__name__}")
