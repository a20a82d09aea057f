"""envd's plain-HTTP file transfer: GET /files (download) and POST /files (multipart or octet-stream upload, gzip,
file metadata in X-Metadata-* headers). Everything goes through the guest daemon inside the jail, streamed in
pieces so the server never holds a whole file."""

from __future__ import annotations

import base64
import gzip
import re
import zlib
from collections.abc import AsyncIterator
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from .channel import GuestCallError
from .sandbox import LocalSandbox

_HTTP = {"not_found": 404, "invalid": 400, "exists": 409, "permission": 403, "no_space": 507, "gone": 502,
         "too_large": 413}
UPLOAD_LIMIT = 512 << 20
WRITE_CHUNK = 4 << 20


def sandbox_path(sandbox: LocalSandbox, path: str) -> str:
    """Relative paths are relative to the user's home, as in E2B."""
    if not path:
        return sandbox.home
    if path.startswith("~"):
        path = sandbox.home + path[1:]
    if not path.startswith("/"):
        path = f"{sandbox.home}/{path}"
    return path


def _http_error(exc: GuestCallError) -> JSONResponse:
    status = _HTTP.get(exc.code, 500)
    return JSONResponse({"code": status, "message": exc.message}, status_code=status)


async def read_file(sandbox: LocalSandbox, request: Request) -> Response:
    path = sandbox_path(sandbox, request.query_params.get("path", ""))
    assert sandbox.channel is not None
    stream = sandbox.channel.stream("read", path=path)
    first = await stream.__anext__()
    if first.get("done"):
        if first.get("error"):
            return _http_error(GuestCallError(first["error"]["code"], first["error"]["message"]))
        return Response(b"", media_type="application/octet-stream")

    async def body() -> AsyncIterator[bytes]:
        msg = first
        try:
            while True:
                if msg.get("done"):
                    if msg.get("error"):  # failed midway (e.g. the sandbox died): cut the body short
                        raise OSError(msg["error"].get("message", "read failed"))
                    return
                yield base64.b64decode(msg["b64"])
                msg = await stream.__anext__()
        finally:
            await stream.aclose()  # a client that left early must not keep chunks queued

    return StreamingResponse(body(), media_type="application/octet-stream")


_METADATA_KEY = re.compile(r"\A[A-Za-z0-9!#$%&'*+\-.^_`|~]+\Z")
_METADATA_VALUE = re.compile(r"\A[\x20-\x7e]*\Z")
METADATA_HEADER = "x-metadata-"


def upload_metadata(request: Request) -> dict[str, str] | None:
    """The file metadata an upload carries as X-Metadata-<key> headers (keys lowercased, as envd stores them);
    None when a key or value is not what envd accepts."""
    found: dict[str, str] = {}
    for name, value in request.headers.items():
        if name.lower().startswith(METADATA_HEADER):
            key = name[len(METADATA_HEADER):].lower()
            if not _METADATA_KEY.match(key) or not _METADATA_VALUE.match(value):
                return None
            found[key] = value
    return found


async def write_files(sandbox: LocalSandbox, request: Request) -> Response:
    ctype = request.headers.get("content-type", "")
    path_param = request.query_params.get("path")
    written: list[dict] = []
    metadata = upload_metadata(request)
    if metadata is None:
        return JSONResponse({"code": 400, "message": "invalid file metadata: keys must be HTTP tokens and values "
                                                     "printable ASCII"}, status_code=400)
    try:
        if ctype.startswith("multipart/form-data"):
            form = await request.form(max_files=10000, max_part_size=UPLOAD_LIMIT)
            for _, item in form.multi_items():
                if isinstance(item, str):
                    continue
                target = item.filename or path_param
                if not target:
                    return JSONResponse({"code": 400, "message": "no path given for an uploaded file"},
                                        status_code=400)
                written.append(await _write(sandbox, sandbox_path(sandbox, target), _read_upload(item), metadata))
            await form.close()
        else:
            if not path_param:
                return JSONResponse({"code": 400, "message": "the 'path' query parameter is required"},
                                    status_code=400)
            gzipped = request.headers.get("content-encoding", "").lower() == "gzip"
            target = sandbox_path(sandbox, path_param)
            try:
                written.append(await _write(sandbox, target, _read_body(request, gzipped), metadata))
            except _TooLarge:
                await sandbox.channel.call("remove", path=target)  # no half-written file left behind
                return JSONResponse({"code": 413, "message": f"the upload is larger than {UPLOAD_LIMIT >> 20} MiB"},
                                    status_code=413)
    except GuestCallError as exc:
        return _http_error(exc)
    except (zlib.error, gzip.BadGzipFile):
        return JSONResponse({"code": 400, "message": "the upload is not valid gzip"}, status_code=400)
    return JSONResponse([{"name": w["name"], "type": "dir" if w["type"] == "dir" else "file", "path": w["path"],
                          **({"metadata": w["metadata"]} if w.get("metadata") else {})} for w in written])


class _TooLarge(Exception):
    pass


async def _read_body(request: Request, gzipped: bool) -> AsyncIterator[bytes]:
    """The request body as it arrives (gunzipped if need be), refusing more than UPLOAD_LIMIT bytes."""
    decoder = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzipped else None
    size = 0
    async for chunk in request.stream():
        if decoder is not None:
            chunk = decoder.decompress(chunk, UPLOAD_LIMIT + 1 - size)  # bounded: a gzip bomb stops here
        size += len(chunk)
        if size > UPLOAD_LIMIT:
            raise _TooLarge()
        yield chunk
    if decoder is not None:
        yield decoder.flush()


async def _read_upload(item: Any) -> AsyncIterator[bytes]:
    """A multipart file part, read from its spool file a piece at a time."""
    while piece := await item.read(WRITE_CHUNK):
        yield piece


async def _write(sandbox: LocalSandbox, path: str, pieces: AsyncIterator[bytes], metadata: dict[str, str]) -> dict:
    """Write an upload into the sandbox as it arrives, WRITE_CHUNK bytes per guest call, so the server never
    holds a whole file in memory."""
    assert sandbox.channel is not None
    info: dict = {}
    first = True
    buffer = bytearray()

    async def flush(piece: bytes) -> None:
        nonlocal info, first
        info = await sandbox.channel.call("write", path=path, b64=base64.b64encode(piece).decode(), append=not first,
                                          **({"metadata": metadata} if first else {}))
        first = False

    async for chunk in pieces:
        buffer += chunk
        while len(buffer) >= WRITE_CHUNK:
            await flush(bytes(buffer[:WRITE_CHUNK]))
            del buffer[:WRITE_CHUNK]
    if buffer or first:
        await flush(bytes(buffer))
    return info


async def health(sandbox: LocalSandbox) -> Response:
    return Response(status_code=204)
