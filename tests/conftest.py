"""Shared fixtures live in tests/support/*_fixtures.py, one module per area, registered here.

Gradio (imported by many tests, and by the apps they start as subprocesses) keeps a cache folder; the run gets a
private one, removed when it ends, so a test run leaves nothing in the temp folder. Gradio reads these
settings when it is imported, so they are set here, before any test module imports it.
"""

import atexit
import os
import shutil
import tempfile

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["GRADIO_IS_E2E_TEST"] = "1"  # shorter heartbeats: a closed tab is noticed quickly
if "GRADIO_TEMP_DIR" not in os.environ:
    os.environ["GRADIO_TEMP_DIR"] = tempfile.mkdtemp(prefix="gradio-tests-")
    atexit.register(shutil.rmtree, os.environ["GRADIO_TEMP_DIR"], ignore_errors=True)

pytest_plugins = [
    "tests.support.localbox_fixtures",  # a real local E2B-compatible sandbox server (agent.localbox)
    "tests.support.claude_fixtures",  # a scripted stand-in for the Anthropic Messages API
]
