"""``python -m agent``: see agent/cli.py.

Ctrl-C can arrive at any moment, even while the (large) SDKs are still importing: it ends the program with one
plain line and status 130, never a traceback.
"""

import sys


def _run() -> int:
    try:
        from agent.cli import main

        return main()
    except KeyboardInterrupt:
        sys.stderr.write("Stopped.\n")
        return 130
    except Exception as exc:  # a bug: still one plain line (details with --verbose would need logging)
        sys.stderr.write(f"The agent stopped because of an internal error ({type(exc).__name__}).\n")
        return 1


if __name__ == "__main__":
    sys.exit(_run())
