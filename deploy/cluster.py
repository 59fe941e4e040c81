#!/usr/bin/env python3
"""`make cluster`: the set-up meant for growth, on one machine, in one command.

Starts, in this order, and stops together (Ctrl-C, SIGTERM); a process that dies is
started again, as a process manager would (everything stops if one dies 5 times
within a minute):

1. PostgreSQL: `DATABASE_URL` when set; else a private server in the state folder
   (`initdb` on first use) when the machine has PostgreSQL's binaries; else SQLite.
2. Redis: `REDIS_URL` when set; else a private `redis-server` when the machine has
   one; else none (Pushpin then carries the fan-out between the workers alone).
3. `manage.py migrate`, then the web workers: `uvicorn --workers N` on one internal
   port (uvicorn restarts a worker that dies).
4. The background worker (`manage.py worker`).
5. Pushpin in front (its config from `deploy/pushpin/*.template`, `sig_key` from
   `GRIP_KEY`), on `PORT`: clients and browsers talk to Pushpin only.

Why a script and not a process manager's file: it runs on a bare machine with nothing
but what the repository needs, and the bench (`bench/setups.py`) starts the same
processes the same way. Production machines use their own supervisor with the same
commands and settings (docs/deploy.md).

Only the standard library is used, so it runs before anything is installed. Every
setting the app reads passes through from the environment (`SECRET_KEY` and `GRIP_KEY`
are made once and kept in the state folder when unset).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import pwd
import resource
import secrets
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = Path(__file__).resolve().parent / "pushpin"
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
# A process that dies is started again, unless it died this often within the window.
RESTARTS = 5
RESTART_WINDOW = 60


def log(text: str) -> None:
    print(f"[cluster] {text}", flush=True)


def write_pushpin_config(folder: Path, values: dict[str, str]) -> Path:
    """Pushpin's config and routes, from `deploy/pushpin/*.template` with `values` (each
    `$name` there), written into `folder`; returns the config's path. The tests' Pushpin
    is configured by the same templates."""
    for name in ("pushpin.conf", "routes"):
        text = (TEMPLATES / f"{name}.template").read_text()
        (folder / name).write_text(string.Template(text).substitute(values))
    return folder / "pushpin.conf"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


def wait_port(host: str, port: int, what: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early (status {proc.returncode})")
        if port_open(host, port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {host}:{port} within {timeout:.0f} s")


def health_url(host: str, port: int) -> str:
    """`/healthz` on a server bound to `host` (on loopback when it listens everywhere)."""
    probe = "127.0.0.1" if host in {"0.0.0.0", "::", ""} else host
    return f"http://{probe}:{port}/healthz"


def wait_healthy(url: str, what: str, proc: subprocess.Popen, timeout: float) -> None:
    """Until `url` answers 200. uvicorn's master listens before any worker has loaded
    the app (a request in that window waits in the backlog, and Pushpin in front may
    answer 502 meanwhile); Pushpin listens before its own processes are connected."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited early (status {proc.returncode})")
        with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer {url} within {timeout:.0f} s")


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies (make, a shell, a test)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def become_subreaper() -> None:
    """Linux: what a dead child leaves running (Pushpin puts each of its processes in a
    group of its own) is re-parented to this process instead of init, so it can be
    found and ended before the child starts again (it would hold the child's port)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1)


def children(pid: int | str) -> set[int]:
    """Linux: the processes `pid` ("self" for this one) started and that still run."""
    out: set[int] = set()
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as fh:
                out.update(int(c) for c in fh.read().split())
    return out


def descendants(pid: int) -> set[int]:
    """Everything below `pid`: its children, theirs, and so on."""
    out, todo = set(), [pid]
    while todo:
        kids = children(todo.pop())
        out.update(kids)
        todo.extend(kids)
    return out


def find_binary(name: str) -> str | None:
    """On PATH, else in Debian's versioned PostgreSQL folders."""
    found = shutil.which(name)
    if found:
        return found
    for folder in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (folder / name).exists():
            return str(folder / name)
    return None


def keep_secret(folder: Path, name: str) -> str:
    """A random secret made once and kept in the state folder (tokens survive restarts)."""
    path = folder / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


@dataclass
class Child:
    """A process of the set-up, and how to start it again."""

    name: str
    proc: subprocess.Popen
    argv: list[str]
    env: dict[str, str]
    user: pwd.struct_passwd | None = None
    stop_signal: int = signal.SIGTERM
    starts: list[float] = field(default_factory=list)  # monotonic times of restarts


@dataclass
class Cluster:
    """The processes of the set-up. `start()` then `wait()`; `stop()` ends them all."""

    state: Path
    port: int = 8000
    host: str = "127.0.0.1"
    workers: int = 2
    pushpin: bool = True
    background: bool = True
    database_url: str | None = None  # None: private PostgreSQL if possible, else SQLite
    redis_url: str | None = None  # None: private Redis if possible; "" for none at all
    app_port: int | None = None
    env: dict[str, str] = field(default_factory=dict)
    python: str = sys.executable
    quiet: bool = False  # app and Pushpin output to the state folder's logs only
    children: list[Child] = field(default_factory=list)

    # ------------------------------------------------------------ start

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        raise_open_files()
        become_subreaper()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    def _start(self) -> None:
        env = {**os.environ, **self.env}
        env.setdefault("SECRET_KEY", keep_secret(self.state, "secret_key"))
        env.setdefault("DEBUG", "0")
        env["DATABASE_URL"] = self._database(env)
        redis_url = self._redis(env)
        if redis_url:
            env["REDIS_URL"] = redis_url
        else:
            env.pop("REDIS_URL", None)
        self.app_port = self.app_port or free_port()
        if self.pushpin:
            # Pushpin, on this machine, is the workers' only peer: it names the client
            # (`x_forwarded_for`), so that the login rate limit counts per client.
            env.setdefault("TRUSTED_PROXIES", "127.0.0.1")
            env.setdefault("GRIP_KEY", keep_secret(self.state, "grip_key"))
            control_port = free_port()
            env["GRIP_URL"] = f"http://127.0.0.1:{control_port}"
            # ZeroMQ ipc:// names must fit a unix socket path (~100 bytes): a short folder.
            self._rundir = Path(f"/tmp/stayhub-pushpin-{os.getpid()}-{self.port}")
            env["GRIP_PUSH_SPEC"] = f"ipc://{self._rundir}/push-in"
        else:
            env.pop("GRIP_URL", None)
            env.pop("GRIP_PUSH_SPEC", None)
        self.app_env = env
        log("migrate")
        subprocess.run(
            [self.python, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True
        )
        front = self.port if not self.pushpin else self.app_port
        host = self.host if not self.pushpin else "127.0.0.1"
        web = self._spawn(
            "web",
            [
                self.python,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                host,
                "--port",
                str(front),
                "--workers",
                str(self.workers),
                "--no-access-log",
                "--no-proxy-headers",  # core.server.edge reads them, by TRUSTED_PROXIES
                "--backlog",
                "4096",
                "--timeout-graceful-shutdown",
                "5",
            ],
            env,
        )
        wait_healthy(health_url(host, front), "uvicorn", web.proc, 60)
        log(f"{self.workers} web worker(s) on {host}:{front}")
        if self.background:
            self._spawn("worker", [self.python, "manage.py", "worker"], env)
        if self.pushpin:
            self._pushpin(env, control_port)
            log(f"Pushpin on {self.host}:{self.port}, GRIP control on 127.0.0.1:{control_port}")
        log(f"stayhub on http://{self.host}:{self.port}/  (Ctrl-C stops everything)")

    def _database(self, env: dict[str, str]) -> str:
        url = self.database_url if self.database_url is not None else env.get("DATABASE_URL", "")
        if url:
            return url
        initdb, postgres = find_binary("initdb"), find_binary("postgres")
        if not (initdb and postgres):
            log("no DATABASE_URL and no PostgreSQL binaries: SQLite in the state folder")
            return f"sqlite:///{self.state / 'db.sqlite3'}"
        data, port = self.state / "pg", free_port()
        run_as = _unprivileged_user()
        if not (data / "PG_VERSION").exists():
            data.mkdir(parents=True, exist_ok=True)
            if run_as:
                os.chown(data, run_as.pw_uid, run_as.pw_gid)
                # PostgreSQL's user must be able to pass through the state folder.
                self.state.chmod(self.state.stat().st_mode | 0o111)
            log(f"initdb {data}")
            subprocess.run(
                [initdb, "-D", str(data), "-U", "stayhub", "--auth=trust", "-E", "UTF8"],
                check=True,
                stdout=subprocess.DEVNULL,
                user=run_as.pw_uid if run_as else None,
                group=run_as.pw_gid if run_as else None,
            )
        child = self._spawn(
            "postgres",
            [
                postgres,
                "-D",
                str(data),
                "-p",
                str(port),
                "-k",
                str(data),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "max_connections=200",
            ],
            env,
            user=run_as,
            stop_signal=signal.SIGINT,  # PostgreSQL's "fast" shutdown
        )
        wait_port("127.0.0.1", port, "PostgreSQL", child.proc, 60)
        for _ in range(50):  # it listens a moment before it accepts logins
            done = subprocess.run(
                [
                    find_binary("createdb") or "createdb",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(port),
                    "-U",
                    "stayhub",
                    "stayhub",
                ],
                capture_output=True,
                text=True,
            )
            if done.returncode == 0 or "already exists" in done.stderr:
                break
            time.sleep(0.2)
        log(f"PostgreSQL on 127.0.0.1:{port} (data in {data})")
        return f"postgres://stayhub@127.0.0.1:{port}/stayhub"

    def _redis(self, env: dict[str, str]) -> str:
        if self.redis_url is not None:  # given ("" for none)
            return self.redis_url
        if env.get("REDIS_URL"):
            return env["REDIS_URL"]
        server = shutil.which("redis-server")
        if not server:
            log("no REDIS_URL and no redis-server: events fan out through Pushpin alone")
            return ""
        port = free_port()
        child = self._spawn(
            "redis",
            [
                server,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--loglevel",
                "warning",
            ],
            env,
        )
        wait_port("127.0.0.1", port, "redis-server", child.proc, 30)
        log(f"Redis on 127.0.0.1:{port}")
        return f"redis://127.0.0.1:{port}/0"

    def _pushpin(self, env: dict[str, str], control_port: int) -> None:
        binary = shutil.which("pushpin")
        if not binary:
            raise RuntimeError("pushpin is not installed (apt-get install pushpin)")
        folder = self.state / "pushpin"
        folder.mkdir(parents=True, exist_ok=True)
        rundir = self._rundir
        (rundir / "log").mkdir(parents=True, exist_ok=True)
        values = {
            "rundir": str(rundir),
            "http_addr": f"{self.host}:{self.port}",
            "log_level": env.get("PUSHPIN_LOG_LEVEL", "2"),
            "maxconn": env.get("PUSHPIN_MAXCONN", "50000"),
            "routesfile": str(folder / "routes"),
            "accept_x_forwarded_protocol": env.get("PUSHPIN_TRUST_FORWARDED_PROTO", "false"),
            "x_forwarded_for": "truncate:0,append",
            "x_forwarded_for_trusted": "",
            "sig_key": env["GRIP_KEY"],
            "control_host": "127.0.0.1",
            "control_port": str(control_port),
            "message_rate": env.get("PUSHPIN_MESSAGE_RATE", "-1"),
            "targets": f"127.0.0.1:{self.app_port}",
        }
        config = write_pushpin_config(folder, values)
        child = self._spawn("pushpin", [binary, "--config", str(config), "--merge-output"], env)
        wait_port("127.0.0.1", control_port, "pushpin (control)", child.proc, 30)
        # Its port opens before its processes are connected to each other: ready once a
        # request goes through it to a worker.
        wait_healthy(health_url(self.host, self.port), "pushpin", child.proc, 30)

    def _spawn(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        user: pwd.struct_passwd | None = None,
        stop_signal: int = signal.SIGTERM,
    ) -> Child:
        child = Child(name, self._popen(name, argv, env, user), argv, env, user, stop_signal)
        self.children.append(child)
        return child

    def _popen(
        self, name: str, argv: list[str], env: dict[str, str], user: pwd.struct_passwd | None
    ) -> subprocess.Popen:
        out = None
        if self.quiet:
            out = open(self.state / f"{name}.log", "ab")  # noqa: SIM115 (the child keeps it)
        return subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT if out else None,
            preexec_fn=die_with_parent,
            process_group=0,  # its own group: whatever it starts is stopped with it
            user=user.pw_uid if user else None,
            group=user.pw_gid if user else None,
        )

    def _end_orphans(self) -> None:
        """Kill and reap the processes left to this one by children that died."""
        ours = {c.proc.pid for c in self.children}
        for pid in children("self") - ours:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)

    def _restart(self, child: Child) -> bool:
        """Start a child that died again, as a process manager would; False when it
        died `RESTARTS` times within `RESTART_WINDOW` seconds (it will not stay up)."""
        now = time.monotonic()
        child.starts = [t for t in child.starts if now - t < RESTART_WINDOW]
        if len(child.starts) >= RESTARTS:
            return False
        # What the dead process started (PostgreSQL's backends, Pushpin's processes,
        # uvicorn's workers) goes with it, so that its ports and files are free again.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        self._end_orphans()
        time.sleep(0.5 * (len(child.starts) + 1))
        child.starts.append(now)
        child.proc = self._popen(child.name, child.argv, child.env, child.user)
        return True

    # ------------------------------------------------------------ run and stop

    def pids(self) -> dict[str, int]:
        return {c.name: c.proc.pid for c in self.children}

    def wait(self) -> int:
        """Until a signal or a child's death; then everything is stopped."""
        stop = {"signal": None}

        def on_signal(signum: int, _frame: object) -> None:
            stop["signal"] = signum

        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)
        status = 0
        while stop["signal"] is None:
            dead = next((c for c in self.children if c.proc.poll() is not None), None)
            if dead is not None:
                code = dead.proc.returncode
                if not self._restart(dead):
                    log(
                        f"{dead.name} exited (status {code}) {RESTARTS} times within"
                        f" {RESTART_WINDOW} s: stopping everything"
                    )
                    status = 1
                    break
                log(f"{dead.name} exited (status {code}): started again")
            time.sleep(0.2)
        self.stop()
        return status

    def stop(self) -> None:
        """Front to back: Pushpin, the workers, then Redis and PostgreSQL."""
        for child in reversed(self.children):
            if child.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    child.proc.send_signal(child.stop_signal)
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log(f"{child.name} did not stop within 15 s: killed")
                child.proc.kill()
                child.proc.wait()
            # What it started and left behind: a uvicorn worker that hung while its
            # master waited for it was left running once the master was killed.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
        self.children.clear()
        self._end_orphans()
        rundir = getattr(self, "_rundir", None)
        if rundir is not None:
            shutil.rmtree(rundir, ignore_errors=True)


def _unprivileged_user() -> pwd.struct_passwd | None:
    """PostgreSQL refuses to run as root: as root, run it as `postgres` (or nobody)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and no `postgres` user to run PostgreSQL as")


def raise_open_files() -> None:
    """Every open stream is a socket in Pushpin (and in a worker without Pushpin)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("PORT", 8000)),
        help="the front door (Pushpin's HTTP port), env PORT (default 8000)",
    )
    p.add_argument(
        "--host",
        default=os.environ.get("HOST", "127.0.0.1"),
        help="address the front door binds, env HOST (default 127.0.0.1)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=int(os.environ.get("WEB_WORKERS", 2)),
        help="uvicorn worker processes, env WEB_WORKERS (default 2)",
    )
    p.add_argument(
        "--state",
        type=Path,
        default=Path(os.environ.get("CLUSTER_DIR", ROOT / ".cluster")),
        help="data and logs (PostgreSQL, keys, Pushpin config), env CLUSTER_DIR",
    )
    p.add_argument("--no-pushpin", action="store_true", help="workers straight on --port")
    p.add_argument("--no-background", action="store_true", help="no `manage.py worker`")
    a = p.parse_args(argv)
    die_with_parent()
    cluster = Cluster(
        state=a.state.resolve(),
        port=a.port,
        host=a.host,
        workers=a.workers,
        pushpin=not a.no_pushpin,
        background=not a.no_background,
    )
    # A signal while starting stops what was started.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        cluster.start()
    except KeyboardInterrupt:
        return 1
    except (RuntimeError, subprocess.CalledProcessError) as exc:
        log(f"could not start: {exc}")
        return 1
    return cluster.wait()


if __name__ == "__main__":
    sys.exit(main())
