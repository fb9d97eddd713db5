"""The one error type a user can cause: the CLI prints it as one line and exits non-zero."""


class UserError(Exception):
    """A mistake in what the user gave us (a missing file, a bad camera, a wrong model), not a bug."""
