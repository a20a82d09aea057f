"""Finding the port a turn served on, for the Preview (webui/workspace.py)."""

from __future__ import annotations


def test_find_served_port_prefers_the_newest_mention():
    from webui.workspace import find_served_port

    assert find_served_port(["npm run dev", "  VITE ready\n  ➜  Local:   http://localhost:5173/"]) == 5173
    assert find_served_port(["nohup python -m http.server 8000 > log 2>&1 &", ""]) == 8000
    assert find_served_port(["ls", "total 0"]) is None
    assert find_served_port(["serve --port 3000", "ok", "curl -s localhost:8080", "hi"]) == 8080
