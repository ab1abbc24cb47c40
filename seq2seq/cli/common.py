"""What the subcommands share: the parser factory (description, examples, defaults shown) and the decoding options."""

from __future__ import annotations

import argparse

from seq2seq.errors import UserError


class _Formatter(argparse.HelpFormatter):
    """Shows each option's default (where it has one), and keeps the examples' line breaks."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line + "\n" for line in text.splitlines())
        return super()._fill_text(text, width, indent)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "%(default)" in text or default in (None, False, [], argparse.SUPPRESS) or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)"


def command(sub, name: str, func, help: str, description: str, examples: list[str]) -> argparse.ArgumentParser:
    """A subcommand whose `--help` has a description, its examples and every option's default."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    p = sub.add_parser(name, help=help, description=description, epilog=epilog, formatter_class=_Formatter)
    p.set_defaults(func=func)
    return p


def model_args(p: argparse.ArgumentParser, task: str = "translate") -> None:
    """--model, and for translation --from/--to, --quantize, --no-shortlist."""
    if task == "translate":
        p.add_argument("--model", action="append", help="model directory or shipped model name (see `seq2seq "
                       "models`); repeat it for an ensemble (models of the same vocabularies, log-probabilities "
                       "averaged); default: the shipped model for --from/--to (en->de)")
        p.add_argument("--from", dest="src_lang", help="source language of the shipped model to use")
        p.add_argument("--to", dest="tgt_lang", help="target language of the shipped model to use")
        p.add_argument("--quantize", action="store_true", help="int8 dynamic quantization (CPU)")
        shortlist_arg(p)
    elif task == "caption":
        p.add_argument("--model", action="append", help="captioning model directory or shipped name (default: "
                       "the shipped one); repeat it for an ensemble (captioners of the same vocabulary and image "
                       "size, log-probabilities averaged)")
    else:
        p.add_argument("--model", action="append", help="speech model directory or shipped name (default: the "
                       "shipped one); repeat it for an ensemble (same vocabulary and features)")
        p.add_argument("--ctc-weight", type=float, metavar="W", help="0: attention beam search; 1: CTC prefix "
                       "beam search; between: the attention n-best rescored by W x CTC + (1 - W) x attention "
                       "(default: the model's config, search.ctc_weight)")
    checkpoint_arg(p)
    ensemble_arg(p)


def ensemble_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-ensemble", dest="ensemble", action="store_false",
                   help="decode a model alone even when its config names ensemble members (search.ensemble; "
                   "`seq2seq models` shows them): faster, a little less accurate")


def checkpoint_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", choices=("best", "last", "average"),
                   help="in a training run's directory: best.pt, last.pt, or the average of its step-N.pt "
                   "checkpoints (default: model.pt, else best.pt)")


def shortlist_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--shortlist", action=argparse.BooleanOptionalAction, default=None,
                   help="translation: score only the model's lexical shortlist (faster), or with --no-shortlist the "
                   "whole target vocabulary; default: the model's config (search.shortlist)")


def decode_args(p: argparse.ArgumentParser, items: str) -> None:
    p.add_argument("--beam", type=int, help="beam size (1 = greedy); default: the model's config")
    p.add_argument("--alpha", type=float, help="length normalisation strength; default: the model's config")
    p.add_argument("--batch-size", type=int, help=f"{items} per batch; default: the model's config")
    p.add_argument("--no-repeat-ngram", type=int, metavar="N",
                   help="no output holds an N-gram twice (0: off); default: the model's config")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="where to run")


def lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lm", metavar="DIR", help="shallow fusion: a language model of the target language (same "
                   "sentencepiece model); default: the model's config (search.lm)")
    p.add_argument("--lm-weight", type=float, metavar="W", help="fusion weight: W x log p_LM is added at every "
                   "search step (tune it on validation data); default: the model's config (search.lm_weight)")


def progress_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="a progress bar on stderr (default: only when stderr is a terminal)")


def search_overrides(args) -> dict:
    """The search settings given on the command line (None: the model's own)."""
    if getattr(args, "lm", None) and args.lm_weight is None:
        raise UserError("--lm needs --lm-weight W (the weight of the language model's log-probabilities)")
    return {"beam": args.beam, "nbest": getattr(args, "nbest", None), "alpha": args.alpha,
            "batch_size": args.batch_size, "shortlist": getattr(args, "shortlist", None),
            "no_repeat_ngram": args.no_repeat_ngram, "lm": getattr(args, "lm", None),
            "lm_weight": getattr(args, "lm_weight", None), "ctc_weight": getattr(args, "ctc_weight", None)}
