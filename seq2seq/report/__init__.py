"""Evaluation reports: `seq2seq report` writes one self-contained HTML file (inline CSS, every figure a base64
PNG drawn with matplotlib's Agg renderer, no scripts, nothing fetched) and a Markdown twin with the same numbers.

Modules: options (ReportOptions, checked), inputs (test sets read and checked), decode (the one place the model
runs, through Translator / Captioner), stats (sufficient statistics, bootstrap intervals, paired significance),
document (the HTML + Markdown document model) and markdown (model cards), sections / attention / card (what the
report shows), build (write_report: the phases in order, with progress bars).
"""

from seq2seq.report.document import Cell, Doc, new_figure
from seq2seq.report.options import ReportOptions


def write_report(opts: ReportOptions):
    """`seq2seq report`: see seq2seq.report.build.write_report."""
    from seq2seq.report.build import write_report as _write  # lazy: keeps start-up fast

    return _write(opts)


__all__ = ["Cell", "Doc", "ReportOptions", "new_figure", "write_report"]
