"""seq2seq: recurrent encoder-decoder models for translation and image captioning."""

__version__ = "0.1.0"


class UserError(Exception):
    """A problem with the user's input (file, config, argument): shown as one line, exit code 2."""
