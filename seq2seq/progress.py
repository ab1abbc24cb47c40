"""Progress bars (tqdm) on stderr: shown when stderr is a terminal or when asked for, so pipes stay clean."""

from __future__ import annotations

import sys


def progress_bar(total: int | None = None, desc: str = "", unit: str = "it", enabled: bool | None = None):
    """A tqdm bar on stderr; `enabled` None means: only when stderr is a terminal. Use as a context manager."""
    from tqdm import tqdm  # lazy: keeps start-up fast

    on = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, desc=desc, unit=unit, disable=not on, file=sys.stderr, dynamic_ncols=True,
                mininterval=0.5)
