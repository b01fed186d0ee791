"""Errors a user can cause: the CLI prints the message as one line and exits non-zero."""


class LaokeError(Exception):
    """A user-facing error whose message names the file, row and field where it can."""
