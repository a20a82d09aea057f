"""Fixtures for the scripted Claude stand-in server, shared by every test area."""
