"""The server's limits: what one request may ask for, how much work may wait in the queue, and the cost of a
translation request (its texts' subword lengths x beam). Plain numbers: the CLI imports them for its defaults."""

from __future__ import annotations

from dataclasses import dataclass

MAX_TEXT_CHARS = 2000
MAX_TEXTS = 64
MAX_BODY_BYTES = 1 << 20  # a JSON body, counted as it arrives (chunked bodies too)
MAX_UPLOAD_BYTES = 10 << 20  # the file in POST /caption
FORM_OVERHEAD = 64 << 10  # multipart boundaries and the form fields around the uploaded file
MAX_BEAM = 16
# Translation cost: the sum over a request's texts of (subword tokens + 1) x beam. On 2 CPU cores a shipped model
# decodes 5,000-9,000 units/s (bench/load.py: 69 one-sentence requests/s at beam 5; 64 x 2-sentence requests at
# beam 16 in ~3 s each), so a request at the cap takes some 5-8 s and a full queue some 15-24 s, inside the 30 s
# timeout. `seq2seq serve --max-request-cost / --max-queued-cost` change them for other hardware.
MAX_REQUEST_COST = 40_000
MAX_QUEUED_COST = 120_000
MAX_BATCH_COST = 3_000  # per micro-batch: a light request waits behind at most one such batch of a heavy one
MAX_QUEUED_MEGAPIXELS = 200  # decoded images waiting to be captioned (memory: 3 bytes a pixel)


@dataclass(frozen=True)
class Limits:
    """The limits of one app (`create_app(limits=Limits(...))`); the defaults are the constants above."""

    text_chars: int = MAX_TEXT_CHARS
    texts: int = MAX_TEXTS
    body_bytes: int = MAX_BODY_BYTES
    upload_bytes: int = MAX_UPLOAD_BYTES
    request_cost: float = MAX_REQUEST_COST
    queued_cost: float = MAX_QUEUED_COST
    batch_cost: float = MAX_BATCH_COST
    queued_megapixels: float = MAX_QUEUED_MEGAPIXELS

    def body_limit(self, path: str) -> int:
        return self.upload_bytes + FORM_OVERHEAD if path.rstrip("/") == "/caption" else self.body_bytes

    def __post_init__(self):
        for name, value in vars(self).items():
            if not value > 0:  # NaN fails too
                raise ValueError(f"limit {name} must be positive, got {value}")


def text_costs(lengths: list[int], beam: int) -> list[float]:
    """Each text's decoding cost from its subword length (as decoded: cut at the translator's maximum):
    (length + 1) x beam, the +1 for EOS; the decoder's steps and the encoder's both grow with it."""
    return [float((n + 1) * beam) for n in lengths]

