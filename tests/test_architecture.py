"""Import boundaries, checked on the source: the e2b SDK only behind the sandbox package, no UI toolkit in the
core, the embedded sandbox server on its own, and the page never reaching into that server."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    """Absolute module names a file imports; relative imports are resolved against the file's own package."""
    package = list(path.relative_to(ROOT).parts[:-1])  # a module's package, or an __init__'s own
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                names.add(node.module or "")
                continue
            base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
            if node.module:
                names.add(".".join([*base, node.module]))
            else:  # from . import a, b: each name may be a module of that package
                names.update(".".join([*base, alias.name]) for alias in node.names)
    return names


def _files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in sorted((ROOT / folder).rglob("*.py"))]


def _offenders(files: list[Path], bad) -> list[str]:
    return [f"{p.relative_to(ROOT)}: {name}" for p in files for name in sorted(_imports(p)) if bad(name)]


def _is(name: str, *modules: str) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def test_only_the_sandbox_package_imports_the_e2b_sdk():
    files = [p for p in _files("agent", "webui") if not p.is_relative_to(ROOT / "agent" / "sandbox")
             and not p.is_relative_to(ROOT / "agent" / "localbox")] + [ROOT / "app.py"]
    assert _offenders(files, lambda n: _is(n, "e2b", "e2b_code_interpreter", "e2b_charts")) == []


def test_the_local_server_uses_only_e2bs_protocol_modules_not_its_client():
    # agent/localbox is the server side of E2B's protocol: it may use the SDK's generated protocol modules
    # (e2b.envd.*) and, inside the sandbox's kernel, e2b_charts; never the client SDK itself.
    bad = lambda n: _is(n, "e2b", "e2b_code_interpreter") and not _is(n, "e2b.envd")  # noqa: E731
    assert _offenders(_files("agent/localbox"), bad) == []


def test_the_core_imports_no_ui_toolkit():
    assert _offenders(_files("agent"), lambda n: _is(n, "gradio", "webui")) == []


def test_localbox_imports_nothing_of_the_agent_outside_itself():
    files = _files("agent/localbox")
    assert files
    assert _offenders(files, lambda n: _is(n, "agent") and not _is(n, "agent.localbox")) == []


def test_the_page_never_imports_the_local_sandbox_server():
    assert _offenders(_files("webui") + [ROOT / "app.py"], lambda n: _is(n, "agent.localbox")) == []


def test_the_checks_see_imports():
    """The checker itself: it finds the imports it is meant to forbid."""
    assert "e2b_code_interpreter" in _imports(ROOT / "agent" / "sandbox" / "provider.py")
    assert "gradio" in _imports(ROOT / "webui" / "render" / "blocks.py")
    assert "agent.localbox.capabilities" in _imports(ROOT / "agent" / "localbox" / "jail.py"), "relative imports"


MAX_MODULE_LINES = 450


def test_no_module_of_the_app_or_its_tools_is_over_450_lines():
    """One job per module: the app, the sandbox server, the page, the shared test support, scripts and benchmarks."""
    files = _files("agent", "webui", "tests/support", "scripts", "bench") + [ROOT / "app.py"]
    long = {str(p.relative_to(ROOT)): n for p in files if (n := len(p.read_text(encoding="utf-8").splitlines()))
            > MAX_MODULE_LINES}
    assert files and long == {}, f"over {MAX_MODULE_LINES} lines: {long}"
