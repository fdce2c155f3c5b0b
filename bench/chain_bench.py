"""How long the one chain verdict takes on hostile uploads, against an ordinary chain.

    .venv/bin/python bench/chain_bench.py

Prints seconds per verdict and the ratio to the baseline (a root + 2 intermediates,
measured in the same run). An upload is at most CERTIFICATE_CHAIN_MAX_BYTES (1 MiB);
the hostile shapes are sized to that limit, so the ratios bound what one upload costs.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from certificates.validation import inspect_chain_bytes  # noqa: E402
from tests import pki  # noqa: E402

LIMIT = 1024 * 1024


def timed(data: bytes, repeat: int) -> float:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        inspect_chain_bytes(data)
        runs.append(time.perf_counter() - started)
    return statistics.median(runs)


def main() -> None:
    ordinary = pki.pem_bundle(pki.chain(intermediates=2)).encode()
    begin_only = b"-----BEGIN CERTIFICATE-----\n" * (LIMIT // 28)
    many = pki.pem_bundle([pki.issue(f"Root {n}") for n in range(60)]).encode()
    text_around = (b"Bag Attributes\n    friendlyName: x\n" * 20 + ordinary) * 3
    cases = {
        "1 MiB of BEGIN lines without END": begin_only,
        "60 self-signed certificates (over the 50 limit)": many,
        "bundle with text around, three times": text_around,
    }
    baseline = timed(ordinary, 20)
    print(f"{'case':<52} {'seconds':>9} {'x baseline':>11}")
    print(f"{'baseline: root + 2 intermediates':<52} {baseline:>9.4f} {1:>11.1f}")
    for name, data in cases.items():
        seconds = timed(data, 3)
        print(f"{name:<52} {seconds:>9.4f} {seconds / baseline:>11.1f}")


if __name__ == "__main__":
    main()
