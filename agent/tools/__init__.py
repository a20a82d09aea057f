"""Every tool Claude can use in the sandbox. Reading this list tells you everything the agent can do.

Each tool is one decorated async function (see ``agent.tools.registry`` and docs/agent.md, "Adding a tool");
to offer a new one, write it and add it here.
"""

from __future__ import annotations

from agent.tools.code import execute_code
from agent.tools.command import run_command
from agent.tools.edit import edit_file
from agent.tools.files import list_files, read_file, write_file
from agent.tools.registry import Display, Tool, ToolContext, tool

TOOLS: tuple[Tool, ...] = (
    execute_code,  # run Python (stateful, like a notebook), JavaScript or bash code; charts come back as images
    write_file,    # create or overwrite a whole file
    edit_file,     # replace an exact piece of text in a file (the rest stays byte for byte)
    read_file,     # read a text file (images are shown to the user)
    run_command,   # a shell command with live output, a time limit, or left running in the background
    list_files,    # what is in a folder, two levels deep
)


def default_tools() -> list[Tool]:
    """The tools every session offers the model, in the order it sees them."""
    return list(TOOLS)


__all__ = ["TOOLS", "Display", "Tool", "ToolContext", "default_tools", "tool"]
