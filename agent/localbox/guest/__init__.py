"""The in-jail guest daemon: serves file operations and process spawning for ONE sandbox.

Run as `python -I <this directory>` (see __main__.py); only this package is mounted into the jail.

Why it exists: the host must never touch the jail's files through host paths (a symlink planted by sandbox code
could point anywhere on the host). So every file operation and every process start happens *inside* the jail,
done by this small daemon, which sees exactly what sandbox code sees.

It talks to the host over an inherited Unix socket (fd given as argv[1]), never a path, so nothing in the jail can
redirect the host to another socket. Framing: one JSON object per line, both ways. Requests carry an integer
"id"; the guest answers with any number of {"id", "ev": ...} event lines and ends each request with exactly one
{"id", "done": true, "result": ...} or {"id", "done": true, "error": {"code", "message"}}.

Stdlib only: it runs on the sandbox's Python, not the host's venv.
"""
