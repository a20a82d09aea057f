"""The "e2b" provider path — the one used with E2B's cloud — exercised against our E2B-compatible local server
through E2B_API_URL / E2B_SANDBOX_URL: sandboxes are created and tagged, and orphans of an earlier process of the
same deployment are reaped while everything else is spared."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Iterator

import pytest
from e2b_code_interpreter import AsyncSandbox, Sandbox

from agent.config import APP_NAME, Settings
from agent.sandbox import DEFAULT_OWNER, PROCESS_ID, SandboxProvider
from tests.agent.helpers import run


def _e2b_settings(localbox) -> Settings:
    return Settings.from_env(env={}, dotenv_path=None).replace(
        sandbox="e2b", e2b_api_key=localbox.api_key, e2b_api_url=localbox.url, e2b_sandbox_url=localbox.url)


def test_e2b_provider_creates_tagged_sandboxes_and_reaps_only_orphans(localbox):
    settings = _e2b_settings(localbox)
    assert settings.kind == "e2b"
    provider = SandboxProvider.from_settings(settings)
    opts = localbox.sdk_options()
    orphan = Sandbox.create(metadata={"app": APP_NAME, "owner": DEFAULT_OWNER, "process": "crashed-1"}, **opts)
    stranger = Sandbox.create(metadata={"app": APP_NAME, "owner": "another-deployment", "process": "x"}, **opts)
    unrelated = Sandbox.create(metadata={"purpose": "not ours"}, **opts)
    # a second, live instance of the app on this host (same owner): the test process's pid stands in for it
    sibling = Sandbox.create(metadata={"app": APP_NAME, "owner": DEFAULT_OWNER, "process": f"{os.getpid()}-other"},
                             **opts)
    try:
        async def scenario():
            mine = await provider.create({"session": "tab-1"})
            try:
                info = await AsyncSandbox.get_info(mine.sandbox_id, **opts)
                _, stdout = await mine.run_command("echo from-e2b-path")
                killed = await provider.reap_orphans()
                return info.metadata, stdout, killed, await mine.is_running()
            finally:
                await mine.kill()

        metadata, stdout, killed, mine_alive = run(scenario())
        assert metadata["app"] == APP_NAME and metadata["owner"] == DEFAULT_OWNER
        assert metadata["process"] == PROCESS_ID and metadata["session"] == "tab-1", metadata
        assert stdout.strip() == "from-e2b-path"
        assert killed == 1, f"exactly the orphan should be reaped, got {killed}"
        assert mine_alive, "the current process's own sandbox must survive reaping"
        assert not orphan.is_running(), "the orphan of an earlier process should have been killed"
        assert stranger.is_running(), "another deployment's sandbox must be spared"
        assert unrelated.is_running(), "sandboxes not made by this app must be spared"
        assert sibling.is_running(), "a live instance's sandbox on the same host must be spared"
    finally:
        for sbx in (orphan, stranger, unrelated, sibling):
            try:
                sbx.kill()
            except Exception:
                pass


def test_e2b_provider_with_a_wrong_key_says_so_in_plain_words(localbox):
    from agent.sandbox import SandboxUnavailable

    provider = SandboxProvider.from_settings(_e2b_settings(localbox).replace(e2b_api_key="wrong-key"))

    async def scenario():
        try:
            await provider.create({})
        except SandboxUnavailable as exc:
            return str(exc)
        return None

    message = run(scenario())
    assert message is not None, "creating a sandbox with a wrong key must fail"
    assert "API key" in message and "Traceback" not in message and "wrong-key" not in message, message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _hanging_up_server() -> Iterator[int]:
    """A loopback server that accepts each connection and closes it without a word (a service that died mid-call)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_unreachable_sandbox_service_is_said_in_plain_words_whatever_the_transport_error():
    """Refused, or accepted and hung up on (httpx's RemoteProtocolError): both are "could not reach", chosen by the
    exception's type, and the person never reads an SDK class name."""
    from agent.sandbox import SandboxUnavailable

    async def attempt(port: int) -> str:
        url = f"http://127.0.0.1:{port}"
        settings = Settings.from_env(env={}, dotenv_path=None).replace(
            sandbox="e2b", e2b_api_key="e2b_" + "0" * 40, e2b_api_url=url, e2b_sandbox_url=url)
        with pytest.raises(SandboxUnavailable) as caught:
            await SandboxProvider.from_settings(settings).create({})
        return str(caught.value)

    with _hanging_up_server() as port:
        messages = [run(attempt(_closed_port())), run(attempt(port))]
    for message in messages:
        assert message.startswith("Could not reach E2B's sandbox service"), messages
        assert not re.search(r"[a-z][A-Z]\w*(Error|Exception)", message), f"an SDK class name is shown: {message}"
