"""The tools the model can call, one module per family; ``default_tools()`` is the set every session gets."""

from __future__ import annotations

from agent.tools.base import Tool, ToolContext, ToolInputError
from agent.tools.code import ExecuteCode
from agent.tools.command import RunCommand
from agent.tools.files import ListFiles, ReadFile, WriteFile


def default_tools() -> list[Tool]:
    return [ExecuteCode(), WriteFile(), ReadFile(), RunCommand(), ListFiles()]


__all__ = ["Tool", "ToolContext", "ToolInputError", "default_tools"]
