"""The tool framework: a tool is a typed async function; ``@tool`` makes it something the model can call.

The decorator reads everything from the function itself: the name, the description (the docstring), and
the input schema with its validation (the parameters after ``ctx``: ``Annotated[type, "what it is"]`` for a
field's description, ``Literal[...]`` for a choice, a default for an optional field), built with pydantic.
Input that does not fit becomes an error result the model can read (which field, why), never an exception.
``Display`` says how people see a call, so the page and the terminal show any tool without naming it.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from agent.events import Artifact, ToolResult
from agent.sandbox import Sandbox
from agent.tools.base import make_result


@dataclass(frozen=True)
class ToolContext:
    """What a running tool may use: the session's sandbox (created or revived on demand) and a live-output sink."""

    sandbox: Callable[[], Awaitable[Sandbox]]
    output: Callable[[Literal["stdout", "stderr"], str], None]
    timeout_s: float
    max_output_chars: int
    # E2B's cloud interpreter keeps running a cell when its client goes away (the local server interrupts it
    # itself), so on cancel/timeout the tool interrupts the kernel explicitly (SIGINT keeps the kernel's state).
    interrupt_kernel_on_stop: bool = False

    def result(self, text: str, *, is_error: bool = False, artifacts: tuple[Artifact, ...] = ()) -> ToolResult:
        """A result whose text for the model fits its budget (head and tail kept); the uncut text is kept for people."""
        return make_result(text, is_error=is_error, artifacts=artifacts, limit=self.max_output_chars)


@dataclass(frozen=True)
class Display:
    """How a call is shown to people (page and terminal); every field names one of the tool's arguments.

    ``title``: its value follows the tool's name in the step title (or its default, once input arrived).
    ``code``: shown as a code block, after ``prefix``, in ``language`` / the language ``language_arg`` names /
    the language of ``language_from_path``'s file extension. ``path``: shown as a file name above the code.
    ``diff``: two arguments (old, new text) shown as a diff.
    ``doing`` / ``done``: the step's title in plain words while the call runs / once it ended, e.g.
    ``"Ran a command[: {command}]"``: ``{arg}`` is an argument's value (its default once input arrived; a
    language argument reads "Python"); ``[...]`` is left out while an argument in it is empty, and
    ``[A|B]`` reads B then. Without them a step is titled with the tool's name and its ``title`` argument.
    """

    title: str | None = None
    code: str | None = None
    language: str = ""
    language_arg: str | None = None
    language_from_path: str | None = None
    prefix: str = ""
    path: str | None = None
    diff: tuple[str, str] | None = None
    doing: str = ""
    done: str = ""


ToolFunction = Callable[..., Awaitable["ToolResult | str"]]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    params: type[BaseModel]
    function: ToolFunction = field(repr=False)
    display: Display = Display()

    def spec(self) -> dict[str, Any]:
        """The tool definition sent to the model; input streams eagerly so people see code as it is written."""
        return {"name": self.name, "description": self.description, "input_schema": self.input_schema,
                "eager_input_streaming": True}

    @property
    def input_schema(self) -> dict[str, Any]:
        return _schema(self.params)

    def default(self, arg: str) -> Any:
        """An argument's default value (None when it has none)."""
        info = self.params.model_fields.get(arg)
        return None if info is None or info.is_required() else info.default

    async def run(self, args: Any, ctx: ToolContext) -> ToolResult:
        """Validate the model's input and run; bad input is an error result naming the field and the reason."""
        try:
            parsed = self.params.model_validate(args if args is not None else {})
        except ValidationError as exc:
            return ToolResult(output=f"Invalid input for {self.name}: {explain(exc)}", is_error=True)
        out = await self.function(ctx, **{k: getattr(parsed, k) for k in self.params.model_fields})
        return ctx.result(out) if isinstance(out, str) else out


# Every tool ever defined, by name, so a renderer can find any tool's display hints (set at import, never per session).
_DEFINED: dict[str, Tool] = {}


def defined_tool(name: str) -> Tool | None:
    return _DEFINED.get(name)


def tool(function: ToolFunction | None = None, *, display: Display = Display()) -> Any:
    """Make ``async def name(ctx, arg: Annotated[type, "description"] = default, ...)`` a ``Tool``.

    Use as ``@tool`` or ``@tool(display=Display(...))``. The function returns a ``ToolResult``, or a string
    (a successful result, cut to the model's budget).
    """

    def make(fn: ToolFunction) -> Tool:
        made = Tool(name=fn.__name__, description=_describe(fn), params=_params_model(fn), function=fn,
                    display=display)
        _DEFINED[made.name] = made
        return made

    return make(function) if function is not None else make


def explain(exc: ValidationError) -> str:
    """Pydantic's validation errors as one sentence the model can act on: which field, and why."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "input"
        why = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"'{where}': {why}")
    return "; ".join(parts) + "."


def _describe(fn: ToolFunction) -> str:
    """The docstring, each paragraph on one line."""
    doc = inspect.cleandoc(fn.__doc__ or "")
    if not doc:
        raise TypeError(f"tool {fn.__name__} needs a docstring: it is the description the model reads")
    return "\n\n".join(" ".join(p.split()) for p in doc.split("\n\n"))


def _params_model(fn: ToolFunction) -> type[BaseModel]:
    hints = typing.get_type_hints(fn, include_extras=True)
    params = list(inspect.signature(fn).parameters.values())[1:]  # the first one is the context
    fields: dict[str, Any] = {}
    for p in params:
        annotation = hints.get(p.name, Any)
        info = FieldInfo() if p.default is inspect.Parameter.empty else FieldInfo(default=p.default)
        if typing.get_origin(annotation) is typing.Annotated:
            base, *extras = typing.get_args(annotation)
            rest = []
            for extra in extras:
                if isinstance(extra, str):
                    info = FieldInfo.merge_field_infos(info, Field(description=extra))
                else:
                    rest.append(extra)
            annotation = typing.Annotated[(base, *rest)] if rest else base
        fields[p.name] = (annotation, info)
    return create_model(f"{fn.__name__}_input", __config__=ConfigDict(extra="ignore"), **fields)


@functools.cache
def _schema(params: type[BaseModel]) -> dict[str, Any]:
    return _tidy(params.model_json_schema())


def _tidy(node: Any) -> Any:
    """The JSON schema without pydantic's generated titles, and ``X | None`` shown as just ``X``."""
    if isinstance(node, list):
        return [_tidy(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key == "title" and isinstance(value, str):
            continue
        if key == "properties":
            out[key] = {name: _tidy(schema) for name, schema in value.items()}
        else:
            out[key] = _tidy(value)
    options = out.get("anyOf")
    if isinstance(options, list) and {"type": "null"} in options and len(options) == 2:
        del out["anyOf"]
        out.update(next(o for o in options if o != {"type": "null"}))
        if out.get("default", 0) is None:
            del out["default"]
    return out
