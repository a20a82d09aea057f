"""Errors the guest reports to the host, with codes the host maps onto the SDK's errors."""

from __future__ import annotations


class GuestError(Exception):
    """A failed operation, reported to the host with a code it maps onto the SDK's errors."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def os_error(exc: OSError, path: str) -> GuestError:
    if isinstance(exc, FileNotFoundError):
        return GuestError("not_found", f"path '{path}' does not exist")
    if isinstance(exc, FileExistsError):
        return GuestError("exists", f"path '{path}' already exists")
    if isinstance(exc, (NotADirectoryError, IsADirectoryError)):
        return GuestError("invalid", f"{exc.strerror}: '{path}'")
    if isinstance(exc, PermissionError):
        return GuestError("permission", f"permission denied: '{path}'")
    if exc.errno == 28:
        return GuestError("no_space", f"no space left in the sandbox while writing '{path}'")
    return GuestError("internal", f"{exc.strerror or exc}: '{path}'")
