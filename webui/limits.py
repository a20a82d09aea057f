"""Bounds on what a visitor sends: message size, upload size, and which models the operator's key may call.

Checked before anything reaches the model, each refusal in plain words. Why: a page on the open internet takes
requests from scripts too — a 50 MB message would be kept in memory and sent to Claude on the operator's key, and
any model id (the most expensive one) could be named through the API.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from agent.downloads import DEFAULT_FILE_CAP, DEFAULT_ZIP_CAP
from agent.downloads import plain_size as human_size  # one wording of sizes, shared with downloads
from agent.models import MODELS

_SIZE = re.compile(r"^\s*(\d+)\s*([kmg]?i?b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2, "mib": 1024**2,
          "g": 1000**3, "gb": 1000**3, "gib": 1024**3}
# Gradio reads "100mb" as 100 MiB; kept the same here so one setting means one number everywhere.
_GRADIO_UNITS = {"kb": 1024, "mb": 1024**2, "gb": 1024**3}


def parse_size(name: str, raw: str) -> int:
    """``100kb`` / ``100mb`` / ``2000000`` as bytes; ValueError with plain words naming the setting."""
    match = _SIZE.match(raw)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in _UNITS or int(match.group(1)) <= 0:
        raise ValueError(f"{name} must be a size such as 100kb or 20mb, not {raw!r}")
    return int(match.group(1)) * _GRADIO_UNITS.get(unit, _UNITS[unit])



@dataclass(frozen=True)
class InputLimits:
    max_message_bytes: int = 100 * 1024  # text of one chat message, UTF-8
    max_upload_bytes: int = 100 * 1024**2  # one uploaded file (Gradio refuses bigger ones at upload)
    max_download_bytes: int = DEFAULT_FILE_CAP  # one file downloaded from the sandbox
    max_zip_bytes: int = DEFAULT_ZIP_CAP  # everything in the workspace zip (before compression)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> InputLimits:
        source = os.environ if env is None else env
        d = cls()
        message = source.get("AGENT_MAX_MESSAGE", "").strip()
        upload = source.get("AGENT_MAX_UPLOAD", "").strip()
        download = source.get("AGENT_MAX_DOWNLOAD", "").strip()
        zipped = source.get("AGENT_MAX_ZIP", "").strip()
        return cls(
            max_message_bytes=parse_size("AGENT_MAX_MESSAGE", message) if message else d.max_message_bytes,
            max_upload_bytes=parse_size("AGENT_MAX_UPLOAD", upload) if upload else d.max_upload_bytes,
            max_download_bytes=parse_size("AGENT_MAX_DOWNLOAD", download) if download else d.max_download_bytes,
            max_zip_bytes=parse_size("AGENT_MAX_ZIP", zipped) if zipped else d.max_zip_bytes,
        )

    def message_problem(self, text: str) -> str | None:
        """Why a message is refused (too long), or None."""
        size = len(text.encode("utf-8", "surrogatepass"))
        if size <= self.max_message_bytes:
            return None
        return (f"This message is too long to send ({human_size(size)}; the limit here is "
                f"{human_size(self.max_message_bytes)}). Please shorten it, or attach the text as a file.")


def model_problem(model: str | None, own_key: bool, default_model: str) -> str | None:
    """Why a model choice is refused, or None. On the operator's key only the listed models (and the operator's
    own default) may be used; a visitor who brings their own key may name any model."""
    if own_key or not model or model == default_model or any(model == mid for _, mid in MODELS):
        return None
    return ("That model is not offered here. Pick one from the list in Settings, or paste your own Anthropic key "
            "there to use any model.")
