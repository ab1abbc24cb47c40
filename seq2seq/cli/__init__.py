"""Command line: thin wrappers over the package, one module per group of subcommands.
Bad input gives one `error:` line and exit code 2."""

from __future__ import annotations

import argparse
import sys

from seq2seq.cli import decode, lm, report, serve, train
from seq2seq.errors import UserError
from seq2seq.version import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seq2seq", description="Recurrent encoder-decoder models: translation, "
                                "image captioning and language models.")
    p.add_argument("--version", action="version", version=f"seq2seq {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for group in (train, decode, lm, serve, report):
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
