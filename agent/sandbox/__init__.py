"""The sandbox: the only part of the agent that talks to the e2b SDK.

- ``provider``: where sandboxes come from (E2B's cloud or the embedded local server), one per process;
- ``facade``: ``Sandbox``, what the agent does with one sandbox, in the core's own types;
- ``errors``: the core's exceptions, which the facade turns every SDK exception into (by type).
"""

from agent.sandbox.errors import (
    PathNotFound,
    SandboxError,
    SandboxGone,
    SandboxReset,
    SandboxTimeout,
    SandboxUnavailable,
    TooLarge,
)
from agent.sandbox.facade import CodeError, CodeRun, Command, Entry, RichOutput, Sandbox
from agent.sandbox.provider import DEFAULT_OWNER, PROCESS_ID, SandboxProvider

__all__ = [
    "DEFAULT_OWNER", "PROCESS_ID", "CodeError", "CodeRun", "Command", "Entry", "PathNotFound", "RichOutput",
    "Sandbox", "SandboxError", "SandboxGone", "SandboxProvider", "SandboxReset", "SandboxTimeout",
    "SandboxUnavailable", "TooLarge",
]
