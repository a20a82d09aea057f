"""SDK-compatibility, hostile-code tests for the local E2B-compatible sandbox server (agent.localbox)."""
