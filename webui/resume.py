"""A conversation that outlives a page load: the browser's copy of it, and what the server makes of that copy.

The page keeps ``{"id", "secret", "history"}`` in the browser's storage (``gr.BrowserState``): the conversation's
id, a secret only that browser knows (the server keeps its hash), and the chat as the page last showed it. On a
reload the server gives the same session back (transcript and sandbox) to whoever presents the id with its
secret. Later than the grace period the session is gone: the chat is shown again from the browser's copy and the
model gets it back as plain text (``transcript_turns``), with a new sandbox.

The browser's copy is the visitor's own data, but it comes from the client: it is checked and bounded here before
it is shown or sent to the model, and files in it are shown only from the conversation's own folder.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MAX_MESSAGES = 2000  # messages kept from the browser's copy (the newest)
MAX_TRANSCRIPT_CHARS = 200_000  # text given back to the model after the grace period (the newest turns)
MAX_STEP_CHARS = 2_000  # of one tool step's content, in that text
GONE_FILE = "*(a file shown here earlier is no longer available)*"
FILES_GONE_NOTE = (
    "You were away longer than this chat's sandbox is kept, so it was closed: files, installed packages and "
    "running programs from before are gone. The conversation itself is kept, and continues on a fresh sandbox."
)
MODEL_NOTE = (
    "Note: this conversation was resumed after a break. Its sandbox was closed meanwhile and this is a fresh one: "
    "files, variables and processes from earlier turns are gone. Earlier tool steps are summarised as text."
)


@dataclass(frozen=True)
class Ticket:
    """What the browser stores to claim its conversation again: the id and the secret (never logged)."""

    conversation_id: str
    secret: str

    @classmethod
    def new(cls) -> Ticket:
        return cls(secrets.token_urlsafe(16), secrets.token_urlsafe(32))

    @property
    def secret_hash(self) -> str:
        return secret_hash(self.secret)

    def __repr__(self) -> str:
        return f"Ticket({self.conversation_id[:6]}…)"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "replace")).hexdigest()


def secret_matches(secret: str, stored_hash: str | None) -> bool:
    return bool(stored_hash) and hmac.compare_digest(secret_hash(secret), stored_hash or "")


@dataclass(frozen=True)
class Stored:
    """The browser's stored value, checked: a ticket (if it had a well-formed one) and the chat history."""

    ticket: Ticket | None
    history: list[dict[str, Any]]


def read_stored(value: Any) -> Stored:
    """The browser's stored value as sent (anything at all) → a checked ``Stored``."""
    if not isinstance(value, dict):
        return Stored(None, [])
    cid, secret = value.get("id"), value.get("secret")
    ticket = None
    if isinstance(cid, str) and isinstance(secret, str) and 8 <= len(cid) <= 64 and 16 <= len(secret) <= 128:
        ticket = Ticket(cid, secret)
    history = value.get("history")
    messages = [m for m in history if _is_message(m)] if isinstance(history, list) else []
    return Stored(ticket, messages[-MAX_MESSAGES:])


def stored_value(ticket: Ticket, history: list | None) -> dict[str, Any]:
    return {"id": ticket.conversation_id, "secret": ticket.secret, "history": list(history or [])}


def _is_message(m: Any) -> bool:
    return isinstance(m, dict) and m.get("role") in ("user", "assistant") and isinstance(m.get("content"), (str, list))


def _parts(message: dict[str, Any]) -> list[Any]:
    content = message.get("content")
    return [content] if isinstance(content, str) else list(content or [])


def shown_history(history: list[dict[str, Any]], own_folder: Path | None) -> list[dict[str, Any]]:
    """The chat to show again: text as it was; files only from ``own_folder`` (the resumed conversation's own
    files, None after the grace period); HTML outputs kept; anything else becomes a short note."""
    out: list[dict[str, Any]] = []
    for message in history:
        parts: list[Any] = []
        for part in _parts(message):
            if isinstance(part, str):
                parts.append({"type": "text", "text": part})
            elif not isinstance(part, dict):
                continue
            elif part.get("type") == "text" and isinstance(part.get("text"), str):
                parts.append({"type": "text", "text": part["text"]})
            elif part.get("type") == "file" and _own_file(part.get("file"), own_folder):
                parts.append({"type": "file", "file": {"path": part["file"]["path"]},
                              "alt_text": part.get("alt_text") if isinstance(part.get("alt_text"), str) else None})
            elif part.get("type") == "component" and part.get("component") == "html" and isinstance(part.get("value"), str):
                parts.append({"type": "component", "component": "html", "value": part["value"],
                              "constructor_args": {}, "props": {}})
            else:
                parts.append({"type": "text", "text": GONE_FILE})
        if not parts:
            continue
        entry: dict[str, Any] = {"role": message["role"], "content": parts}
        metadata = message.get("metadata")
        if isinstance(metadata, dict):
            entry["metadata"] = {k: v for k, v in metadata.items() if isinstance(v, (str, int, float)) and v is not None}
        out.append(entry)
    return out


def _own_file(file: Any, folder: Path | None) -> bool:
    if folder is None or not isinstance(file, dict) or not isinstance(file.get("path"), str):
        return False
    try:
        path = Path(file["path"]).resolve()
        return path.is_file() and path.is_relative_to(folder.resolve())
    except (OSError, ValueError):
        return False


def _text_of(message: dict[str, Any]) -> str:
    texts = []
    for part in _parts(message):
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part, dict) and part.get("type") == "file":
            name = Path(str((part.get("file") or {}).get("path") or "file")).name
            texts.append(f"[a file was shown here: {name}]")
        elif isinstance(part, dict) and part.get("type") == "component":
            texts.append("[an output was shown here]")
    return "\n".join(t for t in texts if t)


def transcript_turns(history: list[dict[str, Any]]) -> list[tuple[int, str, str]]:
    """(turn number, what the person wrote, what they were shown in reply) for the model, newest turns within
    MAX_TRANSCRIPT_CHARS. The turn number is the message's place among the page's user messages, so undo and
    retry after a resume cut the same turns on the page and in the transcript."""
    turns: list[tuple[int, list[str], list[str]]] = []
    for message in history:
        text = _text_of(message)
        if message["role"] == "user":
            turns.append((len(turns), [text], []))
            continue
        if not turns:
            continue  # a reply before any message (a note): nothing to answer
        title = (message.get("metadata") or {}).get("title") if isinstance(message.get("metadata"), dict) else None
        if title == "Thinking":
            continue
        if title:
            body = text if len(text) <= MAX_STEP_CHARS else text[:MAX_STEP_CHARS] + " …"
            turns[-1][2].append(f"[step: {title}]\n{body}".strip())
        elif text.strip():
            turns[-1][2].append(text)
    out: list[tuple[int, str, str]] = []
    total = 0
    for number, user, reply in reversed(turns):
        u, r = "\n".join(user), "\n\n".join(reply)
        total += len(u) + len(r)
        if total > MAX_TRANSCRIPT_CHARS and out:
            break
        out.append((number, u[:MAX_TRANSCRIPT_CHARS], r[:MAX_TRANSCRIPT_CHARS]))
    return list(reversed(out))
