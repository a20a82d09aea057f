"""No variable of the host reaches a sandbox's environment. Three safeguards stand in the way, each enough on its
own for what a sandbox can read, and each has a test of its own that fails when only that one is removed:

1. the app starts the server with only what the server needs (`agent.localbox.start_server`): checked where the
   app starts it, in tests/agent/test_secrets_in_sandbox.py
   (`test_the_local_sandbox_server_is_started_without_the_apps_keys_or_other_settings`);
2. the server starts each jail's bubblewrap with an environment made from scratch, not its own (launcher.py):
   `test_a_jail_is_started_with_a_fresh_environment_not_the_servers` below;
3. bubblewrap starts the guest with `--clearenv` and only the plan's variables (jail.py): checked on the argument
   list and by running bubblewrap in tests/localbox/test_jail_args.py.

End to end, a server whose own environment holds secrets (as one run by hand on a host full of them) gives its
sandboxes none of them: `test_sandbox_environment_has_no_host_variables`.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.localbox.helpers import (
    assert_server_serves,
    extra_sandbox,
    output_text,
    server_pids,
    server_with_environment,
    wait_for,
)
from tests.support.procs import command_lines, process_tree

JAIL_LAUNCH_ENV = {"PATH": "/usr/bin:/bin"}  # launcher.py: all bubblewrap gets (the /bin/sh before it adds PWD)


@pytest.fixture(scope="module")
def canary_server() -> Iterator[tuple[object, dict[str, str]]]:
    """A server whose own environment holds canary secrets, under the app's key names among others."""
    canaries = {
        "LOCALBOX_CANARY": "canary-" + secrets.token_hex(8),
        "ANTHROPIC_API_KEY": "test-key-" + secrets.token_hex(6),
        "E2B_API_KEY": "test-key-" + secrets.token_hex(6),
    }
    with server_with_environment(canaries) as server:
        yield server, canaries


def _environ(pid: int) -> str | None:
    """The environment a process was started with, NUL-separated; None once it is gone."""
    try:
        return Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    except OSError:
        return None


def _variables(raw: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in raw.split("\0") if "=" in item)


def test_canary_really_reached_the_server_process(canary_server) -> None:
    """Guards the tests here: if the server's environment held no canary, they would prove little."""
    server, canaries = canary_server
    pids = server_pids(server)
    assert pids, "could not find the server process by its port"
    environ = _environ(pids[0]) or ""
    for value in canaries.values():
        assert value in environ


def test_a_jail_is_started_with_a_fresh_environment_not_the_servers(canary_server) -> None:
    """The second safeguard, on its own: bubblewrap is started with PATH only. Its starting environment stays
    readable in /proc/<pid>/environ of its processes even after --clearenv, and one of them is PID 1 inside the
    jail, where the sandbox user of a server run by a normal user may read it: the server's secrets must not be
    there, nor in any other process of the jail (guest, kernel, a command)."""
    server, canaries = canary_server
    marker = str(1000 + secrets.randbelow(9000))
    with extra_sandbox(server) as sbx:
        sbx.commands.run(f"sleep {marker}", background=True)
        assert sbx.run_code("6 * 7").text == "42"
        roots = set(server_pids(server))
        assert roots, "could not find the server process by its port"

        def jail_processes() -> dict[int, list[bytes]] | None:
            below = process_tree(roots) - roots
            argvs = {pid: argv for pid, argv in command_lines() if pid in below}
            bwraps = {pid for pid, argv in argvs.items() if argv[0].endswith(b"bwrap")}
            jail = process_tree(bwraps)
            seen = {pid: argv for pid, argv in argvs.items() if pid in jail}
            running = any(argv[:2] == [b"sleep", marker.encode()] for argv in seen.values())
            return seen if bwraps and running else None

        jail = wait_for(jail_processes, timeout=15, what="the command to run in the jail")
        environs = {pid: raw for pid in jail if (raw := _environ(pid)) is not None}
    bwraps = [pid for pid in environs if jail[pid][0].endswith(b"bwrap")]
    assert bwraps and len(environs) > len(bwraps) + 2, f"the jail's processes were not all found: {jail}"
    for pid in bwraps:
        variables = {k: v for k, v in _variables(environs[pid]).items() if k != "PWD"}
        assert variables == JAIL_LAUNCH_ENV, f"bubblewrap was started with more than PATH: {sorted(variables)}"
    for pid, raw in environs.items():
        for name, value in canaries.items():
            assert value not in raw, f"{name} of the server's environment is in a jail process: {jail[pid][:3]}"


@pytest.mark.hostile
def test_sandbox_environment_has_no_host_variables(canary_server) -> None:
    server, canaries = canary_server
    secrets_to_hide = [*canaries.values(), server.api_key]
    with extra_sandbox(server) as sbx:
        kernel = sbx.run_code(
            "import os, glob\n"
            "dump = repr(dict(os.environ))\n"
            "for p in ['/proc/self/environ', '/proc/1/environ'] + glob.glob('/proc/[0-9]*/environ') "
            "+ glob.glob('/proc/[0-9]*/cmdline'):\n"
            "    try:\n"
            "        dump += open(p, 'rb').read().decode('utf-8', 'replace')\n"
            "    except OSError as e:\n"
            "        dump += f'[{p}: {e.strerror}]'\n"
            "print(dump)\n"
            "print('names:', sorted(os.environ))\n"
        )
        assert kernel.error is None, kernel.error
        kernel_text = output_text(kernel)
        assert "names:" in kernel_text

        shell = sbx.commands.run(
            "env; cat /proc/self/environ /proc/1/environ 2>&1; "
            "for f in /proc/[0-9]*/environ /proc/[0-9]*/cmdline; do cat \"$f\" 2>/dev/null; echo; done; true"
        )
        shell_text = shell.stdout + shell.stderr

        for text, where in ((kernel_text, "kernel"), (shell_text, "shell")):
            for secret in secrets_to_hide:
                assert secret not in text, f"a host secret reached the sandbox ({where})"
            for name in ("LOCALBOX_CANARY", "ANTHROPIC_API_KEY", "E2B_API_KEY"):
                assert f"{name}=" not in text and f"'{name}'" not in text, f"{name} visible in the {where}"
        assert "HOME=/home/user" in shell.stdout
    assert_server_serves(server)
