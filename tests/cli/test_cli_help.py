"""Every subcommand's --help: a description, examples that name the subcommand, and its options' defaults."""

import pytest

from seq2seq.cli import build_parser


def _subcommands():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return sub.choices


@pytest.mark.parametrize("name", sorted(_subcommands()))
def test_help_has_description_examples_and_defaults(name):
    p = _subcommands()[name]
    text = p.format_help()
    assert p.description and len(p.description) > 40
    examples = text.split("examples:\n", 1)[1].splitlines()
    assert examples and all(line.strip().startswith(f"seq2seq {name}") for line in examples if line.strip())
    for action in p._actions:  # every option with a real default says what it is
        if action.option_strings and action.default not in (None, False, [], "==SUPPRESS==") and action.help:
            assert "default" in p._get_formatter()._get_help_string(action), (name, action.option_strings)
