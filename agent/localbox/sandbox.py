"""One running sandbox: its jail, its guest channel, its code contexts (kernels), its metadata and deadline."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from . import capabilities, cgroups, jail, launcher, scratch
from .channel import GuestChannel
from .egress import EgressProxy, receive_listener
from .egress_policy import EgressPolicy
from .kernel import Kernel

JAIL_ENV = {
    "HOME": jail.JAIL_HOME,
    "USER": "user",
    "LOGNAME": "user",
    "SHELL": "/bin/bash",
    "PATH": "/home/user/.local/bin:/opt/venv/bin:/usr/local/bin:/usr/bin:/bin",  # ~/.local: pip's user installs
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
    "MPLBACKEND": "Agg",
    "PYTHONDONTWRITEBYTECODE": "1",
    "E2B_SANDBOX": "true",
    "TERM": "xterm",
}
# E2B's extra result formats (data, chart, images), set up in every kernel in a namespace of its own
KERNEL_SETUP = (f"exec(compile({(Path(__file__).parent / 'kernel_formatters.py').read_text()!r}, "
                "'<localbox kernel setup>', 'exec'), {'__name__': '_localbox_kernel_setup'})")
STATELESS_LANGUAGES = {"javascript": ("/usr/bin/node", ".js"), "js": ("/usr/bin/node", ".js"),
                       "bash": ("/bin/bash", ".sh"), "sh": ("/bin/bash", ".sh")}


@dataclass
class Context:
    """A code context: python ones own a kernel (stateful); javascript/bash ones run each call afresh."""

    id: str
    language: str
    cwd: str
    kernel: Kernel | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # one execution at a time, restarts included

    def to_json(self) -> dict:
        return {"id": self.id, "language": self.language, "cwd": self.cwd}


@dataclass
class Lease:
    """What the control plane knows about a claimed sandbox."""

    template_id: str
    metadata: dict[str, str]
    envs: dict[str, str]
    started_at: float
    end_at: float
    client_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


class LocalSandbox:
    """Owns one jail. `boot()` starts it with a default python kernel; `kill()` frees everything."""

    def __init__(self, plan: jail.JailPlan, isolated: bool, egress: EgressPolicy | None = None) -> None:
        self.id = "lb" + secrets.token_hex(8)
        self.access_token = secrets.token_urlsafe(24)
        self.plan = plan
        self.isolated = isolated
        self.proc: asyncio.subprocess.Process | None = None
        self.channel: GuestChannel | None = None
        self.contexts: dict[str, Context] = {}
        self.default_context_id = ""
        self.lease: Lease | None = None
        self.killed = asyncio.Event()
        self.egress_policy = egress
        self.egress: EgressProxy | None = None  # serves the jail's proxy port (see egress.py)
        self._kernel_seq = 0
        self._ctx_lock = asyncio.Lock()

    @property
    def home(self) -> str:
        return jail.JAIL_HOME if self.isolated else str(self.plan.sandbox_dir / "home")

    async def boot(self) -> None:
        self.proc, sock = await launcher.launch(self.plan, self.isolated)
        self.channel = GuestChannel(sock)
        try:
            if self.egress_policy is not None and self.plan.egress_port:
                self.egress = EgressProxy(self.egress_policy, label=self.id)
                await self.egress.serve(await receive_listener(sock, timeout=60))
            await self.channel.start(timeout=60)
        except Exception as exc:
            stderr = b""
            if self.proc.stderr is not None:
                try:
                    stderr = await asyncio.wait_for(self.proc.stderr.read(4000), 2)
                except Exception:
                    pass
            await self.kill()
            raise capabilities.JailUnavailable(
                f"the sandbox jail did not start: {stderr.decode(errors='replace').strip() or exc}"
            ) from None
        ctx = await self.new_context("python", self.home)
        self.default_context_id = ctx.id
        await self.new_context("javascript", self.home)  # E2B lists a default javascript context too
        if ctx.kernel is not None:  # the first cell pays IPython's lazy setup: pay it here, in the pool
            await ctx.kernel.run_silent("1 + 1")

    async def claim(self, lease: Lease) -> None:
        """Apply the creator's envs to the guest (commands) and to every kernel (run_code)."""
        self.lease = lease
        if lease.envs:
            assert self.channel is not None
            await self.channel.call("setenv", envs=lease.envs)
            for ctx in self.contexts.values():
                if ctx.kernel is not None:
                    await ctx.kernel.run_silent(f"import os as _o; _o.environ.update({json.dumps(lease.envs)}); del _o")

    async def new_context(self, language: str, cwd: str) -> Context:
        language = (language or "python").lower()
        ctx = Context(id=uuid.uuid4().hex, language=language, cwd=cwd)
        if language == "python":
            ctx.kernel = await self._start_kernel(cwd)
        elif language not in STATELESS_LANGUAGES:
            raise ValueError(f"language '{language}' is not supported here (python, javascript and bash are)")
        self.contexts[ctx.id] = ctx
        return ctx

    async def _start_kernel(self, cwd: str) -> Kernel:
        assert self.channel is not None
        self._kernel_seq += 1
        name = f"k{self._kernel_seq}-{secrets.token_hex(4)}"
        if self.isolated:
            kernel = Kernel(self.channel, self.plan.control_dir, name)
        else:
            kernel = Kernel(self.channel, self.plan.control_dir, name, guest_dir=str(self.plan.control_dir),
                            guest_python=str(self.plan.python.venv / "bin" / "python"))
        envs = dict(self.lease.envs) if self.lease else {}
        await kernel.start(envs, cwd)
        await kernel.run_silent(KERNEL_SETUP)
        return kernel

    async def restart_context(self, ctx: Context) -> None:
        if ctx.kernel is not None:
            await ctx.kernel.shutdown()
            ctx.kernel = await self._start_kernel(ctx.cwd)

    async def remove_context(self, ctx: Context) -> None:
        self.contexts.pop(ctx.id, None)
        if ctx.kernel is not None:
            await ctx.kernel.shutdown()

    def to_json(self, envd_version: str) -> dict:
        lease = self.lease
        assert lease is not None
        return {
            "templateID": lease.template_id,
            "sandboxID": self.id,
            "alias": lease.template_id,
            "clientID": lease.client_id,
            "startedAt": _iso(lease.started_at),
            "endAt": _iso(lease.end_at),
            "cpuCount": 2,
            "memoryMB": self.plan.limits.memory_bytes >> 20,
            "diskSizeMB": self.plan.limits.home_bytes >> 20,
            "metadata": lease.metadata,
            "state": "running",
            "envdVersion": envd_version,
            "envdAccessToken": self.access_token,
            "domain": None,
        }

    async def kill(self) -> None:
        """Kill the jail and everything in it; remove its cgroups and files. Safe to call twice."""
        if self.killed.is_set():
            return
        self.killed.set()
        for ctx in list(self.contexts.values()):
            if ctx.kernel is not None:
                for task in ctx.kernel._tasks:
                    task.cancel()
                if ctx.kernel.client is not None:
                    try:
                        ctx.kernel.client.stop_channels()
                    except Exception:
                        pass
        self.contexts.clear()
        if self.egress is not None:
            await self.egress.close()
        if self.channel is not None:
            await self.channel.close()
        if self.proc is not None and self.proc.returncode is None:
            try:
                if self.isolated:
                    self.proc.kill()
                else:  # unisolated: the guest leads its own session; take its children with it
                    os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                pass
        if self.isolated:
            await asyncio.to_thread(cgroups.destroy_cgroups, self.plan)
            scratch.unmount_control_dir(self.plan.control_dir)
        await asyncio.to_thread(shutil.rmtree, self.plan.sandbox_dir, True)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ts)) + f".{int((ts % 1) * 1000):03d}Z"
