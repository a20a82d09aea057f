"""run_code through the unmodified e2b-code-interpreter SDK: streaming, state, rich results, errors, contexts,
timeouts and languages."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator

import pytest
from e2b import TimeoutException
from e2b_code_interpreter import Sandbox, SandboxException

from tests.localbox.helpers import extra_sandbox, wait_for
from tests.support.localbox_fixtures import sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    """One sandbox (one kernel) for this module: tests use their own variable names, and sharing the kernel also
    checks it stays healthy across errors, interrupts and context restarts. Saves a jail start per test."""
    yield from sandbox_for(localbox, timeout=600)


def test_plain_expression_is_the_main_result(sandbox) -> None:
    execution = sandbox.run_code("1 + 1")
    assert execution.error is None, execution.error
    assert execution.text == "2"
    assert len(execution.results) == 1
    assert execution.results[0].is_main_result is True


def test_state_persists_across_calls(sandbox) -> None:
    assert sandbox.run_code("counter = 41").error is None
    assert sandbox.run_code("counter += 1").error is None
    assert sandbox.run_code("counter").text == "42"


def test_stdout_and_stderr_callbacks_stream_before_the_end(sandbox) -> None:
    seen: list[tuple[str, str, float]] = []
    lock = threading.Lock()

    def record(stream: str):
        def handler(message) -> None:
            with lock:
                seen.append((stream, message.line, time.monotonic()))

        return handler

    code = (
        "import sys, time\n"
        "print('first', flush=True)\n"
        "print('oops', file=sys.stderr, flush=True)\n"
        "time.sleep(2.5)\n"
        "print('second', flush=True)\n"
    )
    execution = sandbox.run_code(code, on_stdout=record("stdout"), on_stderr=record("stderr"), timeout=60)
    finished = time.monotonic()
    assert execution.error is None, execution.error
    stdout_lines = [line for stream, line, _ in seen if stream == "stdout"]
    assert "".join(stdout_lines) == "first\nsecond\n"
    assert any("oops" in line for stream, line, _ in seen if stream == "stderr")
    first_at = next(at for stream, line, at in seen if stream == "stdout" and "first" in line)
    assert finished - first_at >= 1.5, "the first line must reach the callback while the code still runs"
    assert "".join(execution.logs.stdout) == "first\nsecond\n"
    assert "oops" in "".join(execution.logs.stderr)


def test_matplotlib_figure_comes_back_as_png(sandbox) -> None:
    code = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.title('local')\nplt.show()\n"
    execution = sandbox.run_code(code, timeout=120)
    assert execution.error is None, execution.error
    pngs = [r.png for r in execution.results if r.png]
    assert pngs, f"no PNG among results: {execution.results!r}"
    raw = base64.b64decode(pngs[0])
    assert raw.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(raw) > 1000


def test_html_display_result(sandbox) -> None:
    execution = sandbox.run_code("from IPython.display import HTML, display\ndisplay(HTML('<b>bold move</b>'))")
    assert execution.error is None, execution.error
    htmls = [r.html for r in execution.results if r.html]
    assert htmls and "<b>bold move</b>" in htmls[0]
    assert execution.results[0].is_main_result is False  # display_data, not execute_result


def test_pandas_dataframe_has_html_and_text(sandbox) -> None:
    code = "import pandas as pd\npd.DataFrame({'city': ['Paris', 'Lyon'], 'n': [3, 5]})"
    execution = sandbox.run_code(code, timeout=120)
    assert execution.error is None, execution.error
    main = [r for r in execution.results if r.is_main_result]
    assert main, execution.results
    assert "<table" in (main[0].html or "")
    assert "Paris" in (main[0].text or "") and "Lyon" in (main[0].text or "")


def test_errors_have_name_value_and_traceback(sandbox) -> None:
    errors = []
    execution = sandbox.run_code("def boom():\n    return 1 / 0\nboom()", on_error=errors.append)
    assert execution.error is not None
    assert execution.error.name == "ZeroDivisionError"
    assert "division by zero" in execution.error.value
    assert "boom" in execution.error.traceback
    assert errors and errors[0].name == "ZeroDivisionError"
    # The kernel still works after an error.
    assert sandbox.run_code("'fine'").text == "fine"


def test_on_result_callback(sandbox) -> None:
    results = []
    sandbox.run_code("'via callback'", on_result=results.append)
    assert [r.text for r in results] == ["via callback"]


def test_per_call_envs_override_sandbox_envs(localbox) -> None:
    with extra_sandbox(localbox, envs={"LB_SCOPE": "sandbox", "LB_ONLY_SANDBOX": "kept"}) as sbx:
        code = "import os; os.environ.get('LB_SCOPE')"
        assert sbx.run_code(code).text == "sandbox"
        assert sbx.run_code(code, envs={"LB_SCOPE": "call"}).text == "call"
        assert sbx.run_code("import os; os.environ.get('LB_ONLY_SANDBOX')", envs={"LB_SCOPE": "call"}).text == "kept"


def test_per_call_envs_do_not_leak_into_later_calls(localbox) -> None:
    with extra_sandbox(localbox, envs={"LB_SCOPE": "sandbox"}) as sbx:
        sbx.run_code("1", envs={"LB_SCOPE": "call", "LB_TEMP": "x"})
        assert sbx.run_code("import os; os.environ.get('LB_SCOPE')").text == "sandbox"
        assert sbx.run_code("import os; repr(os.environ.get('LB_TEMP'))").text == "None"


def test_working_directory_is_home_user(sandbox) -> None:
    assert sandbox.run_code("import os; os.getcwd()").text == "/home/user"
    assert sandbox.run_code("import os; os.path.expanduser('~')").text == "/home/user"


def test_contexts_create_list_restart_remove(sandbox) -> None:
    ctx = sandbox.create_code_context(cwd="/tmp")
    assert ctx.id
    assert ctx.language == "python"
    assert ctx.cwd == "/tmp"
    assert sandbox.run_code("import os; os.getcwd()", context=ctx).text == "/tmp"

    sandbox.run_code("only_here = 7", context=ctx)
    assert sandbox.run_code("only_here", context=ctx).text == "7"
    default = sandbox.run_code("only_here")
    assert default.error is not None and default.error.name == "NameError", "contexts must not share state"

    assert ctx.id in {c.id for c in sandbox.list_code_contexts()}

    sandbox.restart_code_context(ctx)
    after_restart = sandbox.run_code("only_here", context=ctx)
    assert after_restart.error is not None and after_restart.error.name == "NameError"

    sandbox.remove_code_context(ctx)
    assert ctx.id not in {c.id for c in sandbox.list_code_contexts()}


def test_timeout_raises_and_kernel_is_free_again(sandbox) -> None:
    sandbox.run_code("before_timeout = 'kept'")
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sandbox.run_code("import time\ntime.sleep(120)", timeout=3)
    assert time.monotonic() - started < 30
    # The server interrupts the kernel when the client goes away: it is usable again within seconds.
    execution = wait_for(
        lambda: (lambda e: e if e.text == "kept" else None)(sandbox.run_code("before_timeout", timeout=10)),
        timeout=30,
        what="the kernel to be free after a timed-out execution",
    )
    assert execution.error is None


def test_infinite_loop_is_interrupted(sandbox) -> None:
    with pytest.raises(TimeoutException):
        sandbox.run_code("while True:\n    pass", timeout=3)
    execution = wait_for(
        lambda: (lambda e: e if e.text == "2" else None)(sandbox.run_code("1 + 1", timeout=10)),
        timeout=30,
        what="the busy loop to be interrupted",
    )
    assert execution.error is None


def _works_or_clear_error(sandbox, code: str, language: str, expected: str) -> None:
    """Either the language works, or the SDK user gets a clear error saying so (no silent empty result)."""
    try:
        execution = sandbox.run_code(code, language=language, timeout=60)
    except SandboxException as exc:
        assert language in str(exc).lower() or "support" in str(exc).lower(), f"unclear error: {exc}"
        return
    if execution.error is not None:
        message = f"{execution.error.name} {execution.error.value}".lower()
        assert language in message or "support" in message, f"unclear error: {execution.error!r}"
        return
    produced = "".join(execution.logs.stdout) + "".join(r.text or "" for r in execution.results)
    assert expected in produced, f"{language} ran but produced {produced!r}"


def test_javascript_works_or_fails_clearly(sandbox) -> None:
    _works_or_clear_error(sandbox, "console.log(20 + 22)", "javascript", "42")


def test_bash_works_or_fails_clearly(sandbox) -> None:
    _works_or_clear_error(sandbox, "echo $((40 + 2))", "bash", "42")


def test_unknown_language_is_a_clear_error(sandbox) -> None:
    with pytest.raises(SandboxException):
        execution = sandbox.run_code("print(1)", language="cobol-85", timeout=30)
        if execution.error is not None:  # an error inside the execution is acceptable too
            raise SandboxException(execution.error.value)
