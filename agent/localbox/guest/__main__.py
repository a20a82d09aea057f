"""Entry point: `python -I /opt/localbox/guest FD [NPROC DATA [EGRESS_PORT]]` inside the jail (the directory
itself is run).

Python puts this directory first on sys.path when it runs a directory; its parent goes there instead so the
package imports as `guest` (`-I` keeps every other path of the host or the sandbox out)."""

import asyncio
import os
import signal
import sys

if not __package__:
    sys.path[0] = os.path.dirname(os.path.abspath(sys.path[0]))
    from guest.daemon import main
    from guest.privileges import become_sandbox_user, forbid_tracing, limit_self, prepare_home
else:
    from .daemon import main
    from .privileges import become_sandbox_user, forbid_tracing, limit_self, prepare_home

if len(sys.argv) >= 4:
    limit_self(int(sys.argv[2]), int(sys.argv[3]))
become_sandbox_user()
prepare_home()
forbid_tracing()
signal.signal(signal.SIGINT, signal.SIG_IGN)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[4]) if len(sys.argv) >= 5 else 0))
