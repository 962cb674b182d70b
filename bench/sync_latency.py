#!/usr/bin/env python3
"""Latency of fsync(2) vs fdatasync(2) after a 4 KB rewrite, on the disk holding DIR (default:
the current directory): what each SQLite commit waits for (see .cargo/config.toml,
HAVE_FDATASYNC). Usage: python3 bench/sync_latency.py [DIR] [N]"""
import os
import sys
import tempfile
import time

directory = sys.argv[1] if len(sys.argv) > 1 else "."
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
fd, path = tempfile.mkstemp(prefix="affnet-sync-", dir=directory)
try:
    os.pwrite(fd, b"\0" * 64 * 4096, 0)
    os.fsync(fd)
    for name, sync in (("fsync", os.fsync), ("fdatasync", os.fdatasync)):
        lat = []
        for i in range(n):
            os.pwrite(fd, b"x" * 4096, (i % 64) * 4096)
            t = time.perf_counter()
            sync(fd)
            lat.append(time.perf_counter() - t)
        lat.sort()
        pct = lambda p: lat[min(n - 1, int(n * p))] * 1e6
        print("%-9s p50 %6.0f us  p90 %6.0f us  p99 %6.0f us  (%d calls)" % (name, pct(0.5), pct(0.9), pct(0.99), n))
finally:
    os.close(fd)
    os.unlink(path)
