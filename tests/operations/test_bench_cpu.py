"""``make bench``'s CPU split (bench/device_bench.py): each process's CPU between two
readings of ``/proc``, by kind (the server's process group, PostgreSQL, Redis), and the
rest of the machine's busy time as "other"."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.operations.bench_modules import load_bench

device_bench = load_bench("device_bench")

SERVER = 4000
TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def _stat_line(pid: int, comm: str, *, group: int, utime: int, stime: int, start: int) -> str:
    # Fields after "(comm)": state ppid pgrp session tty tpgid flags minflt cminflt majflt
    # cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime ...
    after = ["S", "1", str(group), str(group), "0", "-1", "0", "0", "0", "0", "0"]
    after += [str(utime), str(stime), "0", "0", "20", "0", "1", "0", str(start), "0"]
    return f"{pid} ({comm}) {' '.join(after)}\n"


def _proc(root: Path, *, busy: tuple[int, ...], idle: int, processes: list[dict]) -> str:
    """A /proc tree: the machine line (user nice system idle iowait irq softirq steal)
    and each process's stat."""
    if root.exists():
        for path in sorted(root.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    root.mkdir(parents=True, exist_ok=True)
    user, nice, system, irq, softirq, steal = busy
    (root / "stat").write_text(
        f"cpu  {user} {nice} {system} {idle} 0 {irq} {softirq} {steal} 0 0\ncpu0 1 1 1 1\n"
    )
    for p in processes:
        (root / str(p["pid"])).mkdir()
        (root / str(p["pid"]) / "stat").write_text(
            _stat_line(
                p["pid"],
                p["comm"],
                group=p.get("group", 1),
                utime=p["utime"],
                stime=p.get("stime", 0),
                start=p.get("start", 100),
            )
        )
    (root / "self").mkdir()  # not a pid: skipped
    (root / "99").mkdir()  # a stat of another layout: skipped, not an error
    (root / "99" / "stat").write_text("99 (short) S 1\n")
    return str(root)


def test_each_kind_gets_its_processes_ticks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device_bench, "SERVER_GROUP", SERVER)
    proc = tmp_path / "proc"
    common = [
        {"pid": 10, "comm": "postgres", "utime": 500},
        {"pid": 11, "comm": "redis-server", "utime": 300},
        {"pid": 13, "comm": "postgres_exporter", "utime": 50},
    ]
    before = device_bench.cpu_ticks(
        _proc(
            proc,
            busy=(1000, 0, 200, 0, 0, 7),
            idle=5000,
            processes=[
                *common,
                {"pid": 20, "comm": "gunicorn", "group": SERVER, "utime": 100, "stime": 10},
                {"pid": 21, "comm": "a (weird) name", "group": SERVER, "utime": 100},
                # A database connection that ends before the second reading.
                {"pid": 12, "comm": "postgres", "utime": 40},
                {"pid": 30, "comm": "postgres", "utime": 70, "start": 100},
            ],
        )
    )
    after = device_bench.cpu_ticks(
        _proc(
            proc,
            busy=(1300, 0, 250, 0, 50, 9),
            idle=5100,
            processes=[
                {"pid": 10, "comm": "postgres", "utime": 540},  # +40
                {"pid": 11, "comm": "redis-server", "utime": 310},  # +10
                {"pid": 13, "comm": "postgres_exporter", "utime": 60},  # other
                {"pid": 20, "comm": "gunicorn", "group": SERVER, "utime": 250, "stime": 20},
                {"pid": 21, "comm": "a (weird) name", "group": SERVER, "utime": 150},  # +50
                # A new connection: counted in full.
                {"pid": 14, "comm": "postgres", "utime": 15},
                # The same pid, another process (its start time differs): in full.
                {"pid": 30, "comm": "postgres", "utime": 5, "start": 900},
            ],
        )
    )

    split = device_bench.cpu_per_request(before, after, requests=2)

    per_request = TICK_US / 2
    assert split["app"] == pytest.approx((160 + 50) * per_request)
    assert split["postgresql"] == pytest.approx((40 + 15 + 5) * per_request)
    assert split["redis"] == pytest.approx(10 * per_request)
    # Busy: user + nice + system + irq + softirq (not idle, not steal).
    assert split["machine"] == pytest.approx((300 + 50 + 50) * per_request)
    assert split["other"] == pytest.approx((400 - 210 - 60 - 10) * per_request)
    assert split["idle"] == pytest.approx(1 - 400 / (400 + 100 + 2))


def test_no_split_without_readings_or_requests(tmp_path: Path) -> None:
    assert device_bench.cpu_ticks(str(tmp_path / "missing")) is None
    reading = device_bench.cpu_ticks(_proc(tmp_path / "p", busy=(1,) * 6, idle=1, processes=[]))
    assert device_bench.cpu_per_request(reading, reading, requests=0) == {}
    assert device_bench.cpu_per_request(None, reading, requests=10) == {}


@pytest.mark.skipif(not Path("/proc/stat").exists(), reason="reads Linux's /proc")
def test_this_machine_this_process_as_the_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(device_bench, "SERVER_GROUP", os.getpgid(0))
    before = device_bench.cpu_ticks()
    end = time.process_time() + 0.3
    while time.process_time() < end:
        pass
    after = device_bench.cpu_ticks()

    split = device_bench.cpu_per_request(before, after, requests=1)

    # At least this process's 0.3 s (ticks are 10 ms): the app's, and the machine's.
    assert split["app"] >= 280_000
    assert split["machine"] >= 280_000
