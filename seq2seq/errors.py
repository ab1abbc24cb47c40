"""The one exception type for a user's mistake: the CLI shows it as one `error:` line (exit 2), the server as a 4xx."""


class UserError(Exception):
    """A problem with the user's input (file, config, argument): shown as one line, exit code 2."""
