#!/usr/bin/env python3
"""Ingest side by side: Hearth, InfluxDB 1.x, VictoriaMetrics and PostgreSQL COPY on the same rows.

Generates TSBS cpu-only data with `hearth-bench generate` (line protocol, and CSV for
PostgreSQL), then, for ROUNDS rounds, loads it into a fresh instance of each system in turn
(Hearth, InfluxDB, VictoriaMetrics, PostgreSQL, then again), so that the machine's noise falls on
all of them alike. For each load it records rows/s, the server's peak RSS (the sum over its
processes, sampled every 50 ms, and VmHWM where one process does all the work) and the bytes
the data takes on disk once the server has settled. Prints one table of medians with the
versions that ran and the load average, and `--json` writes every run.

    python3 benches/compare/ingest.py --scale 100 --duration 3d --rounds 3

How each system is loaded (each with its own defaults for durability):
  * Hearth: `hearth-bench ingest` to `/api/v3/write_lp`, acknowledged after the WAL fsync;
    bytes: the Parquet and Delta log under `objects/` after a graceful stop and a compaction.
  * InfluxDB 1.x (Debian `influxdb`): `hearth-bench ingest --endpoint v1` to `/write`; WAL
    fsync per write (its default); bytes: `data/` + `wal/` after a graceful stop.
  * VictoriaMetrics (Debian `victoria-metrics`): `hearth-bench ingest --endpoint v1` to its
    InfluxDB `/write`; no fsync per request; bytes: the storage directory after
    `/internal/force_flush` and a graceful stop.
  * PostgreSQL (Debian `postgresql`): `COPY cpu FROM STDIN (FORMAT csv)` from two sessions at
    once, into a table of 10 text tags, a timestamptz and 10 bigint fields, no index; bytes:
    `pg_total_relation_size('cpu')`.

Needs release binaries (`cargo build --release -p hearth -p hearth-bench`); installs missing
Debian packages with apt-get and psycopg with pip. Run as root (PostgreSQL runs as `postgres`).
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
SYSTEMS = ("hearth", "influxdb", "victoria-metrics", "postgresql")
PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
TAGS = ("hostname", "region", "datacenter", "rack", "os", "arch", "team", "service",
        "service_version", "service_environment")
FIELDS = ("usage_user", "usage_system", "usage_idle", "usage_nice", "usage_iowait", "usage_irq",
          "usage_softirq", "usage_steal", "usage_guest", "usage_guest_nice")


def ensure_peers():
    """Installs the Debian packages and Python modules that are missing."""
    missing = [p for p, exe in (("influxdb", "influxd"), ("victoria-metrics", "victoria-metrics"))
               if shutil.which(exe) is None]
    if not (PG_BIN / "postgres").exists():
        missing.append("postgresql")
    if missing:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                       check=True, env=env)
    # The packages start their services; the comparison runs its own instances.
    for service in ("influxdb", "victoria-metrics", "postgresql"):
        subprocess.run(["service", service, "stop"], capture_output=True)
    try:
        import psycopg  # noqa: F401
    except ImportError:
        cmd = [sys.executable, "-m", "pip", "install", "--quiet", "psycopg[binary]"]
        if subprocess.run(cmd).returncode != 0:
            subprocess.run(cmd + ["--break-system-packages"], check=True)


def versions(bin_dir):
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "?"
    def debian(package):
        return "Debian " + first_line(["dpkg-query", "-W", "-f", "${Version}", package])
    return {
        "hearth": first_line([str(bin_dir / "hearth"), "--version"]),
        "influxdb": debian("influxdb"),
        "victoria-metrics": debian("victoria-metrics"),
        "postgresql": first_line([str(PG_BIN / "postgres"), "--version"]),
    }


def fetch_json(url, body=None):
    req = urllib.request.Request(url, data=body)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, timeout=300) as r:
        return json.loads(r.read())


def check_rows(system, stored, expected):
    """A load only counts if every row is there (a server may accept rows and drop them)."""
    if stored != expected:
        raise RuntimeError(f"{system} stored {stored} rows, {expected} were sent")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def du(*paths):
    total = 0
    for path in paths:
        for dirpath, _, files in os.walk(path):
            for f in files:
                try:
                    total += os.lstat(os.path.join(dirpath, f)).st_size
                except OSError:
                    pass
    return total


def cpu_seconds(pid):
    """CPU seconds of process `pid` so far: user + system, and system alone; and its minor page
    faults (`/proc/<pid>/stat`)."""
    with open(f"/proc/{pid}/stat") as f:
        # After the command: state is field 3, so minflt (10), utime (14), stime (15) are at
        # 7, 11 and 12.
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / ticks, int(fields[12]) / ticks
    return user + system, system, int(fields[7])


class RssSampler:
    """Peak of the summed RSS of a process and its descendants, sampled every 50 ms."""

    def __init__(self, pid):
        self.pid, self.peak, self.hwm = pid, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _tree(self):
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(entry))
                except (OSError, ValueError, IndexError):
                    pass
        out, todo = [], [self.pid]
        while todo:
            p = todo.pop()
            out.append(p)
            todo.extend(children.get(p, []))
        return out

    def _status(self, pid, key):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith(key):
                        return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def _run(self):
        while not self._stop.is_set():
            tree = self._tree()
            self.peak = max(self.peak, sum(self._status(p, "VmRSS:") for p in tree))
            self.hwm = max(self.hwm, self._status(self.pid, "VmHWM:"))
            self._stop.wait(0.05)

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak, self.hwm


def stop(proc, timeout=120):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_ingest(args, url, endpoint):
    """Runs hearth-bench ingest; its JSON report."""
    cmd = [str(args.bin / "hearth-bench"), "ingest", "--http", url, "--db", "bench",
           "--workers", str(args.workers), "--batch", str(args.batch), "--endpoint", endpoint,
           "--json", str(args.lp)]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"ingest into {url} failed: {out.stderr}")
    report = json.loads(out.stdout)
    if report["errors"]:
        raise RuntimeError(f"ingest into {url}: {report['errors']} errors")
    return report


def run_hearth(args, work):
    data = work / "hearth"
    http = free_port()
    serve = [str(args.bin / "hearth"), "serve", "--data-dir", str(data),
             "--http-addr", f"127.0.0.1:{http}", "--pg-addr", f"127.0.0.1:{free_port()}"]
    proc = subprocess.Popen(serve, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{http}/health")
        rss = RssSampler(proc.pid)
        report = bench_ingest(args, f"http://127.0.0.1:{http}", "v3")
        peak, hwm = rss.stop()
        body = json.dumps({"db": "bench", "q": "SELECT count(*) AS n FROM cpu",
                           "format": "json"}).encode()
        stored = fetch_json(f"http://127.0.0.1:{http}/api/v3/query_sql", body)[0]["n"]
        check_rows("Hearth", stored, args.rows)
    finally:
        stop(proc)
    # Settled: what a compaction leaves of the flushed files.
    proc = subprocess.Popen(serve + ["--compaction-interval", "2s"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{http}/health")
        time.sleep(args.settle)
    finally:
        stop(proc)
    return report["rows_per_s"], peak, hwm, du(data / "objects" / "bench")


def run_influxdb(args, work):
    base = work / "influxdb"
    http = free_port()
    conf = base / "influxdb.conf"
    base.mkdir(parents=True)
    conf.write_text(f"""reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{base}/meta"
[data]
  dir = "{base}/data"
  wal-dir = "{base}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{http}"
  log-enabled = false
""")
    proc = subprocess.Popen(["influxd", "-config", str(conf)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{http}/ping")
        req = urllib.request.Request(f"http://127.0.0.1:{http}/query",
                                     data=b"q=CREATE+DATABASE+bench", method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        urllib.request.urlopen(req, timeout=30).read()
        rss = RssSampler(proc.pid)
        report = bench_ingest(args, f"http://127.0.0.1:{http}", "v1")
        peak, hwm = rss.stop()
        answer = fetch_json(f"http://127.0.0.1:{http}/query?db=bench&q=" +
                            urllib.parse.quote("SELECT count(usage_user) FROM cpu"))
        check_rows("InfluxDB", answer["results"][0]["series"][0]["values"][0][1], args.rows)
        time.sleep(args.settle)
    finally:
        stop(proc)
    return report["rows_per_s"], peak, hwm, du(base / "data", base / "wal")


def run_victoria(args, work):
    data = work / "victoria-metrics"
    http = free_port()
    # TSBS data is from 2016: without a long retention VictoriaMetrics answers 204 and drops it.
    proc = subprocess.Popen(["victoria-metrics", f"-storageDataPath={data}",
                             f"-httpListenAddr=127.0.0.1:{http}", "-loggerLevel=ERROR",
                             "-retentionPeriod=100y"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{http}/health")
        rss = RssSampler(proc.pid)
        report = bench_ingest(args, f"http://127.0.0.1:{http}", "v1")
        peak, hwm = rss.stop()
        urllib.request.urlopen(f"http://127.0.0.1:{http}/internal/force_flush", timeout=60).read()
        # Samples of one field; each line carries one sample of each.
        query = urllib.parse.urlencode({
            "query": "sum(count_over_time(cpu_usage_user[36500d]))",
            "time": "2100-01-01T00:00:00Z"})
        answer = fetch_json(f"http://127.0.0.1:{http}/api/v1/query?{query}")
        result = answer["data"]["result"]
        check_rows("VictoriaMetrics", int(result[0]["value"][1]) if result else 0, args.rows)
        time.sleep(args.settle)
    finally:
        stop(proc)
    return report["rows_per_s"], peak, hwm, du(data)


def lp_to_csv(lp, csv_parts):
    """The cpu-only line protocol as CSV files, rows dealt round-robin to `csv_parts`."""
    outs = [open(p, "w") for p in csv_parts]
    rows = 0
    with open(lp) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, fields, ts = line.split(" ")
            tags = dict(kv.split("=", 1) for kv in key.split(",")[1:])
            values = dict(kv.split("=", 1) for kv in fields.split(","))
            seconds, nanos = divmod(int(ts), 1_000_000_000)
            stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))
            stamp += f".{nanos // 1000:06d}+00"
            cols = [tags.get(t, "") for t in TAGS] + [stamp]
            cols += [values.get(v, "").rstrip("i") for v in FIELDS]
            outs[rows % len(outs)].write(",".join(cols) + "\n")
            rows += 1
    for o in outs:
        o.close()
    return rows


def run_postgresql(args, work):
    import psycopg

    data = work / "postgresql"
    data.mkdir(parents=True)
    shutil.chown(data, "postgres", "postgres")
    as_pg = ["runuser", "-u", "postgres", "--"]
    subprocess.run(as_pg + [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U",
                            "postgres"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(as_pg + [str(PG_BIN / "postgres"), "-D", str(data), "-p", str(port),
                                     "-k", str(data), "-c", "listen_addresses="],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conninfo = f"host={data} port={port} user=postgres dbname=postgres"
    try:
        deadline = time.time() + 60
        while True:
            try:
                psycopg.connect(conninfo).close()
                break
            except psycopg.OperationalError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        columns = ", ".join([f"{t} text" for t in TAGS] + ["time timestamptz"] +
                            [f"{v} bigint" for v in FIELDS])
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute(f"CREATE TABLE cpu ({columns})")
        errors = []

        def load(part):
            try:
                with psycopg.connect(conninfo) as c, c.cursor() as cur:
                    with cur.copy("COPY cpu FROM STDIN (FORMAT csv)") as copy, open(part) as f:
                        while chunk := f.read(1 << 20):
                            copy.write(chunk)
            except Exception as e:  # reported below
                errors.append(e)

        rss = RssSampler(proc.pid)
        started = time.perf_counter()
        threads = [threading.Thread(target=load, args=(p,)) for p in args.csv]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
        peak, _ = rss.stop()
        if errors:
            raise RuntimeError(f"COPY failed: {errors[0]}")
        with psycopg.connect(conninfo, autocommit=True) as c:
            c.execute("CHECKPOINT")
            loaded = c.execute("SELECT count(*) FROM cpu").fetchone()[0]
            size = c.execute("SELECT pg_total_relation_size('cpu')").fetchone()[0]
        if loaded != args.rows:
            raise RuntimeError(f"PostgreSQL has {loaded} rows, expected {args.rows}")
    finally:
        stop(proc)
    # The postmaster forks a process per session; its own high-water mark says little.
    return args.rows / elapsed, peak, None, size


RUNNERS = {"hearth": run_hearth, "influxdb": run_influxdb,
           "victoria-metrics": run_victoria, "postgresql": run_postgresql}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=100, help="hosts")
    ap.add_argument("--duration", default="3d")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--batch", type=int, default=5000)
    ap.add_argument("--settle", type=float, default=20.0,
                    help="seconds each server gets after the load to flush and compact")
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--bin", type=pathlib.Path, default=ROOT / "target" / "release",
                    help="directory of the release hearth and hearth-bench")
    ap.add_argument("--work", type=pathlib.Path, help="scratch directory (default: a temp dir)")
    ap.add_argument("--json", type=pathlib.Path, help="write every run here")
    args = ap.parse_args()
    systems = [s for s in args.systems.split(",") if s]
    for s in systems:
        if s not in RUNNERS:
            ap.error(f"unknown system {s!r}; known: {', '.join(SYSTEMS)}")
    ensure_peers()
    work = pathlib.Path(tempfile.mkdtemp(prefix="hearth-ingest-", dir=args.work))
    os.chmod(work, 0o755)
    args.lp = work / "cpu.lp"
    subprocess.run([str(args.bin / "hearth-bench"), "generate", "--use-case", "cpu-only",
                    "--scale", str(args.scale), "--duration", args.duration, "--seed",
                    str(args.seed), "--dirty", "false", "--output", str(args.lp)], check=True,
                   capture_output=True)
    args.csv = [work / f"cpu-{i}.csv" for i in range(2)]
    args.rows = lp_to_csv(args.lp, args.csv)
    for p in args.csv:
        os.chmod(p, 0o644)
    print(f"{args.rows} rows ({args.scale} hosts x {args.duration}), "
          f"{args.lp.stat().st_size / args.rows:.0f} B/row as line protocol", flush=True)
    runs = {s: [] for s in systems}
    try:
        for r in range(args.rounds):
            for s in systems:
                target = work / f"round-{r}"
                target.mkdir(exist_ok=True)
                os.chmod(target, 0o755)
                load = os.getloadavg()[0]
                rate, peak, hwm, size = RUNNERS[s](args, target)
                runs[s].append({"rows_per_s": rate, "peak_rss": peak, "vm_hwm": hwm,
                                "bytes": size, "load_before": load})
                print(f"round {r + 1} {s:17} {rate / 1000:8.0f} k rows/s  peak RSS "
                      f"{peak / 2**20:7.0f} MiB  {size / args.rows:6.2f} B/row  "
                      f"(load {load:.2f})", flush=True)
                shutil.rmtree(target / s, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ran = versions(args.bin)
    print()
    print("| system | version | rows/s (median) | vs Hearth | peak RSS | bytes/row |")
    print("|---|---|---|---|---|---|")
    base = statistics.median(r["rows_per_s"] for r in runs["hearth"]) if "hearth" in runs else None
    for s in systems:
        rate = statistics.median(r["rows_per_s"] for r in runs[s])
        peak = max(r["peak_rss"] for r in runs[s])
        size = statistics.median(r["bytes"] for r in runs[s]) / args.rows
        ratio = f"{rate / base:.2f}x" if base else "-"
        print(f"| {s} | {ran[s]} | {rate / 1000:.0f} k | {ratio} | {peak / 2**20:.0f} MiB | "
              f"{size:.2f} |")
    if args.json:
        args.json.write_text(json.dumps({"rows": args.rows, "versions": ran, "runs": runs},
                                        indent=2))


if __name__ == "__main__":
    main()
