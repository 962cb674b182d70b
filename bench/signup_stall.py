#!/usr/bin/env python3
"""Click latency while public signups are made, on SQLite.

A signup hashes a password (argon2id: tens of milliseconds). On SQLite one transaction writes at
a time: a hash made inside a write transaction holds every other writer, the click recorder
included, for as long as it takes. This starts the server on a fresh SQLite database, sends
clicks from a few threads for a while alone, then as long again while signups are made (as many
as the signup throttle lets one address make), and prints for both phases the click latencies
and how long SQLite's write lock was held at a stretch, as seen from outside.

    python3 bench/signup_stall.py [--binary target/release/affnet] [--port 28180] [--seconds 10]
"""

import argparse
import http.client
import http.cookiejar
import json
import os
import re
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request


def cli(binary, env, *args):
    out = subprocess.run([binary, *args], env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


def api(base, token, path, body):
    req = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req) as res:
        return json.loads(res.read())


def clicks(port, path, until, out):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    while time.monotonic() < until:
        start = time.monotonic()
        conn.request("GET", path)
        res = conn.getresponse()
        res.read()
        assert res.status == 302, res.status
        out.append(time.monotonic() - start)


def signup(base, slug, n):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(f"{base}/t/{slug}/signup").read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = {
        "csrf_token": csrf,
        "company": f"Company {n}",
        "name": f"Person {n}",
        "email": f"person{n}@signup.test",
        "password": "a long enough passphrase",
    }
    try:
        with opener.open(f"{base}/t/{slug}/signup", data=urllib.parse.urlencode(form).encode()) as res:
            return res.status
    except urllib.error.HTTPError as e:
        return e.code


def lock_watch(db, until, out):
    """The periods SQLite's write lock was held (by anyone) as seen from outside: `BEGIN IMMEDIATE`
    tried every half millisecond, without waiting."""
    conn = sqlite3.connect(db, timeout=0, isolation_level=None)
    busy_since = None
    while time.monotonic() < until:
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            if busy_since is not None:
                out.append(time.monotonic() - busy_since)
                busy_since = None
        except sqlite3.OperationalError:
            if busy_since is None:
                busy_since = time.monotonic()
        time.sleep(0.0005)
    conn.close()


def phase(port, path, seconds, threads, db, during=None):
    until = time.monotonic() + seconds
    lat, held = [], []
    workers = [threading.Thread(target=clicks, args=(port, path, until, lat)) for _ in range(threads)]
    workers.append(threading.Thread(target=lock_watch, args=(db, until, held)))
    for w in workers:
        w.start()
    extra = during(until) if during else None
    for w in workers:
        w.join()
    lat.sort()
    held.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p))] * 1000 if lat else 0

    return {
        "clicks": len(lat),
        "per_s": round(len(lat) / seconds),
        "p50_ms": round(pct(0.5), 2),
        "p99_ms": round(pct(0.99), 2),
        "p999_ms": round(pct(0.999), 2),
        "max_ms": round(lat[-1] * 1000, 2) if lat else 0,
        "write_lock_longest_held_ms": round(held[-1] * 1000, 2) if held else 0,
        "write_lock_held_over_10ms": sum(1 for h in held if h > 0.010),
        "during": extra,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/affnet")
    ap.add_argument("--port", type=int, default=28180)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--threads", type=int, default=4, help="click threads; 0: only the write lock is watched")
    ap.add_argument("--signups", type=int, default=18, help="at most 20: the throttle's limit per address")
    a = ap.parse_args()
    binary = os.path.abspath(a.binary)
    tmp = tempfile.mkdtemp(prefix="affnet-signup-stall-")
    base = f"http://127.0.0.1:{a.port}"
    env = dict(
        os.environ,
        DATABASE_URL=f"sqlite://{tmp}/affnet.db",
        AFFNET_LISTEN=f"127.0.0.1:{a.port}",
        AFFNET_PUBLIC_URL=base,
        AFFNET_MAIL_DIR=f"{tmp}/mail",
        AFFNET_LOG="warn",
    )
    server = subprocess.Popen([binary, "serve"], env=env)
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/readyz").read()
                break
            except OSError:
                time.sleep(0.1)
        net = cli(binary, env, "tenant", "create", "--slug", "acme", "--name", "Acme",
                  "--admin-email", "admin@acme.test", "--admin-password", "a long admin passphrase")
        token = net["api_key"]["token"] if isinstance(net.get("api_key"), dict) else net["api_key"]
        aff = cli(binary, env, "user", "create", "--tenant", "acme", "--email", "aff@acme.test",
                  "--role", "affiliate", "--password", "a long affiliate passphrase")["affiliate_id"]
        adv = api(base, token, "/api/v1/advertisers", {"name": "Shop"})["id"]
        offer = api(base, token, "/api/v1/offers", {
            "advertiser_id": adv, "name": "Stall", "offer_url": "https://shop.example/?t={transaction_id}",
            "visibility": "public", "payout": {"type": "cpa_flat", "flat": 100, "bps": 0},
            "revenue": {"type": "cpa_flat", "flat": 200, "bps": 0},
        })["id"]
        path = f"/aff_c?offer_id={offer}&aff_id={aff}&aff_sub=stall"
        db = f"{tmp}/affnet.db"
        phase(a.port, path, 2, a.threads, db)  # warm-up

        def signups(until):
            gap = (until - time.monotonic()) / (a.signups + 1)
            statuses = []
            for n in range(a.signups):
                time.sleep(gap)
                statuses.append(signup(base, "acme", n))
            return {"signups": len(statuses), "statuses": sorted(set(statuses))}

        alone = phase(a.port, path, a.seconds, a.threads, db)
        with_signups = phase(a.port, path, a.seconds, a.threads, db, signups)
        print(json.dumps({"binary": binary, "clicks alone": alone, "clicks during signups": with_signups}, indent=2))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
