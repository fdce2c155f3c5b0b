"""``make bench``'s CPU split (bench/device_bench.py): the server's processes are told
apart by their process group, and what they used per request adds up with the rest."""

from __future__ import annotations

import importlib.util
import os
import time
from pathlib import Path

import pytest

# Loaded from its file: bench/ is no package, and its modules stay off sys.path.
_SPEC = importlib.util.spec_from_file_location(
    "device_bench", Path(__file__).resolve().parents[2] / "bench" / "device_bench.py"
)
assert _SPEC is not None and _SPEC.loader is not None
device_bench = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(device_bench)

pytestmark = pytest.mark.skipif(
    not Path("/proc/stat").exists(), reason="the split reads Linux's /proc"
)


def _burn(seconds: float) -> None:
    end = time.process_time() + seconds
    while time.process_time() < end:
        pass


def test_the_server_group_counts_as_the_app(monkeypatch: pytest.MonkeyPatch) -> None:
    # This process stands in for the server: its group is the "server's".
    monkeypatch.setattr(device_bench, "SERVER_GROUP", os.getpgid(0))
    before = device_bench.cpu_ticks()
    _burn(0.3)
    after = device_bench.cpu_ticks()

    split = device_bench.cpu_per_request(before, after, requests=1)

    # 0.3 s of this process's CPU is the app's (ticks are 10 ms: allow two each side).
    assert 280_000 <= split["app"] <= 400_000
    assert split["machine"] >= split["app"] - 20_000
    assert split["other"] == pytest.approx(
        split["machine"] - split["app"] - split["postgresql"] - split["redis"]
    )
    assert 0 <= split["idle"] <= 1


def test_without_a_server_group_this_process_is_other(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_bench, "SERVER_GROUP", None)
    before = device_bench.cpu_ticks()
    _burn(0.2)
    after = device_bench.cpu_ticks()

    split = device_bench.cpu_per_request(before, after, requests=2)

    assert split["app"] == 0
    # Per request: 0.2 s over two requests, all of it outside the three kinds.
    assert split["other"] >= 80_000


def test_no_split_without_requests_or_readings() -> None:
    ticks = device_bench.cpu_ticks()
    assert device_bench.cpu_per_request(ticks, ticks, requests=0) == {}
    assert device_bench.cpu_per_request(None, ticks, requests=10) == {}
