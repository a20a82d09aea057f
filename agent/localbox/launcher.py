"""Starting one jail: its control directory, cgroups and (root servers) user namespace, then bubblewrap."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess

from .cgroups import create_cgroups
from .jail import GUEST_SOURCE, JailPlan
from .scratch import mount_control_dir
from .userns import HostUserNamespace


async def launch(plan: JailPlan, isolated: bool = True) -> tuple[asyncio.subprocess.Process, socket.socket]:
    """Start the jail; returns the launcher process and the host end of the guest's socket.

    With isolated=False (only behind --allow-unisolated) the guest runs directly on the host as this user, in a
    scratch home directory: NOT a sandbox, for machines without namespaces, loudly warned about at start.
    """
    plan.control_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(plan.control_dir, 0o700)
    host_end, guest_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    fd = guest_end.fileno()
    options_r, options_w = os.pipe()
    userns: HostUserNamespace | None = None
    try:
        if isolated:
            mount_control_dir(plan.control_dir)
            create_cgroups(plan)
            if os.geteuid() == 0:
                userns = await asyncio.to_thread(HostUserNamespace)  # waits on a child: not on the event loop
                plan = plan.with_userns(userns.fd)
            blob = plan.options_blob(fd)
            if len(blob) >= 65536:  # a pipe holds 64 KiB: write it without blocking or fall back to argv
                command = plan.command(fd)
            else:
                os.write(options_w, blob)
                command = plan.command(fd, options_r)
            env, cwd = {"PATH": "/usr/bin:/bin"}, "/"
        else:
            home = plan.sandbox_dir / "home"
            home.mkdir(exist_ok=True)
            env = {**plan.env, "HOME": str(home), "PATH": f"{plan.python.venv}/bin:/usr/local/bin:/usr/bin:/bin",
                   "USER": os.environ.get("USER", "root")}
            command, cwd = [str(plan.python.venv / "bin" / "python"), "-I", str(GUEST_SOURCE), str(fd)], str(home)
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            pass_fds=(fd, options_r) + ((plan.userns_fd,) if plan.userns_fd is not None else ()),
            cwd=cwd,
            env=env,
            start_new_session=True,
            **({"extra_groups": []} if os.geteuid() == 0 else {}),  # host root's groups stay outside
        )
    finally:
        if userns is not None:
            userns.close()
        guest_end.close()
        os.close(options_r)
        os.close(options_w)
    return proc, host_end
