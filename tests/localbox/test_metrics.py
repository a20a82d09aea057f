"""`Sandbox.get_metrics()` answers from the sandbox's own cgroup, and says plainly when there is none."""

from __future__ import annotations

import pytest
from e2b import SandboxException

from tests.support.localbox_fixtures import serve

from .helpers import extra_sandbox


@pytest.fixture(scope="module")
def localbox_without_cgroups():
    yield from serve(("--cgroups", "off", "--pool-size", "0"))


def test_metrics_show_the_sandboxs_memory_and_disk(sandbox):
    held = sandbox.run_code("held = b'x' * (300 << 20)", timeout=60)  # 300 MiB, touched
    assert held.error is None, held.error
    sandbox.commands.run("head -c 50000000 /dev/zero > /home/user/fifty-mb", timeout=60)
    metrics = sandbox.get_metrics()
    assert len(metrics) == 1
    sample = metrics[0]
    assert 300 << 20 <= sample.mem_used < sample.mem_total <= 2 << 30
    assert 50_000_000 <= sample.disk_used < sample.disk_total <= 1 << 30
    assert sample.cpu_count >= 1 and 0.0 <= sample.cpu_used_pct <= 100.0


def test_without_a_memory_cgroup_metrics_say_they_are_unsupported(localbox_without_cgroups):
    with extra_sandbox(localbox_without_cgroups) as sbx, pytest.raises(SandboxException) as refused:
        sbx.get_metrics()
    assert "metrics are not available on this machine" in str(refused.value)

