"""Fixtures for a real local sandbox server (agent.localbox), shared by every test area."""
