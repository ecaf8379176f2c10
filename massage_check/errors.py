"""Errors the CLI turns into one clear line and exit code 2 (no traceback)."""


class UserError(Exception):
    """A problem the user can fix: bad file, missing model, no microphone..."""
