"""The async SDK (`AsyncSandbox`) against the local server: the agent's server side uses it, so the same surface
has to work there too. Driven with asyncio.run so no pytest plugin is needed."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from e2b import CommandExitException, SandboxNotFoundException, SandboxQuery, TimeoutException
from e2b_code_interpreter import AsyncSandbox

from tests.support.localbox_fixtures import async_sandbox_for


def run(coro):
    return asyncio.run(coro)


def test_async_lifecycle_and_run_code(localbox) -> None:
    async def scenario() -> None:
        tag = uuid.uuid4().hex
        sbx = await AsyncSandbox.create(
            template="code-interpreter-v1", timeout=120, metadata={"async-tag": tag}, envs={"LB_A": "async"},
            **localbox.sdk_options(),
        )
        try:
            assert await sbx.is_running()
            execution = await sbx.run_code("import os; os.environ['LB_A']")
            assert execution.text == "async"
            await sbx.run_code("x = 20")
            assert (await sbx.run_code("x + 22")).text == "42"
            server_port = localbox.url.rsplit(":", 1)[1]
            assert sbx.get_host(8000) == f"8000-{sbx.sandbox_id}.localhost:{server_port}"  # served by Host header
            info = await sbx.get_info()
            assert info.metadata["async-tag"] == tag
            listed = await AsyncSandbox.list(query=SandboxQuery(metadata={"async-tag": tag}), **localbox.sdk_options()).next_items()
            assert [i.sandbox_id for i in listed] == [sbx.sandbox_id]
            await sbx.set_timeout(60)
            again = await AsyncSandbox.connect(sbx.sandbox_id, **localbox.sdk_options())
            assert (await again.run_code("x")).text == "20"
        finally:
            await sbx.kill()
        assert await sbx.is_running() is False
        with pytest.raises(SandboxNotFoundException):
            await AsyncSandbox.get_info(sbx.sandbox_id, **localbox.sdk_options())

    run(scenario())


def test_async_streaming_callbacks(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            arrivals: list[tuple[str, float]] = []

            async def on_stdout(message) -> None:  # async callbacks are allowed by the async SDK
                arrivals.append((message.line, time.monotonic()))

            code = "import time\nprint('a', flush=True)\ntime.sleep(2)\nprint('b', flush=True)"
            await sbx.run_code(code, on_stdout=on_stdout, timeout=60)
            done = time.monotonic()
            assert "".join(line for line, _ in arrivals) == "a\nb\n"
            assert done - arrivals[0][1] >= 1.2

            chunks: list[str] = []
            result = await sbx.commands.run("echo one; sleep 1; echo two", on_stdout=chunks.append)
            assert result.stdout == "one\ntwo\n"
            assert "".join(chunks) == "one\ntwo\n"

    run(scenario())


def test_async_files_commands_and_errors(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            await sbx.files.write("/home/user/async/ça.txt", "données")
            assert await sbx.files.read("/home/user/async/ça.txt") == "données"
            assert await sbx.files.exists("/home/user/async")
            names = [e.name for e in await sbx.files.list("/home/user/async")]
            assert names == ["ça.txt"]
            await sbx.files.remove("/home/user/async/ça.txt")
            assert not await sbx.files.exists("/home/user/async/ça.txt")

            with pytest.raises(CommandExitException) as caught:
                await sbx.commands.run("exit 5")
            assert caught.value.exit_code == 5

            handle = await sbx.commands.run("sleep 300", background=True)
            assert await sbx.commands.kill(handle.pid)

            with pytest.raises(TimeoutException):
                await sbx.run_code("import time; time.sleep(60)", timeout=2)
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await sbx.run_code("'free'", timeout=10)).text == "free":
                        break
                except TimeoutException:
                    pass
                assert time.monotonic() < deadline, "kernel not free after an async timeout"
                await asyncio.sleep(0.5)

            error = (await sbx.run_code("raise ValueError('async boom')")).error
            assert error is not None and error.name == "ValueError" and "async boom" in error.value

    run(scenario())


def test_async_concurrent_sandboxes(localbox) -> None:
    """Several sandboxes created and used at once (the web app serves several browser sessions)."""

    async def one(i: int) -> str:
        async with async_sandbox_for(localbox) as sbx:
            await sbx.files.write("/home/user/id.txt", str(i))
            execution = await sbx.run_code("open('/home/user/id.txt').read()")
            return execution.text

    async def scenario() -> list[str]:
        return await asyncio.gather(*(one(i) for i in range(4)))

    assert run(scenario()) == ["0", "1", "2", "3"]
