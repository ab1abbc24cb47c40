"""Command line: thin wrappers over the package, one module per group of subcommands.
Bad input gives one `error:` line and exit code 2."""

from __future__ import annotations

import argparse
import os
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
    if sys.stderr is None:  # started with 2>&-: errors have nowhere to go, the exit code still says
        sys.stderr = open(os.devnull, "w")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        if sys.stdout is None:
            raise UserError("standard output is closed: the results have nowhere to go (redirect it to a file, "
                            "or to /dev/null)")
        code = args.func(args)
        sys.stdout.flush()  # a full disk or a closed pipe is met here, not in the interpreter's exit
        return code
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        _drop_stdout()
        return 0
    except OSError as e:  # the output could not be written (a full disk, /dev/full, a vanished device)
        _drop_stdout()
        where = f" {e.filename}" if e.filename else " to standard output"
        print(f"error: cannot write{where}: {e.strerror or e}", file=sys.stderr)
        return 1


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's final flush of what could not be written is silent."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
