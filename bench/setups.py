"""Live chat under load through each set-up's front door, several set-ups in one run.

    .venv/bin/python bench/setups.py --setups sqlite1,pg1,pg2,grip2 --conversations 500
    .venv/bin/python bench/setups.py --setups pg1,pg2 --sweep 100,200,300,400
    .venv/bin/python bench/setups.py --setups grip2 --conversations 5000 --rate 100

Set-ups (each started by `deploy/cluster.py`, the code behind `make cluster`, on a
fresh database; the background worker is left out, it is not what is measured):

| name | what |
|---|---|
| `sqlite1` | one uvicorn worker, SQLite (in /dev/shm), in-process fan-out |
| `pg1` | one uvicorn worker, PostgreSQL |
| `pg2` | two uvicorn workers (`--workers 2`, one port), PostgreSQL, Redis fan-out |
| `grip1` | Pushpin in front of one worker, PostgreSQL |
| `grip2` | Pushpin in front of two workers, PostgreSQL, Redis: `make cluster` |

Users, conversations and access tokens are made in the database (no sign-up); every
stream and POST then goes through the front door. Per set-up: a warm-up phase, then
either one phase at `--rate` or, with `--sweep`, one phase per rate (each
`--sweep-seconds` long, same open streams) until p99 passes `--p99-limit` ms or a
message is lost: the last rate that held is the set-up's capacity.

Figures per phase: delivered/sent, lost, duplicates, latency p50/p99/max (POST to
arrival on the other participant's stream), app CPU ms per message (all uvicorn
processes, from /proc), the same for Pushpin, Redis, PostgreSQL and
the background worker, per-worker CPU, and KiB per
open stream (RSS of the app and Pushpin after opening minus before). The machine's
load average is printed with each run: compare ratios within one run.

PostgreSQL: by default a private server per set-up (`deploy/cluster.py` runs `initdb`
in the set-up's folder in /dev/shm, PostgreSQL's default settings), so other users of
a shared server neither take its connections nor get in the numbers; `--pg-url URL`
uses that database instead (dropped and made again for each set-up). Redis: a private
`redis-server` per set-up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "deploy"), str(Path(__file__).resolve().parent)]

from cluster import Cluster, descendants, free_port  # noqa: E402
from sse_load import Conv, Load  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
SETUPS: dict[str, dict[str, Any]] = {
    "sqlite1": {"workers": 1, "db": "sqlite", "redis": False, "pushpin": False},
    "pg1": {"workers": 1, "db": "pg", "redis": False, "pushpin": False},
    "pg2": {"workers": 2, "db": "pg", "redis": True, "pushpin": False},
    "grip1": {"workers": 1, "db": "pg", "redis": False, "pushpin": True},
    "grip2": {"workers": 2, "db": "pg", "redis": True, "pushpin": True},
}


# ---------------------------------------------------------------- /proc


# the cluster's process roles, and their keys in the figures
ROLES = {
    "web": "web",
    "pushpin": "pushpin",
    "redis": "redis",
    "postgres": "postgres",
    "worker": "tasks",
}


def tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def cpu_s(pid: int) -> float:
    """CPU seconds of the process and of its children that have exited (PostgreSQL's
    backends come and go), so that a tree's sum never goes down."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(int(f) for f in fields[11:15]) / CLK_TCK
    except OSError:
        return 0.0


def comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return "?"


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Sampler:
    """CPU seconds and RSS of the set-up's processes, by role."""

    def __init__(self, cluster: Cluster) -> None:
        self.roots = cluster.pids()

    def workers(self) -> list[int]:
        """The uvicorn processes that serve (the workers; the lone process for one)."""
        web = self.roots["web"]
        children = [p for p in tree(web) if p != web]
        return children or [web]

    def cpu(self) -> dict[str, float]:
        out = {}
        # the background worker ("worker" in the cluster) is "tasks": "worker<n>" are web
        for role, key in ROLES.items():
            if role in self.roots:
                out[key] = sum(cpu_s(p) for p in tree(self.roots[role]))
        for i, pid in enumerate(self.workers()):
            out[f"worker{i}"] = cpu_s(pid)
        usage = resource.getrusage(resource.RUSAGE_SELF)  # the load generator
        out["loadgen"] = usage.ru_utime + usage.ru_stime
        with open("/proc/stat") as fh:  # every process, PostgreSQL's too: the whole machine
            fields = [int(f) for f in fh.readline().split()[1:]]
        out["machine"] = (sum(fields) - fields[3] - fields[4]) / CLK_TCK  # all but idle, iowait
        if "pushpin" in self.roots:  # which of Pushpin's processes does the work
            for pid in tree(self.roots["pushpin"]):
                name = f"pp-{comm(pid).removeprefix('pushpin-')}"
                out[name] = out.get(name, 0.0) + cpu_s(pid)
        return out

    def threads(self) -> dict[str, float]:
        """CPU seconds of the workers' threads, by kind: the event loop (streams, Redis
        listener), request threads (Django views), and the rest (pools, publisher)."""
        out: dict[str, float] = {}
        for pid in self.workers():
            try:
                tids = os.listdir(f"/proc/{pid}/task")
            except OSError:
                continue
            for tid in tids:
                try:
                    with open(f"/proc/{pid}/task/{tid}/comm") as fh:
                        comm = fh.read().strip()
                    with open(f"/proc/{pid}/task/{tid}/stat") as fh:
                        fields = fh.read().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                kind = (
                    "loop"
                    if tid == str(pid)
                    else "request"
                    if comm.startswith("django-request")
                    else "other"
                )
                out[kind] = out.get(kind, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
        return out

    def rss(self) -> dict[str, int]:
        return {
            role: sum(rss_kib(p) for p in tree(self.roots[role]))
            for role in ("web", "pushpin")
            if role in self.roots
        }


# ---------------------------------------------------------------- data

SEED = r"""
import json, sys, uuid, django
django.setup()
from core.models import User
from core.tokens import issue_pair
from messaging.models import Conversation, Participant
n = int(sys.argv[1])
users = [User(email=f"load{i}@bench.example", name=f"Load {i}") for i in range(2 * n)]
for u in users:
    u.set_unusable_password()
User.objects.bulk_create(users, batch_size=1000)
convs, parts, out = [], [], []
for i in range(n):
    a, b = users[2 * i], users[2 * i + 1]
    low, high = Conversation.ordered_pair(a, b)
    c = Conversation(user_low=low, user_high=high)
    convs.append(c)
    parts += [Participant(conversation=c, user=a), Participant(conversation=c, user=b)]
    out.append([str(c.pk), issue_pair(a).access, issue_pair(b).access])
Conversation.objects.bulk_create(convs, batch_size=1000)
Participant.objects.bulk_create(parts, batch_size=1000)
print(json.dumps(out))
"""


def seed(env: dict[str, str], n: int) -> list[Conv]:
    done = subprocess.run(
        [sys.executable, "-c", SEED, str(n)],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        check=True,
        capture_output=True,
        text=True,
    )
    return [Conv(c, (a, b)) for c, a, b in json.loads(done.stdout)]


def recreate_pg(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", [name]
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')


# ---------------------------------------------------------------- one set-up


async def drive(args: argparse.Namespace, cluster: Cluster, convs: list[Conv]) -> dict:
    sampler = Sampler(cluster)
    load = Load(f"http://127.0.0.1:{cluster.port}")
    out: dict[str, Any] = {"phases": []}
    try:
        rss0 = sampler.rss()
        out["streams"] = await load.open(convs)
        await asyncio.sleep(1.0)
        rss1 = sampler.rss()
        opened = max(1, out["streams"]["open"])
        out["kib_per_stream"] = {k: round((rss1[k] - rss0[k]) / opened, 1) for k in rss1}
        out["warmup"] = await load.phase(min(20.0, args.rate), args.warmup, drain_timeout=5)
        rates = args.sweep or [args.rate]
        for rate in rates:
            messages = args.messages if not args.sweep else int(rate * args.sweep_seconds)
            c0, t0, th0 = sampler.cpu(), time.perf_counter(), sampler.threads()
            la0 = os.getloadavg()[0]
            result = await load.phase(rate, messages, drain_timeout=args.drain_timeout)
            c1, wall, th1 = sampler.cpu(), time.perf_counter() - t0, sampler.threads()
            ok = max(1, result["sent"] - result["send_errors"])
            result["cpu_ms_per_msg"] = {k: round(1000 * (c1[k] - c0[k]) / ok, 2) for k in c1}
            result["cpu_pct"] = {k: round(100 * (c1[k] - c0[k]) / wall, 1) for k in c1}
            result["thread_ms_per_msg"] = {
                k: round(1000 * (th1[k] - th0.get(k, 0.0)) / ok, 2) for k in th1
            }
            result["loadavg"] = round(max(la0, os.getloadavg()[0]), 2)
            out["phases"].append(result)
            print("   ", line(result), flush=True)
            held = result["p99"] is not None and result["p99"] <= args.p99_limit
            if args.sweep and (not held or result["lost"] or result["send_errors"]):
                break
        out["stream_errors"], out["broken"], out["errors"] = (
            load.stream_errors,
            load.broken,
            load.errors,
        )
    finally:
        await load.close()
    return out


def line(r: dict) -> str:
    cpu = r["cpu_ms_per_msg"]
    workers = "/".join(f"{cpu[k]:.1f}" for k in sorted(cpu) if k.startswith("worker"))
    keys = (*list(ROLES.values())[1:], "loadgen", "machine")
    extra = "".join(f" {k} {cpu[k]:.2f}" for k in keys if k in cpu)
    parts = [f"{k[3:]} {cpu[k]:.2f}" for k in sorted(cpu) if k.startswith("pp-")]
    if parts:
        extra += f" ({', '.join(parts)})"
    return (
        f"{r['rate_wanted']:g}/s (got {r['rate_achieved']}): delivered {r['delivered']}/{r['sent']}"
        f" lost {r['lost']} dup {r['duplicates']} err {r['send_errors']} | ms p50 {r['p50']}"
        f" p99 {r['p99']} max {r['max']} (POST answered p50 {r['answer_p50']}"
        f" p99 {r['answer_p99']}) | cpu ms/msg app {cpu.get('web', 0):.2f}"
        f" (workers {workers}; {r.get('thread_ms_per_msg')}){extra} | load {r['loadavg']}"
        f" | machine busy {r['cpu_pct'].get('machine', 0) / os.cpu_count():.0f}%"
    )


def run_setup(name: str, args: argparse.Namespace) -> dict:
    spec = SETUPS[name]
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    state = Path(tempfile.mkdtemp(prefix=f"stayhub-{name}-", dir=base))
    if spec["db"] == "pg" and args.pg_url:
        recreate_pg(args.pg_url)
        database = args.pg_url
    elif spec["db"] == "pg":
        database = None  # a private PostgreSQL in the state folder
    else:
        database = f"sqlite:///{state / 'db.sqlite3'}"
    cluster = Cluster(
        state=state,
        port=free_port(),
        workers=spec["workers"],
        pushpin=spec["pushpin"],
        background=False,
        database_url=database,
        redis_url=None if spec["redis"] else "",
        env={
            "SECRET_KEY": f"bench-{secrets.token_hex(24)}",
            "DEBUG": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "MESSAGE_RATE": "1000000",
            "AUTH_RATE": "1000000",
            "JWT_ACCESS_TTL": "7200",
            "STREAM_LIMIT": "100000",
            "MEDIA_ROOT": str(state / "media"),
            "LOG_LEVEL": "WARNING",
            **dict(kv.split("=", 1) for kv in args.env),
        },
        quiet=True,
    )
    print(f"== {name}: {spec}", flush=True)
    try:
        cluster.start()
        t0 = time.perf_counter()
        convs = seed(cluster.app_env, args.conversations)
        took = time.perf_counter() - t0
        pids = cluster.pids()
        print(f"   seeded {len(convs)} conversations in {took:.1f}s; pids {pids}", flush=True)
        runner = asyncio.Runner(loop_factory=_loop_factory())
        with runner:
            result = runner.run(drive(args, cluster, convs))
        s = result["streams"]
        print(
            f"   streams {s['open']}/{s['wanted']} ready {s['ready']} failed {s['failed']}"
            f" in {s['connect_s']}s; KiB/stream {result['kib_per_stream']};"
            f" stream errors {result['stream_errors']}, broken {result['broken']}",
            flush=True,
        )
        for err in result["errors"][:5]:
            print("   !", err)
        return {"setup": name, **spec, **result}
    finally:
        cluster.stop()
        if args.keep:
            print(f"   logs kept in {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def _loop_factory() -> Any:
    try:
        import uvloop

        return uvloop.new_event_loop
    except ImportError:
        return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--setups", default="sqlite1,pg1,pg2,grip2", help="comma-separated, in order")
    p.add_argument("--conversations", type=int, default=500, help="2 open streams each")
    p.add_argument("--rate", type=float, default=100.0, help="messages per second, in all")
    p.add_argument("--messages", type=int, default=2000, help="messages in the measured phase")
    p.add_argument(
        "--sweep",
        type=lambda s: [float(x) for x in s.split(",")],
        default=None,
        help="rates to step through, e.g. 100,200,300 (capacity)",
    )
    p.add_argument("--sweep-seconds", type=float, default=10.0)
    p.add_argument("--p99-limit", type=float, default=100.0, help="ms: where a sweep stops")
    p.add_argument("--warmup", type=int, default=40)
    p.add_argument("--drain-timeout", type=float, default=10.0)
    p.add_argument("--repeat", type=int, default=1, help="run the list of set-ups this often")
    p.add_argument(
        "--pg-url",
        default=os.environ.get("STAYHUB_BENCH_PG_URL", ""),
        help="a PostgreSQL database to use (default: a private server per set-up)",
    )
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the app")
    p.add_argument("--json-out", help="write every result here")
    p.add_argument("--keep", action="store_true", help="keep the state folder (logs)")
    args = p.parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if 2 * args.conversations + 200 > hard:
        print(f"warning: open-file limit {hard} is low for {2 * args.conversations} streams")
    results = []
    print(f"load average at start: {os.getloadavg()}", flush=True)
    for round_ in range(args.repeat):
        for name in args.setups.split(","):
            results.append({"round": round_, **run_setup(name.strip(), args)})
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(results, indent=1))
    summarize(results)
    return 0


def summarize(results: list[dict]) -> None:
    """Per round: each set-up's last phase, and its ratios to the round's first set-up."""
    print("\nsetup   round  rate   delivered  p50    p99     app ms/msg  x first  capacity")
    for r in results:
        last = r["phases"][-1] if r["phases"] else None
        if last is None:
            continue
        first = next(x for x in results if x["round"] == r["round"])
        f_cpu = first["phases"][-1]["cpu_ms_per_msg"]["web"] if first["phases"] else None
        held = [
            ph["rate_wanted"]
            for ph in r["phases"]
            if ph["p99"] is not None and ph["p99"] <= 100 and not ph["lost"]
        ]
        cpu = last["cpu_ms_per_msg"]["web"]
        print(
            f"{r['setup']:7} {r['round']:5}  {last['rate_wanted']:<5g}  "
            f"{last['delivered']}/{last['sent']:<6} {last['p50']!s:6} {last['p99']!s:7} "
            f"{cpu:<11.2f} {cpu / f_cpu if f_cpu else 0:<8.2f} {max(held) if held else '-'}"
        )


if __name__ == "__main__":
    sys.exit(main())
