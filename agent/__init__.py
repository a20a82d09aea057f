"""A coding agent: Claude streaming tool calls into an E2B (or local E2B-compatible) sandbox."""
