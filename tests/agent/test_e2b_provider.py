"""The "e2b" provider path — the one used with E2B's cloud — exercised against our E2B-compatible local server
through E2B_API_URL / E2B_SANDBOX_URL: sandboxes are created and tagged, and orphans of an earlier process of the
same deployment are reaped while everything else is spared."""

from __future__ import annotations

import os

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
