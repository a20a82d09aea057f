"""Memory of the app while sandbox files are downloaded: three 500 MiB sparse files at once, the attack of issue 9.

Runs the real path (``agent.downloads.save_file`` over ``Sandbox.read_chunks``, the unmodified e2b SDK against the
embedded local sandbox server) in this process and samples this process's resident memory (RSS) every 20 ms.
The caps are raised above the file size for the measurement, so every byte is copied (with the default 100 MB
cap each copy stops at 100 MB).

    .venv/bin/python -m bench.download_bench [--mib 500] [--copies 3]

Results go in bench/README-downloads.md by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


async def main(mib: int, copies: int) -> None:
    from agent.config import Settings
    from agent.downloads import save_file
    from agent.sandbox import SandboxProvider

    settings = Settings.from_env().replace(sandbox="local", e2b_api_key=None)
    provider = SandboxProvider.from_settings(settings)
    box = await provider.create({"session": "download-bench"})
    try:
        code, out = await box.run_command(f"truncate -s {mib}M /home/user/big.bin", timeout_s=30)
        assert code == 0, out
        base = rss_bytes()
        peak = base
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_bytes())
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        with tempfile.TemporaryDirectory() as folder:
            started = time.monotonic()
            sizes = await asyncio.gather(*(save_file(box, "/home/user/big.bin", Path(folder) / f"c{i}", (mib + 1) * 2**20)
                                           for i in range(copies)))
            took = time.monotonic() - started
        done.set()
        await sampler
        print(f"{copies} x {mib} MiB copied ({sum(sizes) / 2**20:.0f} MiB) in {took:.1f} s; "
              f"app RSS before {base / 2**20:.0f} MiB, peak {peak / 2**20:.0f} MiB (+{(peak - base) / 2**20:.0f} MiB)")
    finally:
        await box.kill()
        provider.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--copies", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.mib, args.copies))
