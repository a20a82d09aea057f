"""scripts/setup.sh as a newcomer runs it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_setup_shows_pips_progress_while_installing(tmp_path):
    """scripts/setup.sh lets pip print what it collects and installs instead of running it quietly."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup.sh", tmp_path / "scripts" / "setup.sh")
    for name in ("requirements.txt", "requirements-sandbox.txt"):
        (tmp_path / name).write_text("example-package==1.0\n")
    fake = tmp_path / "fakepython"
    # A stand-in Python: "-m venv DIR" makes DIR/bin/python (itself); "-m pip install" behaves like pip: quiet
    # with -q, otherwise one progress line per requirement file. Anything else (the module checks) succeeds.
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin" && cp "$0" "$3/bin/python"; exit 0; fi\n'
        'if [ "$1 $2 $3" = "-m pip install" ]; then\n'
        '  case " $* " in *" -q "*) exit 0;; esac\n'
        '  echo "Collecting example-package==1.0 (fake pip: $*)"; exit 0\n'
        "fi\n"
        "exit 0\n")
    fake.chmod(0o755)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bwrap", "node", "npm", "git", "apt-get", "sudo"):  # present, so setup installs no Debian package
        (bin_dir / tool).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / tool).chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "PYTHON": str(fake), "SANDBOX_PYTHON": str(fake)}
    proc = subprocess.run(["bash", "scripts/setup.sh"], cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    progress = [ln for ln in proc.stdout.splitlines() if ln.startswith("Collecting example-package")]
    assert len(progress) == 2, f"pip's progress is not shown for the app's and the sandbox's packages:\n{proc.stdout}"
