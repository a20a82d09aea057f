"""The control plane: a registry of running sandboxes, a pool of pre-warmed jails, expiry, and the REST API.

Creating a sandbox takes a pre-warmed jail (guest + python kernel already running) from the pool and applies the
creator's envs and metadata, so creation costs milliseconds; the pool is refilled in the background.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from . import capabilities, jail, metrics, pythonenv
from .egress import EGRESS_PORT, proxy_env
from .egress_policy import EgressPolicy, InternetMode, local_networks
from .sandbox import JAIL_ENV, Lease, LocalSandbox

log = logging.getLogger("agent.localbox")
ENVD_VERSION = "0.6.4"  # stdin, close-stdin, default user, octet-stream + gzip uploads, file metadata, watch entry info
DEFAULT_TIMEOUT = 300
MAX_TIMEOUT = 24 * 3600


@dataclass(frozen=True)
class Settings:
    """Everything the server was started with. Limits apply to each sandbox."""

    api_key: str
    internet: InternetMode = InternetMode.REGISTRIES  # what sandboxes reach through the egress proxy
    allow_domains: tuple[str, ...] = ()  # extra domains for the registries mode (egress_policy.parse_domains)
    allow_unisolated: bool = False
    pool_size: int = 1
    max_sandboxes: int = 20
    limits: jail.JailLimits = field(default_factory=jail.JailLimits)
    sandbox_venv: Path = Path(__file__).resolve().parents[2] / ".venv-sandbox"
    domain: str = ""  # what the SDK builds get_host() names under: "<port>-<sandbox id>.<domain>"


class Registry:
    """Running sandboxes by id, plus the warm pool. Lives in the server process only."""

    def __init__(self, settings: Settings, caps: capabilities.Capabilities, python: pythonenv.SandboxPython,
                 root: Path) -> None:
        self.settings = settings
        self.caps = caps
        self.python = python
        self.root = root
        self.etc = jail.write_etc(root)
        # unisolated sandboxes share this machine's network: there is nothing to filter
        self.egress = EgressPolicy(settings.internet, settings.allow_domains, local_networks()) \
            if caps.isolated and settings.internet is not InternetMode.OFF else None
        pythonenv.write_layout(root, python)
        self.sandboxes: dict[str, LocalSandbox] = {}
        self.pool: list[LocalSandbox] = []
        self._booting = 0
        self._reserved = 0  # creations under way, counted against max_sandboxes
        self._starting: set[LocalSandbox] = set()  # jails being booted, not yet in the pool or the registry
        self._pool_changed = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._closing = False

    async def start(self) -> None:
        """Boot the first warm sandbox now (so a broken jail fails the start loudly), then keep the pool filled."""
        if self.settings.pool_size > 0:
            self.pool.append(await self._boot())
        self._tasks = [asyncio.create_task(self._keep_pool()), asyncio.create_task(self._expire())]

    def _plan(self) -> jail.JailPlan:
        # the server's pid in the name (also the name of its cgroups) tells a later server whether it is orphaned
        sandbox_dir = self.root / f"sb-{os.getpid()}-{secrets.token_hex(6)}"
        sandbox_dir.mkdir()
        return jail.JailPlan(sandbox_dir=sandbox_dir, etc_dir=self.etc, python=self.python,
                             limits=self.settings.limits, caps=self.caps,
                             egress_port=EGRESS_PORT if self.egress else 0,
                             env={**JAIL_ENV, **(proxy_env(self.egress.mode) if self.egress else {})})

    async def _boot(self) -> LocalSandbox:
        """Boot a jail. One still booting when the server stops (or whose boot is cancelled) is torn down too,
        so no mount, cgroup or process outlives the server."""
        sandbox = LocalSandbox(self._plan(), isolated=self.caps.isolated, egress=self.egress)
        self._starting.add(sandbox)
        try:
            await sandbox.boot()
        except BaseException:
            await asyncio.shield(sandbox.kill())
            raise
        finally:
            self._starting.discard(sandbox)
        return sandbox

    async def _keep_pool(self) -> None:
        while not self._closing:
            if len(self.pool) < self.settings.pool_size and len(self.sandboxes) < self.settings.max_sandboxes:
                try:
                    self._booting += 1
                    sandbox = await self._boot()
                except Exception as exc:
                    log.warning("localbox: could not pre-warm a sandbox: %s", exc or type(exc).__name__)
                    await asyncio.sleep(2)
                    continue
                finally:
                    self._booting -= 1
                if self._closing:
                    await sandbox.kill()
                    return
                self.pool.append(sandbox)
                continue
            self._pool_changed.clear()
            try:
                await asyncio.wait_for(self._pool_changed.wait(), 5)
            except TimeoutError:
                pass

    async def _expire(self) -> None:
        while not self._closing:
            await asyncio.sleep(0.5)
            now = time.time()
            for sandbox in list(self.sandboxes.values()):
                if sandbox.lease is not None and sandbox.lease.end_at <= now:
                    log.info("localbox: sandbox %s expired", sandbox.id)
                    await self.kill(sandbox.id)

    async def create(self, template: str, timeout: int, metadata: dict, envs: dict) -> LocalSandbox:
        # the slot is reserved before the first await, so simultaneous creates cannot overshoot the cap
        if len(self.sandboxes) + self._reserved >= self.settings.max_sandboxes:
            raise TooMany(f"at most {self.settings.max_sandboxes} sandboxes can run at once on this server")
        self._reserved += 1
        try:
            return await self._create(template, timeout, metadata, envs)
        finally:
            self._reserved -= 1

    async def _create(self, template: str, timeout: int, metadata: dict, envs: dict) -> LocalSandbox:
        sandbox = None
        while self.pool:
            candidate = self.pool.pop(0)
            if not candidate.killed.is_set() and candidate.channel and not candidate.channel.closed.is_set():
                sandbox = candidate
                break
            await candidate.kill()
        self._pool_changed.set()
        if sandbox is None:
            sandbox = await self._boot()
        now = time.time()
        lease = Lease(template_id=template, metadata=metadata, envs=envs, started_at=now, end_at=now + timeout)
        self.sandboxes[sandbox.id] = sandbox
        try:
            await sandbox.claim(lease)
        except Exception:
            await self.kill(sandbox.id)
            raise
        return sandbox

    def get(self, sandbox_id: str) -> LocalSandbox | None:
        sandbox = self.sandboxes.get(sandbox_id)
        if sandbox is None or sandbox.killed.is_set():
            return None
        return sandbox

    def by_signature(self, path: str, operation: str, user: str, signature: str,
                     expiration: str | None) -> tuple[LocalSandbox | None, bool]:
        """Signed file URLs carry no sandbox id: find the sandbox whose token produced this signature.
        Returns (sandbox or None, whether the signature's expiration has passed); the expiration is part of what
        is signed, so an expired URL is recognised as genuine first and then refused as expired."""
        if expiration is not None:
            try:
                expired = int(expiration) < time.time()
            except ValueError:
                return None, False
        else:
            expired = False
        for sandbox in self.sandboxes.values():
            if sandbox.killed.is_set():
                continue
            raw = f"{path}:{operation}:{user}:{sandbox.access_token}" + (f":{expiration}" if expiration else "")
            digest = base64.b64encode(hashlib.sha256(raw.encode()).digest()).rstrip(b"=").decode()
            if hmac.compare_digest(f"v1_{digest}", signature):
                return sandbox, expired
        return None, False

    async def kill(self, sandbox_id: str) -> bool:
        sandbox = self.sandboxes.pop(sandbox_id, None)
        if sandbox is None:
            return False
        await sandbox.kill()
        self._pool_changed.set()
        return True

    async def shutdown(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        victims = list(self.sandboxes.values()) + self.pool + list(self._starting)
        self.sandboxes.clear()
        self.pool.clear()
        await asyncio.gather(*(s.kill() for s in victims), return_exceptions=True)
        # uvicorn re-raises SIGTERM after shutdown, so the server's own temp dir is removed here, not at exit
        await asyncio.to_thread(shutil.rmtree, self.root, True)


class TooMany(Exception):
    """The server's sandbox cap is reached."""


# ---- REST handlers ---------------------------------------------------------------------------------------------
def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"code": status, "message": message}, status_code=status)


async def _json_body(request: Request) -> dict:
    """The request's JSON object, or {} when the body is empty or not JSON (the SDK may send no body)."""
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _not_found(sandbox_id: str) -> JSONResponse:
    return _error(404, f"sandbox {sandbox_id} not found")


class ControlPlane:
    """REST endpoints (`/sandboxes`, `/v2/sandboxes`, ...) guarded by X-API-KEY."""

    def __init__(self, registry: Registry, api_key: str) -> None:
        self.registry = registry
        self.api_key = api_key

    def _json(self, sandbox: LocalSandbox) -> dict:
        return {**sandbox.to_json(ENVD_VERSION), "domain": self.registry.settings.domain or None}

    def authorized(self, request: Request) -> bool:
        given = request.headers.get("x-api-key", "")
        auth = request.headers.get("authorization", "")
        if not given and auth.lower().startswith("bearer "):
            given = auth[7:]
        return hmac.compare_digest(given.encode(), self.api_key.encode())

    async def handle(self, request: Request) -> Response:
        if not self.authorized(request):
            return _error(401, "invalid API key")
        path = request.url.path.rstrip("/")
        parts = [p for p in path.split("/") if p]
        if parts and parts[0] == "v2":
            parts = parts[1:]
        method = request.method
        if parts == ["sandboxes"]:
            if method == "POST":
                return await self.create(request)
            if method == "GET":
                return self.list(request)
        if len(parts) >= 2 and parts[0] == "sandboxes":
            sid = parts[1]
            rest = parts[2:]
            if not rest and method == "GET":
                return self.info(sid)
            if not rest and method == "DELETE":
                return Response(status_code=204) if await self.registry.kill(sid) else _not_found(sid)
            if rest == ["timeout"] and method == "POST":
                return await self.set_timeout(request, sid)
            if rest in (["connect"], ["resume"]) and method == "POST":
                return await self.connect(request, sid)
            if rest == ["pause"] and method == "POST":
                # not 409: the SDK reads that as "already paused" and reports success
                return _error(501, "pausing is not supported by the local sandbox server")
            if rest == ["refreshes"] and method == "POST":
                return await self.set_timeout(request, sid, key="duration")
            if rest == ["metrics"] and method == "GET":
                return await self.metrics(sid)
        return _error(404, f"no route {method} {path}")

    async def create(self, request: Request) -> Response:
        try:
            body = await request.json()
        except (ValueError, json.JSONDecodeError):
            return _error(400, "the request body is not JSON")
        timeout = _timeout(body.get("timeout"))
        metadata = {str(k): str(v) for k, v in (body.get("metadata") or {}).items()}
        envs = {str(k): str(v) for k, v in (body.get("envVars") or {}).items()}
        template = str(body.get("templateID") or "code-interpreter-v1")
        try:
            sandbox = await self.registry.create(template, timeout, metadata, envs)
        except TooMany as exc:
            return _error(429, str(exc))
        except Exception as exc:
            log.exception("localbox: create failed")
            return _error(500, f"the sandbox could not start: {exc or type(exc).__name__}")
        return JSONResponse(self._json(sandbox), status_code=201)

    def list(self, request: Request) -> Response:
        query = dict(parse_qsl(request.url.query))
        wanted_meta = {unquote(k): unquote(v) for k, v in parse_qsl(query.get("metadata", ""))}
        states = set(",".join(request.query_params.getlist("state")).split(",")) - {""}
        template = query.get("template")
        started_after = 0.0
        if query.get("startedAfter"):
            try:
                started_after = datetime.fromisoformat(query["startedAfter"].replace("Z", "+00:00")).timestamp()
            except ValueError:
                return _error(400, "startedAfter is not an ISO date")
        try:
            limit = max(1, int(query.get("limit") or 1000))
        except ValueError:
            return _error(400, "limit is not a number")
        chosen = []
        for sandbox in self.registry.sandboxes.values():
            lease = sandbox.lease
            if lease is None or sandbox.killed.is_set():
                continue
            if states and "running" not in states:
                continue
            if template and template != lease.template_id:
                continue
            if lease.started_at < started_after:
                continue
            if any(lease.metadata.get(k) != v for k, v in wanted_meta.items()):
                continue
            chosen.append(sandbox)
        chosen.sort(key=lambda s: s.lease.started_at, reverse=query.get("order", "desc") != "asc")
        items = []
        for sandbox in chosen:
            data = self._json(sandbox)
            data.pop("envdAccessToken", None)
            items.append(data)
        token = query.get("nextToken")
        start = int(token) if token and token.isdigit() else 0
        page = items[start:start + limit]
        headers = {}
        if start + limit < len(items):
            headers["x-next-token"] = str(start + limit)
        return JSONResponse(page, headers=headers)

    def info(self, sid: str) -> Response:
        sandbox = self.registry.get(sid)
        if sandbox is None or sandbox.lease is None:
            return _not_found(sid)
        return JSONResponse(self._json(sandbox))

    async def set_timeout(self, request: Request, sid: str, key: str = "timeout") -> Response:
        sandbox = self.registry.get(sid)
        if sandbox is None or sandbox.lease is None:
            return _not_found(sid)
        body = await _json_body(request)
        sandbox.lease.end_at = time.time() + _timeout(body.get(key))
        return Response(status_code=204)

    async def metrics(self, sid: str) -> Response:
        sandbox = self.registry.get(sid)
        if sandbox is None or sandbox.lease is None:
            return _not_found(sid)
        entry = await metrics.sample(sandbox.plan) if sandbox.isolated else None
        if entry is None:
            return _error(501, metrics.UNSUPPORTED)
        return JSONResponse([entry])

    async def connect(self, request: Request, sid: str) -> Response:
        sandbox = self.registry.get(sid)
        if sandbox is None or sandbox.lease is None:
            return _not_found(sid)
        body = await _json_body(request)
        new_end = time.time() + _timeout(body.get("timeout"))
        sandbox.lease.end_at = max(sandbox.lease.end_at, new_end)
        return JSONResponse(self._json(sandbox), status_code=200)


def _timeout(value) -> int:
    try:
        seconds = int(value) if value is not None else DEFAULT_TIMEOUT
    except (TypeError, ValueError):
        seconds = DEFAULT_TIMEOUT
    return max(1, min(seconds, MAX_TIMEOUT))
