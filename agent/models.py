"""The models offered in the picker: current ones only.

Taken from ``anthropic/types/model_param.py`` (SDK 2.10.0), leaving out everything listed in
``DEPRECATED_MODELS`` (``anthropic/resources/messages/messages.py``) and preview-only names.
The picker shows a label and sends the model id; any other id can still be set with ``ANTHROPIC_MODEL``.
"""

from __future__ import annotations

DEFAULT_MODEL = "claude-sonnet-5-5"

MODELS: list[tuple[str, str]] = [
    ("Claude Sonnet 5.5 (balanced, default)", "claude-sonnet-5-5"),
    ("Claude Opus 5.5 (most capable)", "claude-opus-5-5"),
    ("Claude Haiku 5.5 (fastest)", "claude-haiku-5-5"),
    ("Claude Sonnet 5", "claude-sonnet-5"),
    ("Claude Opus 5", "claude-opus-5"),
    ("Claude Sonnet 4.6", "claude-sonnet-4-6"),
    ("Claude Opus 4.8", "claude-opus-4-8"),
    ("Claude Haiku 4.5", "claude-haiku-4-5"),
    ("Claude Fable 5.2", "claude-fable-5-2"),
    ("Claude Mythos 5.2", "claude-mythos-5-2"),
]


def model_label(model_id: str) -> str:
    """The picker label for a model id (the id itself when it is not in the list)."""
    for label, mid in MODELS:
        if mid == model_id:
            return label
    return model_id
