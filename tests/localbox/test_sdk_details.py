"""Smaller parts of E2B's SDK surface, through the unmodified SDK (sync and async), as E2B documents them and as its
public test suites exercise them: symlink entry info, per-command environment scoping, a command timeout shorter
than the command, signed URLs that expire, and code contexts (language, cwd, list, restart, remove)."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator

import httpx
import pytest
from e2b import FileType, TimeoutException
from e2b_code_interpreter import AsyncSandbox, Sandbox

from tests.support.localbox_fixtures import async_sandbox_for, sandbox_for


@pytest.fixture(scope="module")
def sandbox(localbox) -> Iterator[Sandbox]:
    """One sandbox for the module (each test uses its own paths), to spare a jail start per test."""
    yield from sandbox_for(localbox, timeout=600)


def run(coro):
    return asyncio.run(coro)


# ---- symlinks --------------------------------------------------------------------------------------------------
def test_relative_symlink_reports_its_absolute_target(sandbox) -> None:
    sandbox.files.make_dir("links")
    sandbox.files.write("links/real.txt", "real")
    sandbox.commands.run("ln -s real.txt alias.txt", cwd="/home/user/links")
    info = sandbox.files.get_info("links/alias.txt")
    assert info.type == FileType.SYMLINK
    assert info.symlink_target == "/home/user/links/real.txt"
    listed = {e.name: e for e in sandbox.files.list("links")}
    assert listed["alias.txt"].symlink_target == "/home/user/links/real.txt"
    assert listed["real.txt"].symlink_target is None


def test_dangling_symlink_still_has_an_absolute_target(sandbox) -> None:
    sandbox.commands.run("mkdir -p /home/user/dangle && ln -s ../nowhere/x.txt /home/user/dangle/broken")
    info = sandbox.files.get_info("dangle/broken")
    assert info.symlink_target == "/home/user/nowhere/x.txt"


def test_async_symlink_entry_info(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            await sbx.files.write("alinks/real.txt", "real")
            await sbx.commands.run("ln -s real.txt alias.txt && ln -s ../gone.txt broken", cwd="/home/user/alinks")
            info = await sbx.files.get_info("alinks/alias.txt")
            assert (info.type, info.symlink_target) == (FileType.SYMLINK, "/home/user/alinks/real.txt")
            listed = {e.name: e.symlink_target for e in await sbx.files.list("alinks")}
            assert listed == {"alias.txt": "/home/user/alinks/real.txt", "broken": "/home/user/gone.txt",
                              "real.txt": None}

    run(scenario())


# ---- per-command environment -----------------------------------------------------------------------------------
def test_command_envs_do_not_reach_later_commands(sandbox) -> None:
    first = sandbox.commands.run("echo $LB_SCOPED", envs={"LB_SCOPED": "only-once"})
    assert first.stdout.strip() == "only-once"
    later = sandbox.commands.run('echo "[$LB_SCOPED]"')
    assert later.stdout.strip() == "[]"
    py = sandbox.commands.run("python3 -c \"import os; print(os.environ['LB_PY'])\"", envs={"LB_PY": "py"})
    assert py.stdout.strip() == "py"


def test_async_command_envs_are_scoped(localbox) -> None:
    async def scenario() -> None:
        sbx = await AsyncSandbox.create(envs={"LB_BASE": "base"}, **localbox.sdk_options())
        try:
            got = await sbx.commands.run('echo "$LB_BASE $LB_ONE"', envs={"LB_ONE": "one"})
            assert got.stdout.strip() == "base one"
            again = await sbx.commands.run('echo "$LB_BASE [$LB_ONE]"')
            assert again.stdout.strip() == "base []"
        finally:
            await sbx.kill()

    run(scenario())


# ---- command timeout -------------------------------------------------------------------------------------------
def test_timeout_shorter_than_the_command(sandbox) -> None:
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        sandbox.commands.run("sleep 20", timeout=2)
    assert time.monotonic() - started < 10


def test_timeout_ends_an_iterated_background_command(sandbox) -> None:
    handle = sandbox.commands.run("sleep 20", timeout=2, background=True)
    started = time.monotonic()
    with pytest.raises(TimeoutException):
        for _ in handle:
            pass
    assert time.monotonic() - started < 10


def test_async_timeout_shorter_than_the_command(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            started = time.monotonic()
            with pytest.raises(TimeoutException):
                await sbx.commands.run("sleep 20", timeout=2)
            handle = await sbx.commands.run("sleep 20", timeout=2, background=True)
            with pytest.raises(TimeoutException):
                await handle.wait()
            assert time.monotonic() - started < 15
            assert (await sbx.commands.run("echo ok")).stdout.strip() == "ok"

    run(scenario())


# ---- signed URLs -----------------------------------------------------------------------------------------------
def _http_error(url: str) -> tuple[int, dict]:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url, timeout=30)
    return caught.value.code, json.loads(caught.value.read().decode())


def test_expired_download_url_is_refused_with_e2bs_message(sandbox) -> None:
    sandbox.files.write("expired.txt", "secret")
    url = sandbox.download_url("expired.txt", "user", use_signature_expiration=-60)
    assert _http_error(url) == (401, {"code": 401, "message": "signature is already expired"})


def test_unexpired_download_and_upload_urls_work(sandbox) -> None:
    sandbox.files.write("fresh.txt", "fresh content")
    with urllib.request.urlopen(sandbox.download_url("fresh.txt", "user", 120), timeout=30) as response:
        assert response.read().decode() == "fresh content"
    upload = sandbox.upload_url("up.txt", "user", use_signature_expiration=120)
    boundary = "lbboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"up.txt\"\r\n\r\n"
            f"uploaded\r\n--{boundary}--\r\n").encode()
    request = urllib.request.Request(upload, data=body, method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
    assert sandbox.files.read("up.txt") == "uploaded"


def test_expired_upload_url_writes_nothing(sandbox) -> None:
    upload = sandbox.upload_url("late.txt", "user", use_signature_expiration=-1)
    request = urllib.request.Request(upload, data=b"late", method="POST",
                                     headers={"Content-Type": "application/octet-stream"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code == 401
    assert not sandbox.files.exists("late.txt")


def test_a_forged_expiration_is_not_an_expired_signature(sandbox) -> None:
    """The expiration is part of what is signed: changing it makes the URL invalid, not merely expired."""
    sandbox.files.write("forged.txt", "x")
    url = sandbox.download_url("forged.txt", "user", use_signature_expiration=120)
    forged = url.replace("signature_expiration=", "signature_expiration=1")
    code, payload = _http_error(forged)
    assert code == 401 and payload["message"] != "signature is already expired"


def test_async_signed_urls_expire(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx, httpx.AsyncClient(timeout=30) as client:
            await sbx.files.write("async-signed.txt", "signed")
            fresh = await client.get(sbx.download_url("async-signed.txt", "user", use_signature_expiration=120))
            assert (fresh.status_code, fresh.text) == (200, "signed")
            expired = await client.get(sbx.download_url("async-signed.txt", "user", use_signature_expiration=-60))
            assert (expired.status_code, expired.json()) == (401, {"code": 401,
                                                                   "message": "signature is already expired"})
            late = await client.post(sbx.upload_url("async-late.txt", "user", use_signature_expiration=-1),
                                     content=b"late", headers={"Content-Type": "application/octet-stream"})
            assert late.status_code == 401
            assert not await sbx.files.exists("async-late.txt")

    run(scenario())


# ---- code contexts ---------------------------------------------------------------------------------------------
def test_default_contexts_include_python_and_javascript(sandbox) -> None:
    languages = [c.language for c in sandbox.list_code_contexts()]
    assert "python" in languages and "javascript" in languages


def test_context_in_root_directory(sandbox) -> None:
    ctx = sandbox.create_code_context(language="python", cwd="/root")
    assert (ctx.language, ctx.cwd) == ("python", "/root")
    last = sandbox.list_code_contexts()[-1]
    assert (last.id, last.language, last.cwd) == (ctx.id, "python", "/root")
    assert sandbox.run_code("import os; os.getcwd()", context=ctx).text == "/root"
    assert sandbox.run_code("open('here.txt', 'w').write('x')", context=ctx).error is None
    sandbox.remove_code_context(ctx.id)


def test_javascript_context_runs_in_its_cwd(sandbox) -> None:
    ctx = sandbox.create_code_context(language="javascript", cwd="/tmp")
    assert (ctx.language, ctx.cwd) == ("javascript", "/tmp")
    execution = sandbox.run_code("console.log(process.cwd())", context=ctx)
    assert execution.logs.stdout == ["/tmp\n"]
    sandbox.remove_code_context(ctx)
    assert ctx.id not in {c.id for c in sandbox.list_code_contexts()}


def test_context_with_a_missing_cwd_is_refused(sandbox) -> None:
    with pytest.raises(Exception) as caught:
        sandbox.create_code_context(cwd="/home/user/no/such/dir")
    assert "does not exist" in str(caught.value)


def test_async_contexts_create_list_restart_remove(localbox) -> None:
    async def scenario() -> None:
        async with async_sandbox_for(localbox) as sbx:
            ctx = await sbx.create_code_context(cwd="/root")
            assert (await sbx.run_code("x = 1", context=ctx)).error is None
            await sbx.restart_code_context(ctx.id)
            gone = await sbx.run_code("x", context=ctx)
            assert gone.error is not None and gone.error.value == "name 'x' is not defined"
            assert (await sbx.run_code("import os; os.getcwd()", context=ctx)).text == "/root"
            contexts = await sbx.list_code_contexts()
            assert {"python", "javascript"} <= {c.language for c in contexts}
            await sbx.remove_code_context(ctx.id)
            assert ctx.id not in {c.id for c in await sbx.list_code_contexts()}

    run(scenario())
