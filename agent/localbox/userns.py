"""A root server's user namespace for one jail (see jail.py's docstring for why)."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from pathlib import Path

from .capabilities import JailUnavailable
from .jail import JAIL_GID, JAIL_UID

HOST_UID_BASE = 3_000_000_000  # sandbox users of a root server: HOST_UID_BASE + random, never a real account
HOST_UID_SPAN = 1 << 24


class HostUserNamespace:
    """A user namespace for one jail of a root server: namespace uid/gid 0 is host root (bubblewrap needs it to
    build the jail) and namespace uid/gid 1000 is `host_uid`, an unused high uid, so the sandbox user is nobody on
    the host. Made by a short-lived `unshare --user` child whose maps we write; `fd` keeps the namespace alive
    for bubblewrap's `--userns` until `close()`."""

    def __init__(self) -> None:
        self.host_uid = HOST_UID_BASE + secrets.randbelow(HOST_UID_SPAN)
        holder = subprocess.Popen(["unshare", "--user", "--", "cat"], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            ns_path = f"/proc/{holder.pid}/ns/user"
            own = os.readlink("/proc/self/ns/user")
            deadline = time.monotonic() + 5
            while os.readlink(ns_path) == own:  # until `unshare` has made the namespace
                if holder.poll() is not None or time.monotonic() > deadline:
                    raise JailUnavailable("cannot create a user namespace for the sandbox (unshare --user failed)")
                time.sleep(0.0005)
            mapping = f"0 0 1\n{JAIL_UID} {self.host_uid} 1\n"
            Path(f"/proc/{holder.pid}/uid_map").write_text(mapping)
            Path(f"/proc/{holder.pid}/gid_map").write_text(mapping.replace(str(JAIL_UID), str(JAIL_GID), 1))
            self.fd = os.open(ns_path, os.O_RDONLY | os.O_CLOEXEC)
        finally:
            holder.stdin.close()
            holder.wait()

    def close(self) -> None:
        os.close(self.fd)
