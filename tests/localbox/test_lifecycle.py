"""Sandbox lifecycle through the unmodified e2b-code-interpreter SDK: create, kill, timeouts, list, info, auth.

The exception classes asserted here are the ones the E2B cloud produces for the same situation, so code written
against the cloud (the agent's error handling) behaves the same against the local server.
"""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from e2b import (
    AuthenticationException,
    SandboxException,
    SandboxNotFoundException,
    SandboxNotRunningException,
    SandboxQuery,
    TimeoutException,
)
from e2b_code_interpreter import Sandbox

from tests.localbox.helpers import ENVD_PORT, JUPYTER_PORT, extra_sandbox, raw_client, sandbox_headers, wait_for


def test_create_accepts_template_timeout_metadata_and_envs(localbox) -> None:
    tag = uuid.uuid4().hex
    with extra_sandbox(
        localbox,
        template="code-interpreter-v1",
        timeout=120,
        metadata={"purpose": "lifecycle", "tag": tag},
        envs={"LB_GREETING": "hello from envs"},
    ) as sbx:
        assert sbx.sandbox_id
        info = sbx.get_info()
        assert info.sandbox_id == sbx.sandbox_id
        assert info.metadata.get("tag") == tag
        assert info.metadata.get("purpose") == "lifecycle"
        # end_at is ~120 s after start (generous bounds: clocks and rounding differ).
        lifetime = (info.end_at - info.started_at).total_seconds()
        assert 100 <= lifetime <= 140, lifetime

        execution = sbx.run_code("import os; os.environ.get('LB_GREETING')")
        assert execution.error is None, execution.error
        assert execution.text == "hello from envs"

        result = sbx.commands.run("echo \"$LB_GREETING\"")
        assert result.stdout.strip() == "hello from envs"


def test_kill_then_calls_raise_the_cloud_exception_classes(localbox) -> None:
    sbx = Sandbox.create(**localbox.sdk_options())
    sandbox_id = sbx.sandbox_id
    assert sbx.is_running()
    sbx.kill()

    assert sbx.is_running() is False
    # The cloud's proxy answers 502 "...was not found" for a gone sandbox; the SDK maps it per surface:
    with pytest.raises(TimeoutException):
        sbx.run_code("1 + 1", timeout=30)
    with pytest.raises(SandboxNotRunningException):
        sbx.commands.run("echo hi", timeout=30)
    with pytest.raises(SandboxNotRunningException):
        sbx.files.read("/home/user/anything.txt")
    # ...and the control plane answers 404.
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sandbox_id, **localbox.sdk_options())
    with pytest.raises(SandboxNotFoundException):
        Sandbox.set_timeout(sandbox_id, 60, **localbox.sdk_options())
    with pytest.raises(SandboxException):
        Sandbox.connect(sandbox_id, **localbox.sdk_options())
    assert Sandbox.kill(sandbox_id, **localbox.sdk_options()) is False


def test_unknown_sandbox_id_is_not_found(localbox) -> None:
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info("does-not-exist-" + uuid.uuid4().hex[:8], **localbox.sdk_options())
    assert Sandbox.kill("does-not-exist-" + uuid.uuid4().hex[:8], **localbox.sdk_options()) is False


def test_expired_sandbox_is_killed(localbox) -> None:
    sbx = Sandbox.create(timeout=2, **localbox.sdk_options())
    try:
        assert sbx.is_running()
        wait_for(lambda: not sbx.is_running(), timeout=15, what="the 2 s sandbox to expire")
        with pytest.raises(SandboxNotFoundException):
            sbx.get_info()
    finally:
        sbx.kill()


def test_set_timeout_restarts_the_clock(localbox) -> None:
    with extra_sandbox(localbox, timeout=5) as sbx:
        sbx.set_timeout(60)
        time.sleep(7)  # well past the original 5 s deadline
        assert sbx.is_running()
        assert sbx.run_code("1 + 1").text == "2"
        sbx.set_timeout(2)  # shortening works too: the clock restarts from now
        wait_for(lambda: not sbx.is_running(), timeout=15, what="the shortened timeout to kill the sandbox")


def test_connect_returns_a_working_handle_and_extends_timeout(localbox) -> None:
    with extra_sandbox(localbox, timeout=6) as sbx:
        started = time.monotonic()
        sbx.run_code("shared_value = 1234")
        again = Sandbox.connect(sbx.sandbox_id, timeout=60, **localbox.sdk_options())
        assert again.sandbox_id == sbx.sandbox_id
        assert again.run_code("shared_value").text == "1234"
        time.sleep(max(0.0, 8 - (time.monotonic() - started)))  # past the original deadline: connect extended it
        assert again.is_running()


def test_list_filters_by_metadata(localbox) -> None:
    tag = uuid.uuid4().hex
    with extra_sandbox(localbox, metadata={"list-tag": tag, "n": "1"}) as one, extra_sandbox(
        localbox, metadata={"list-tag": tag, "n": "2"}
    ) as two, extra_sandbox(localbox, metadata={"list-tag": "other"}) as other:
        paginator = Sandbox.list(query=SandboxQuery(metadata={"list-tag": tag}), **localbox.sdk_options())
        found = paginator.next_items()
        ids = {info.sandbox_id for info in found}
        assert ids == {one.sandbox_id, two.sandbox_id}
        assert other.sandbox_id not in ids
        for info in found:
            assert info.metadata["list-tag"] == tag
            assert str(info.state).lower().endswith("running")

        everything = Sandbox.list(**localbox.sdk_options()).next_items()
        assert {one.sandbox_id, two.sandbox_id, other.sandbox_id} <= {i.sandbox_id for i in everything}

    after = Sandbox.list(query=SandboxQuery(metadata={"list-tag": tag}), **localbox.sdk_options()).next_items()
    assert after == [], "killed sandboxes must disappear from the list"


def test_get_info_reports_sandbox_fields(sandbox) -> None:
    info = sandbox.get_info()
    assert info.sandbox_id == sandbox.sandbox_id
    assert info.template_id
    assert info.envd_version
    assert info.end_at > info.started_at
    assert info.memory_mb > 0
    assert info.cpu_count > 0


def test_wrong_api_key_raises_authentication_exception(localbox) -> None:
    options = dict(localbox.sdk_options())
    options["api_key"] = "wrong-test-key"
    with pytest.raises(AuthenticationException):
        Sandbox.create(**options)
    with pytest.raises(AuthenticationException):
        Sandbox.list(**options).next_items()


def test_control_plane_rejects_missing_api_key(localbox) -> None:
    with raw_client(localbox) as client:
        assert client.get("/v2/sandboxes").status_code == 401
        assert client.get("/v2/sandboxes", headers={"X-API-KEY": "wrong-test-key"}).status_code == 401
        ok = client.get("/v2/sandboxes", headers={"X-API-KEY": localbox.api_key})
        assert ok.status_code == 200


def test_sandbox_traffic_requires_its_access_token(localbox, sandbox) -> None:
    """Knowing a sandbox id is not enough to run code or read files in it."""
    token = sandbox._envd_access_token
    assert token, "create must return an envdAccessToken so sandbox traffic can be authenticated"
    with raw_client(localbox) as client:
        for bad in ({}, {"X-Access-Token": "not-the-token"}):
            execute = client.post(
                "/execute",
                json={"code": "print('should not run')"},
                headers={**sandbox_headers(sandbox, JUPYTER_PORT), **bad},
            )
            assert execute.status_code in (401, 403), execute.status_code
            files = client.get(
                "/files", params={"path": "/home/user"}, headers={**sandbox_headers(sandbox, ENVD_PORT), **bad}
            )
            assert files.status_code in (401, 403), files.status_code
            rpc = client.post(
                "/filesystem.Filesystem/ListDir",
                json={"path": "/home/user", "depth": 1},
                headers={
                    **sandbox_headers(sandbox, ENVD_PORT),
                    **bad,
                    "Content-Type": "application/json",
                    "Connect-Protocol-Version": "1",
                },
            )
            assert rpc.status_code in (401, 403), rpc.status_code
        # A token of another sandbox does not open this one either.
        with extra_sandbox(localbox) as other:
            cross = client.post(
                "/execute",
                json={"code": "print('should not run')"},
                headers={**sandbox_headers(sandbox, JUPYTER_PORT), "X-Access-Token": other._envd_access_token},
            )
            assert cross.status_code in (401, 403), cross.status_code
        good = client.post(
            "/execute",
            json={"code": "print('ok')"},
            headers={**sandbox_headers(sandbox, JUPYTER_PORT), "X-Access-Token": token},
        )
        assert good.status_code == 200
        assert '"end_of_execution"' in good.text


def test_context_manager_kills_the_sandbox(localbox) -> None:
    with Sandbox.create(**localbox.sdk_options()) as sbx:
        sandbox_id = sbx.sandbox_id
        assert sbx.is_running()
    with pytest.raises(SandboxNotFoundException):
        Sandbox.get_info(sandbox_id, **localbox.sdk_options())


def test_unreachable_server_fails_with_an_sdk_error() -> None:
    """Sanity check that the options really point the SDK somewhere: a closed port is a connection error."""
    with pytest.raises((SandboxException, httpx.HTTPError, OSError)):
        Sandbox.create(api_url="http://127.0.0.1:9", sandbox_url="http://127.0.0.1:9", api_key="test-key",
                       request_timeout=5)


def test_list_by_state_and_pages(localbox) -> None:
    from e2b import SandboxState

    tag = uuid.uuid4().hex
    with extra_sandbox(localbox, metadata={"page-tag": tag}) as one, extra_sandbox(
        localbox, metadata={"page-tag": tag}
    ) as two:
        running = Sandbox.list(
            query=SandboxQuery(metadata={"page-tag": tag}, state=[SandboxState.RUNNING]), **localbox.sdk_options()
        ).next_items()
        assert {i.sandbox_id for i in running} == {one.sandbox_id, two.sandbox_id}
        paused = Sandbox.list(
            query=SandboxQuery(metadata={"page-tag": tag}, state=[SandboxState.PAUSED]), **localbox.sdk_options()
        ).next_items()
        assert paused == []

        paginator = Sandbox.list(query=SandboxQuery(metadata={"page-tag": tag}), limit=1, **localbox.sdk_options())
        seen = []
        for _ in range(5):
            page = paginator.next_items()
            assert len(page) <= 1
            seen += [i.sandbox_id for i in page]
            if not paginator.has_next:
                break
        assert sorted(seen) == sorted([one.sandbox_id, two.sandbox_id]), "paging with limit=1 must visit both"
