"""The core's own sandbox exceptions: what callers catch instead of the e2b SDK's classes.

The facade (``agent.sandbox.facade``) turns every SDK exception into one of these by its type, so nothing
outside this package needs to know the SDK or match an error's text. ``str(exc)`` is plain words.
"""

from __future__ import annotations


class SandboxError(Exception):
    """Something went wrong talking to a sandbox (base class; the session checks whether the sandbox died)."""


class SandboxGone(SandboxError):
    """The sandbox is not running any more (killed, timed out, or unreachable)."""


class SandboxTimeout(SandboxError):
    """A run went past the time limit the caller gave; the sandbox itself may be fine."""


class PathNotFound(SandboxError):
    """The file or folder does not exist in the sandbox."""


class TooLarge(SandboxError):
    """The data does not fit (disk full, or over the sandbox's size limit)."""


class SandboxUnavailable(SandboxError):
    """No sandbox can be had; ``str(exc)`` is plain words for a person (never a key, never a traceback)."""


class SandboxReset(SandboxUnavailable):
    """The sandbox a tool was waiting for was thrown away by a reset (the user asked for a fresh one)."""
