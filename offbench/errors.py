"""Exceptions that offbench raises for a user's mistake.

A :class:`UserError` is shown to the user as one clear message (exit status 2 on the
command line), never as a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A mistake by the user: shown as a message, exit status 2."""


class InstanceError(UserError, ValueError):
    """An instance that breaks SPEC.md section 3.

    Parameters
    ----------
    path : str
        Where the problem is, as a field path (``jobs[3].bits``); empty for the whole file.
    message : str
        What was expected and what was found.
    """

    def __init__(self, path: str, message: str):
        self.path = path
        self.message = message
        super().__init__(f"{path}: {message}" if path else message)


class DecisionError(UserError, ValueError):
    """A decision that is not a valid placement for the instance (SPEC.md section 4)."""
