"""Language-specific text normalization, which the tokenizer applies before sentencepiece (training and encoding).

Chinese (`zh`): Traditional characters to Simplified (OpenCC t2s), NFKC (full-width digits and Latin letters to
ASCII), zero-width characters removed, and the punctuation that follows Chinese text in its full-width form
(，？！：；), as Chinese is written and as references are scored. Its sentencepiece model then uses the `identity`
rule: sentencepiece's own NFKC would turn ？ back into ?. Other languages: sentencepiece's NMT NFKC alone.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Callable, Iterable

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
FULL_WIDTH = {",": "，", "?": "？", "!": "！", ":": "：", ";": "；"}
# an ASCII mark right after a CJK character, CJK punctuation or a full-width form
AFTER_CJK = re.compile(r"(?<=[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef])\s*([,?!:;])")


@lru_cache(maxsize=1)
def _t2s():
    import opencc  # lazy: keeps start-up fast

    return opencc.OpenCC("t2s")


def chinese(text: str) -> str:
    """Simplified characters, NFKC, and full-width punctuation after Chinese text."""
    text = unicodedata.normalize("NFKC", _t2s().convert(text)).translate(ZERO_WIDTH)
    return AFTER_CJK.sub(lambda m: FULL_WIDTH[m.group(1)], text)


NORMALIZERS: dict[str, Callable[[str], str]] = {"zh": chinese}
SPM_RULES = {"zh": "identity"}  # sentencepiece's normalization rule where ours replaces its NFKC


def normalizer(langs: Iterable[str]) -> Callable[[str], str] | None:
    """The normalization for text in these languages (a joint vocabulary has two), or None."""
    found = [NORMALIZERS[lang] for lang in dict.fromkeys(langs) if lang in NORMALIZERS]
    return found[0] if found else None


def spm_rule(langs: Iterable[str]) -> str:
    return next((SPM_RULES[lang] for lang in langs if lang in SPM_RULES), "nmt_nfkc")
