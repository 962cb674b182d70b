#!/usr/bin/env python3
"""affnet benchmarks: tracked click vs a bare 302 in the same run, conversions, postback
delivery; on SQLite and PostgreSQL. Run through bench/run (which builds the release binaries).

Every figure printed is measured in this run; ratios compare numbers from the same run.
"""
from http.cookiejar import CookieJar
import json
import os
import statistics
import urllib.parse
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AFFNET = os.path.join(ROOT, "target/release/affnet")
BARE = os.path.join(ROOT, "target/release/bare302")
PG_URL = os.environ.get("AFFNET_BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/test")
SMOKE = "--smoke" in sys.argv
DURATION = int(os.environ.get("BENCH_DURATION", "3" if SMOKE else "15"))
# The tracked click and the bare 302 are measured in alternating slices (bare, tracked, bare,
# tracked, ...), DURATION seconds each in all: on a shared machine whose speed drifts within a
# minute, a ratio of two back-to-back 15 s runs moved by ±15 %; alternating slices see the same
# drift on both sides.
SLICES = int(os.environ.get("BENCH_SLICES", "1" if SMOKE else "3"))
SLICE_SECONDS = max(1, DURATION // SLICES)
# Before each connection count's slices, both servers get this many seconds of the same load,
# not counted (printed apart): the first seconds after the server starts (connections opened,
# statements prepared, PostgreSQL's caches cold) are not how a running server answers, and the
# first slice was PostgreSQL's worst in several runs.
WARMUP_SECONDS = int(os.environ.get("BENCH_WARMUP", "1" if SMOKE else "3"))
CONNECTIONS = [int(c) for c in os.environ.get("BENCH_CONNECTIONS", "64" if SMOKE else "64,256").split(",")]
BACKENDS = os.environ.get("BENCH_BACKENDS", "sqlite,postgres").split(",")
REPORT_CLICKS = int(os.environ.get("BENCH_REPORT_CLICKS", "200000" if SMOKE else "10000000"))
PORT = int(os.environ.get("BENCH_PORT", "18080"))
BARE_PORT = int(os.environ.get("BENCH_BARE_PORT", "19090"))
failures = []


def http(method, url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=30) as res:
        return json.loads(res.read() or b"null")


def wait_ready(url):
    for _ in range(300):
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.1)
    raise SystemExit("FAIL: server did not become ready: " + url)


def wrk(url, connections, script, env=None, seconds=None):
    cmd = ["wrk", "-t1", "-c%d" % connections, "-d%ds" % (seconds or DURATION), "--latency", "-s", script, url]
    out = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **(env or {})}, check=True).stdout
    def latency(pct):
        m = re.search(r"^\s*%s%%\s+([\d.]+)(us|ms|s)" % pct, out, re.M)
        if not m:
            return float("nan")
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": latency(50), "p99": latency(99), "total": total,
        "non_2xx_3xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


class Db:
    def __init__(self, backend, tmp):
        self.backend = backend
        if backend == "sqlite":
            self.path = os.path.join(tmp, "bench.db")
            self.url = "sqlite://" + self.path
        else:
            self.name = "affnet_bench_%d" % os.getpid()
            base = PG_URL.rsplit("/", 1)[0]
            self.admin = PG_URL
            self.psql(self.admin, "DROP DATABASE IF EXISTS %s" % self.name)
            self.psql(self.admin, "CREATE DATABASE %s" % self.name)
            self.url = "%s/%s" % (base, self.name)

    @staticmethod
    def psql(url, sql):
        return subprocess.run(["psql", url, "-tAq", "-c", sql], capture_output=True, text=True, check=True).stdout.strip()

    def query(self, sql):
        if self.backend == "sqlite":
            con = sqlite3.connect(self.path, timeout=30)
            try:
                rows = con.execute(sql).fetchall()
                con.commit()
                return rows
            finally:
                con.close()
        out = self.psql(self.url, sql)
        return [tuple(line.split("|")) for line in out.splitlines() if line]

    def scalar(self, sql):
        return int(self.query(sql)[0][0])

    def poller(self, sql):
        """A function returning `sql`'s integer result, asked over one connection kept open: a
        psql process (and a PostgreSQL backend) started every 50 ms would cost the machine ~15 %
        of a core, taken from what is being measured."""
        if self.backend == "sqlite":
            return lambda: self.scalar(sql)
        session = subprocess.Popen(["psql", self.url, "-tAq"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True, bufsize=1)

        def ask():
            session.stdin.write(sql.rstrip(";") + ";\n")
            session.stdin.flush()
            return int(session.stdout.readline())
        ask.close = lambda: (session.stdin.close(), session.wait())
        return ask

    def drop(self):
        if self.backend == "postgres":
            self.psql(self.admin, "DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


def bench_reports(db, env, base, api, token, adv, aff, offer):
    """REPORT_CLICKS clicks over the last 30 days (bulk SQL, not HTTP; sequence keys 1..n, far
    below the server's, which start at the millisecond times 2^16) on 10 offers and 20
    affiliates, with their hourly and daily rollups; the sub id rollups caught up with
    `affnet rollup subs` (timed: what the server's worker would do over the hours that passed);
    then the dashboard and report pages, timed."""
    offers = [offer] + [http("POST", api + "/offers", token, {
        "advertiser_id": adv, "name": "Report offer %d" % i,
        "offer_url": "https://shop.example/?t={transaction_id}",
        "payout": {"type": "cpa_flat", "flat": 250, "bps": 0}})["id"] for i in range(9)]
    affs = [aff] + [http("POST", api + "/affiliates", token, {"name": "Report media %d" % i, "status": "active"})["id"]
                    for i in range(19)]
    if offers != list(range(offers[0], offers[0] + 10)) or affs != list(range(affs[0], affs[0] + 20)):
        raise SystemExit("FAIL: expected consecutive offer and affiliate ids")
    now = int(time.time() * 1e6)
    span = 30 * 86400 * 1_000_000
    n = REPORT_CLICKS
    t0 = time.time()
    if db.backend == "sqlite":
        gen = ("WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < %d) "
               "INSERT INTO clicks (id, seq, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, created_at) "
               "SELECT printf('%%016x%%016x', x, x), x, 1, %d + x %% 10, %d + (x / 10) %% 20, %d, 'sub' || (x %% 1000), "
               "%d - (x * %d) %% %d FROM g" % (n, offers[0], affs[0], adv, now, span // n, span))
    else:
        gen = ("INSERT INTO clicks (id, seq, tenant_id, offer_id, affiliate_id, advertiser_id, aff_sub, created_at) "
               "SELECT lpad(to_hex(x), 16, '0') || lpad(to_hex(x), 16, '0'), x, 1, %d + x %% 10, %d + (x / 10) %% 20, %d, 'sub' || (x %% 1000), "
               "%d - (x::bigint * %d) %% %d FROM generate_series(1, %d) AS x" % (offers[0], affs[0], adv, now, span // n, span, n))
    db.query(gen)
    db.query(
        "INSERT INTO stats_hourly (tenant_id, hour, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending,"
        " rejected, payout, revenue, pending_payout, pending_revenue)"
        " SELECT tenant_id, created_at - created_at % 3600000000, offer_id, affiliate_id, COUNT(*), 0, COUNT(*) / 50, 0,"
        " 0, (COUNT(*) / 50) * 250, (COUNT(*) / 50) * 400, 0, 0 FROM clicks WHERE seq BETWEEN 1 AND " + str(n) + " GROUP BY 1, 2, 3, 4"
        " ON CONFLICT (tenant_id, hour, offer_id, affiliate_id) DO UPDATE SET clicks = stats_hourly.clicks + excluded.clicks,"
        " approved = stats_hourly.approved + excluded.approved, payout = stats_hourly.payout + excluded.payout,"
        " revenue = stats_hourly.revenue + excluded.revenue")
    # The daily rollups are the sums of the hourly ones (the server keeps both in one
    # transaction): rebuilt from them, as migration 8 backfills them.
    db.query("DELETE FROM stats_daily")
    db.query(
        "INSERT INTO stats_daily (tenant_id, day, offer_id, affiliate_id, clicks, rejected_clicks, approved, pending,"
        " rejected, payout, revenue, pending_payout, pending_revenue)"
        " SELECT tenant_id, hour - hour % 86400000000, offer_id, affiliate_id, CAST(SUM(clicks) AS BIGINT),"
        " CAST(SUM(rejected_clicks) AS BIGINT), CAST(SUM(approved) AS BIGINT), CAST(SUM(pending) AS BIGINT),"
        " CAST(SUM(rejected) AS BIGINT), CAST(SUM(payout) AS BIGINT), CAST(SUM(revenue) AS BIGINT),"
        " CAST(SUM(pending_payout) AS BIGINT), CAST(SUM(pending_revenue) AS BIGINT) FROM stats_hourly GROUP BY 1, 2, 3, 4")
    if db.backend == "postgres":
        # A running PostgreSQL analyzes new rows on its own (autovacuum, within a minute or so);
        # pages timed seconds after a bulk load would be planned without any statistics.
        db.query("ANALYZE clicks; ANALYZE conversions; ANALYZE stats_hourly; ANALYZE stats_daily")
    generated = time.time() - t0
    # Bulk-loaded clicks are not counted per sub id until the server's worker has passed over
    # their hours (it looks back two days on each pass, over everything once an hour): the
    # catch-up command does it now, the current hour included. Every click is committed by now
    # (the load is done, the click benchmark ended minutes ago), so no grace is left for late
    # commits (--grace 0; the default, 60 s, would leave the last minute to be read raw).
    t0 = time.time()
    caught = subprocess.run([AFFNET, "rollup", "subs", "--grace", "0"], env={**os.environ, **env},
                            capture_output=True, text=True, check=True)
    catch_up = time.time() - t0
    done = json.loads(caught.stdout)
    print("reports: sub id rollups caught up in %.1f s (%d hours, %d days, %d clicks)"
          % (catch_up, done["hours"], done["days"], done["clicks"]), flush=True)
    if db.backend == "postgres":
        db.query("ANALYZE stats_sub_clicks_hourly; ANALYZE stats_sub_clicks_daily; ANALYZE stats_sub_progress;"
                 " ANALYZE stats_sub_days; ANALYZE stats_sub_conversions_hourly; ANALYZE stats_sub_conversions_daily")
    # Sign in like a browser, then time the pages.
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/t/bench/login", timeout=30).read().decode()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    form = urllib.parse.urlencode({"csrf_token": csrf, "email": "admin@bench.test", "password": "bench password 1"})
    opener.open(base + "/t/bench/login", data=form.encode(), timeout=30).read()
    today = time.strftime("%Y-%m-%d", time.gmtime())
    start = time.strftime("%Y-%m-%d", time.gmtime(time.time() - 29 * 86400))
    sub_path = "/admin/reports?group_by=aff_sub&from=%s&to=%s" % (start, today)
    pages = [("dashboard (today/yesterday/7/30 days, chart, tops)", "/admin")] + [
        ("report by %s, 30 days" % g, "/admin/reports?group_by=%s&from=%s&to=%s" % (g, start, today))
        for g in ("date", "hour", "offer", "affiliate")] + [
        ("report by aff_sub, 30 days (sub id rollups, raw clicks after the catch-up)", sub_path)]
    timings = {}

    def time_page(label, path):
        samples = []
        for _ in range(5):
            t = time.time()
            body = opener.open(base + path, timeout=60).read()
            samples.append((time.time() - t) * 1000)
            if b"Sign out" not in body:
                raise SystemExit("FAIL: %s did not answer a signed-in page: %s" % (path, body[:300]))
        timings[label] = {"median_ms": statistics.median(samples), "max_ms": max(samples)}
        print("reports: %-78s median %7.1f ms, max %7.1f ms" % (label, statistics.median(samples), max(samples)),
              flush=True)

    raw_left = db.scalar("SELECT COUNT(*) FROM clicks WHERE tenant_id = 1 AND created_at >= "
                         "(SELECT COALESCE(MAX(upto), 0) FROM stats_sub_progress WHERE tenant_id = 1)")
    print("reports: clicks after the catch-up's cut (read raw by the sub id report): %d" % raw_left, flush=True)
    for label, path in pages:
        time_page(label, path)
    # With live traffic the server's worker keeps the open hour aggregated up to now minus its
    # grace (60 s), adding each pass only the clicks since the previous one; the report reads
    # the rest raw. As the worker would find it: the last hour's rows made again up to 90 s ago
    # (grace + a pass interval), the report timed, then the pass that extends the hour.
    hour = db.scalar("SELECT COALESCE(MAX(hour), 0) FROM stats_sub_progress WHERE tenant_id = 1")
    db.query("DELETE FROM stats_sub_progress WHERE tenant_id = 1 AND hour = %d" % hour)
    subprocess.run([AFFNET, "rollup", "subs", "--grace", "90"], env={**os.environ, **env}, capture_output=True,
                   check=True)
    live_raw = db.scalar("SELECT COUNT(*) FROM clicks WHERE tenant_id = 1 AND created_at >= "
                         "(SELECT upto FROM stats_sub_progress WHERE tenant_id = 1 AND hour = %d)" % hour)
    print("reports: clicks of the last 90 s (read raw by the sub id report under live traffic): %d" % live_raw,
          flush=True)
    time_page("report by aff_sub, 30 days, the last 90 s raw (as under live traffic)", sub_path)
    t0 = time.time()
    extended = json.loads(subprocess.run([AFFNET, "rollup", "subs", "--grace", "0"], env={**os.environ, **env},
                                         capture_output=True, text=True, check=True).stdout)
    extend_s = time.time() - t0
    print("reports: a pass extending the open hour by those 90 s: %.2f s (%d hours, %d clicks)"
          % (extend_s, extended["hours"], extended["clicks"]), flush=True)
    print("reports: %d clicks generated with rollups in %.1f s" % (n, generated), flush=True)
    return {"clicks": n, "generate_s": generated, "sub_rollup_catch_up_s": catch_up, "sub_rollup_catch_up": done,
            "sub_rollup_extend_s": extend_s, "live_raw_clicks": live_raw, "pages": timings}


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds():
    """CPU time of every PostgreSQL process of this machine (the backends doing the inserts)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        try:
            with open("/proc/%s/comm" % pid) as f:
                if f.read().startswith("postgres"):
                    total += cpu_seconds(int(pid))
        except (OSError, ValueError, IndexError):
            pass
    return total


def wrk_cpu(pid, url, connections, script, backend=None, seconds=None):
    """wrk's figures plus the server's CPU per request (and PostgreSQL's, on PostgreSQL): a
    cost per click that, unlike req/s, barely moves when something else runs on the machine."""
    before, pg_before = cpu_seconds(pid), postgres_cpu_seconds() if backend == "postgres" else 0.0
    wrk_before, idle_before = children_cpu_seconds(), idle_jiffies()
    r = wrk(url, connections, script, seconds=seconds)
    n = max(r["total"], 1)
    r["server_cpu_us"] = (cpu_seconds(pid) - before) / n * 1e6
    r["postgres_cpu_us"] = (postgres_cpu_seconds() - pg_before) / n * 1e6 if backend == "postgres" else 0.0
    r["wrk_cpu_us"] = (children_cpu_seconds() - wrk_before) / n * 1e6
    idle, total = (after - first for after, first in zip(idle_jiffies(), idle_before))
    r["idle"] = idle / total if total else 0.0
    return r


def children_cpu_seconds():
    """User + system CPU time of the finished child processes (each wrk run)."""
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def idle_jiffies():
    """(idle + iowait, all) CPU time of the machine so far, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[3] + v[4], sum(v)


def cpu_bound(bare, tracked):
    """The ratio the CPU costs allow when both cores are busy all the time: the bare request's
    cost (server + wrk) over the tracked click's (server + PostgreSQL + wrk)."""
    cost = tracked["server_cpu_us"] + tracked["postgres_cpu_us"] + tracked["wrk_cpu_us"]
    return (bare["server_cpu_us"] + bare["wrk_cpu_us"]) / cost if cost else float("nan")


def combine(slices):
    """One figure for the slices of one side: requests and CPU summed, req/s over their total
    time, the median slice's p50 and the worst slice's p99."""
    total = sum(r["total"] for r in slices)
    n = max(total, 1)
    # Each slice's measured time (wrk's requests over its rate).
    times = [r["total"] / r["rps"] if r["rps"] else 0.0 for r in slices]
    seconds = sum(times)
    return {
        "rps": total / seconds if seconds else 0.0,
        "p50": statistics.median(r["p50"] for r in slices),
        "p99": max(r["p99"] for r in slices),
        "total": total,
        "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in slices),
        "socket_errors": "; ".join(r["socket_errors"] for r in slices if r["socket_errors"]),
        "server_cpu_us": sum(r["server_cpu_us"] * r["total"] for r in slices) / n,
        "postgres_cpu_us": sum(r["postgres_cpu_us"] * r["total"] for r in slices) / n,
        "wrk_cpu_us": sum(r["wrk_cpu_us"] * r["total"] for r in slices) / n,
        "idle": sum(r["idle"] * t for r, t in zip(slices, times)) / seconds if seconds else 0.0,
        "slices": slices,
    }


def start(cmd, env):
    return subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bench_backend(backend, tmp, bare_pid):
    print("\n== %s ==" % backend, flush=True)
    db = Db(backend, tmp)
    env = {
        "DATABASE_URL": db.url, "AFFNET_LISTEN": "127.0.0.1:%d" % PORT, "AFFNET_WORKERS": "2",
        "AFFNET_LOG": "warn", "AFFNET_POSTBACK_ALLOW_PRIVATE": "true",
        "AFFNET_PUBLIC_URL": "http://127.0.0.1:%d" % PORT,
    }
    created = subprocess.run([AFFNET, "tenant", "create", "--slug", "bench", "--name", "Bench", "--admin-email",
                              "admin@bench.test", "--admin-password", "bench password 1"],
                             env={**os.environ, **env}, capture_output=True, text=True, check=True)
    token = json.loads(created.stdout)["api_key"]
    server = start([AFFNET, "serve"], env)
    results = {}
    try:
        base = "http://127.0.0.1:%d" % PORT
        wait_ready(base + "/readyz")
        api = base + "/api/v1"
        adv = http("POST", api + "/advertisers", token, {"name": "Bench shop"})["id"]
        aff = http("POST", api + "/affiliates", token, {"name": "Bench media", "status": "active"})["id"]
        offer = http("POST", api + "/offers", token, {
            "advertiser_id": adv, "name": "Bench offer",
            "offer_url": "https://shop.example/land?tid={transaction_id}&s={aff_sub}&src={source}",
            "payout": {"type": "cpa_flat", "flat": 250, "bps": 0},
            "dedupe_adv_sub": False,
        })
        path = "/aff_c?offer_id=%d&aff_id=%d" % (offer["id"], aff)
        clicks_script = os.path.join(ROOT, "bench/clicks.lua")
        bare_url = "http://127.0.0.1:%d/aff_c?offer_id=1&aff_id=1" % BARE_PORT
        for c in CONNECTIONS:
            if WARMUP_SECONDS > 0:
                warm_bare = wrk_cpu(bare_pid, bare_url, c, clicks_script, seconds=WARMUP_SECONDS)
                warm = wrk_cpu(server.pid, base + path, c, clicks_script, backend, seconds=WARMUP_SECONDS)
                print("warm-up c=%-3d %d s, not counted: tracked %.0f req/s p99 %.2f ms | bare %.0f req/s p99 %.2f ms"
                      % (c, WARMUP_SECONDS, warm["rps"], warm["p99"], warm_bare["rps"], warm_bare["p99"]), flush=True)
            before = db.scalar("SELECT COUNT(*) FROM clicks")
            bare_slices, tracked_slices = [], []
            for _ in range(SLICES):
                bare_slices.append(wrk_cpu(bare_pid, bare_url, c, clicks_script, seconds=SLICE_SECONDS))
                tracked_slices.append(wrk_cpu(server.pid, base + path, c, clicks_script, backend,
                                              seconds=SLICE_SECONDS))
            bare, tracked = combine(bare_slices), combine(tracked_slices)
            bound = cpu_bound(bare, tracked)
            time.sleep(0.5)
            stored = db.scalar("SELECT COUNT(*) FROM clicks") - before
            ok_302 = tracked["total"] - tracked["non_2xx_3xx"]
            ratio = tracked["rps"] / bare["rps"] if bare["rps"] else float("nan")
            print("clicks  c=%-3d tracked %8.0f req/s p50 %.2f ms p99 %.2f ms | bare %8.0f req/s p50 %.2f ms p99 %.2f ms"
                  " | ratio %.2f | 302s %d, stored %d, lost %d%s"
                  % (c, tracked["rps"], tracked["p50"], tracked["p99"], bare["rps"], bare["p50"], bare["p99"], ratio,
                     ok_302, stored, max(0, ok_302 - stored),
                     (" | socket errors: " + tracked["socket_errors"]) if tracked["socket_errors"] else ""), flush=True)
            print("        server CPU per request: tracked %.1f us%s | bare %.1f us"
                  % (tracked["server_cpu_us"],
                     (" + PostgreSQL %.1f us" % tracked["postgres_cpu_us"]) if backend == "postgres" else "",
                     bare["server_cpu_us"]), flush=True)
            print("        wrk CPU per request: tracked %.1f us | bare %.1f us; machine idle: tracked %.0f %% | bare %.0f %%;"
                  " ratio if both cores were busy throughout: %.2f"
                  % (tracked["wrk_cpu_us"], bare["wrk_cpu_us"], tracked["idle"] * 100, bare["idle"] * 100, bound),
                  flush=True)
            if SLICES > 1:
                print("        %d alternating slices of %d s: ratio %s; tracked p99 %s ms (the worst is reported)"
                      % (SLICES, SLICE_SECONDS, " / ".join(
                          "%.2f" % (t["rps"] / b["rps"]) for b, t in zip(bare_slices, tracked_slices) if b["rps"]),
                         " / ".join("%.2f" % t["p99"] for t in tracked_slices)),
                      flush=True)
            if stored < ok_302:
                failures.append("%s: %d clicks answered 302 but only %d stored" % (backend, ok_302, stored))
            if tracked["non_2xx_3xx"]:
                failures.append("%s: %d click requests did not get a 302" % (backend, tracked["non_2xx_3xx"]))
            results["clicks_%d" % c] = {"tracked": tracked, "bare": bare, "ratio": ratio, "stored": stored,
                                        "cpu_bound_ratio": bound}

        # Conversions: one advertiser postback per recorded click.
        tids_file = os.path.join(tmp, "tids-%s.txt" % backend)
        rows = db.query("SELECT id FROM clicks ORDER BY seq")
        with open(tids_file, "w") as f:
            f.write("\n".join(r[0] for r in rows) + "\n")
        conv = wrk(base + "/aff_lsr", 64, os.path.join(ROOT, "bench/conversions.lua"),
                   {"BENCH_TIDS": tids_file, "BENCH_TOKEN": offer["security_token"]})
        accepted = db.scalar("SELECT COUNT(*) FROM conversions")
        refused = db.scalar("SELECT COUNT(*) FROM conversion_attempts WHERE outcome = 'refused'")
        print("conversions c=64: %8.0f req/s, %8.0f accepted/s, p50 %.2f ms p99 %.2f ms (%d accepted, %d refused, %d clicks available)"
              % (conv["rps"], accepted / DURATION, conv["p50"], conv["p99"], accepted, refused, len(rows)), flush=True)
        if accepted == 0:
            failures.append("%s: no conversion was accepted" % backend)
        results["conversions"] = {**conv, "accepted": accepted, "accepted_per_s": accepted / DURATION}

        # Postback delivery: jobs queued at once for the local receiver (the bare server's /ok).
        jobs = min(accepted, 2000 if SMOKE else 20000)
        db.query("DELETE FROM postback_jobs")
        count_delivered = db.poller("SELECT COUNT(*) FROM postback_jobs WHERE state = 'delivered'")
        now = int(time.time() * 1e6)
        t0 = time.time()
        db.query(
            "INSERT INTO postback_jobs (tenant_id, conversion_id, affiliate_id, event, method, url, body, content_type,"
            " state, attempts, next_attempt_at, created_at, updated_at)"
            " SELECT tenant_id, id, affiliate_id, 'conversion', 'GET', 'http://127.0.0.1:%d/ok?t=' || click_id, '', '',"
            " 'queued', 0, %d, %d, %d FROM conversions ORDER BY id LIMIT %d" % (BARE_PORT, now, now, now, jobs))
        deadline = time.time() + (60 if SMOKE else 300)
        delivered = 0
        while time.time() < deadline:
            delivered = count_delivered()
            if delivered >= jobs:
                break
            time.sleep(0.05)
        took = time.time() - t0
        getattr(count_delivered, "close", lambda: None)()
        print("postbacks: %d of %d delivered in %.2f s = %8.0f deliveries/s" % (delivered, jobs, took, delivered / took),
              flush=True)
        if delivered < jobs:
            failures.append("%s: only %d of %d postbacks delivered" % (backend, delivered, jobs))
        results["postbacks"] = {"jobs": jobs, "delivered": delivered, "seconds": took, "per_s": delivered / took}

        results["reports"] = bench_reports(db, env, base, api, token, adv, aff, offer["id"])
    finally:
        server.terminate()
        server.wait()
        db.drop()
    return results


def main():
    for binary in (AFFNET, BARE):
        if not os.path.exists(binary):
            raise SystemExit("FAIL: %s is missing; run bench/run (it builds the release binaries)" % binary)
    tmp = tempfile.mkdtemp(prefix="affnet-bench-")
    bare = start([BARE, "127.0.0.1:%d" % BARE_PORT, "2"], {})
    all_results = {"machine": {"cores": os.cpu_count(), "duration_s": DURATION, "slices": SLICES}}
    try:
        wait_ready("http://127.0.0.1:%d/ok" % BARE_PORT)
        for backend in BACKENDS:
            # The bare baseline is measured in slices alternating with the tracked ones.
            all_results[backend] = bench_backend(backend, tmp, bare.pid)
    finally:
        bare.terminate()
        bare.wait()
        shutil.rmtree(tmp, ignore_errors=True)
    out = os.path.join(ROOT, "target/bench-results.json")
    with open(out, "w") as f:
        json.dump(all_results, f, indent=2)
    print("\nresults: %s" % out)
    if failures:
        print("FAIL:\n  " + "\n  ".join(failures), file=sys.stderr)
        sys.exit(1)
    print("OK: no click lost")


if __name__ == "__main__":
    main()
