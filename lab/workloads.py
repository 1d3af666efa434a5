"""Real servers the lab runs inside pods.

Each kind writes its configuration into ``<run dir>/pods/<pod>/<kind>-<port>/``, logs to
``<that dir>/<kind>.log``, is started with ``ip netns exec`` in its own session, and counts as
ready when a TCP connection from inside the pod to ``<pod ip>:<port>`` succeeds (PostgreSQL:
``pg_isready``). Readiness probes run inside the pod against its own address, so they go over the
pod's loopback path and never show up on the veths an agent observes.

Kinds and their fixed behaviour (tests rely on exact bodies):

    nginx     port 80.  GET / -> 200 "nginx ok\\n"; /status/<code> -> <code> "status <code>\\n"
              (codes in NGINX_STATUS_CODES; 204/304 without body; 301/302 redirect to /);
              /post accepts any method and body -> 200 "posted\\n"; /healthz; /nginx_status;
              /data/{1k,64k,1m}.bin ('x' bytes). Option h2c_port=N adds an HTTP/2 cleartext listener.
    gohttp    port 8080. See workloads/gohttp/main.go. Option h2c=True.
    grpc      port 50051. grpc.health.v1 + loupe.lab.echo.Echo + reflection.
    pyhttp    port 8000. python3 -m http.server; GET / -> index.html "python ok\\n".
    redis     port 6379. redis-server bound to the pod addresses and 127.0.0.1, no persistence.
    postgres  port 5432. initdb into the run dir, runs as user postgres, trust auth for the lab
              ranges and loopback; superuser "postgres", database "postgres".
    dns       port 53.  dnsmasq answering <pod>.lab (A and AAAA) for every pod of the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from lab._util import LabError, log, tail, wait_until

if TYPE_CHECKING:
    from lab.core import Pod

NGINX_STATUS_CODES = (200, 201, 202, 204, 301, 302, 304, 400, 401, 403, 404, 405, 409, 418, 429,
                      500, 501, 502, 503, 504)

DEFAULT_PORTS: dict[str, int] = {
    "nginx": 80,
    "gohttp": 8080,
    "grpc": 50051,
    "pyhttp": 8000,
    "redis": 6379,
    "postgres": 5432,
    "dns": 53,
}

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


@dataclass
class Workload:
    """A server running in a pod."""

    kind: str
    pod: "Pod"
    port: int
    workdir: Path
    log_path: Path
    proc: subprocess.Popen[Any] | None = None
    stop_signal: int = signal.SIGTERM
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ip(self) -> str:
        return self.pod.ip

    @property
    def addr(self) -> str:
        """host:port of the server on the pod's IPv4 address."""
        return f"{self.pod.ip}:{self.port}"

    @property
    def addr6(self) -> str:
        return f"[{self.pod.ip6}]:{self.port}"

    @property
    def url(self) -> str:
        """http://<pod ip>:<port> (no trailing slash)."""
        return f"http://{self.pod.ip}:{self.port}" if self.port != 80 else f"http://{self.pod.ip}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        return tail(self.log_path, lines)

    def stop(self, timeout: float = 5.0) -> None:
        from lab.netns import stop_processes
        if self.proc is not None:
            stop_processes([self.proc], self.stop_signal, timeout)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "pod": self.pod.name, "ip": self.pod.ip, "ip6": self.pod.ip6,
                "port": self.port, "addr": self.addr, "url": self.url if self.kind in HTTP_KINDS else None,
                "pid": self.pid, "log": str(self.log_path), **self.info}


HTTP_KINDS = {"nginx", "gohttp", "pyhttp"}


def start_workload(pod: "Pod", kind: str, port: int | None = None, timeout: float | None = None,
                   **options: Any) -> Workload:
    """Starts a workload of ``kind`` in ``pod`` and waits until it accepts connections."""
    if kind not in _STARTERS:
        raise LabError(f"unknown workload kind {kind!r}; known: {', '.join(sorted(_STARTERS))}")
    port = port or DEFAULT_PORTS[kind]
    for other in pod.workloads:
        if other.port == port and other.alive():
            raise LabError(f"{pod.name}: port {port} is already used by {other.kind}")
    workdir = pod.dir / f"{kind}-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    workload = Workload(kind=kind, pod=pod, port=port, workdir=workdir, log_path=workdir / f"{kind}.log")
    starter, default_timeout = _STARTERS[kind]
    argv, user, probe = starter(workload, options)
    log(f"{pod.name}: starting {kind} on {workload.addr}")
    with open(workload.log_path, "ab") as logfile:
        workload.proc = pod.popen(argv, user=user, stdout=logfile, stderr=subprocess.STDOUT, cwd=workdir)
    pod.workloads.append(workload)

    def ready() -> bool:
        if workload.proc is not None and workload.proc.poll() is not None:
            raise LabError(f"{pod.name}: {kind} exited with status {workload.proc.returncode} before it was "
                           f"ready; last lines of {workload.log_path}:\n{workload.log_tail()}")
        # The port must be held by this workload, not by something else that happens to listen.
        return workload.proc is not None and listens_on(workload.proc.pid, port) and probe()

    try:
        wait_until(ready, timeout=timeout or default_timeout, what=f"{kind} on {workload.addr} in {pod.name}",
                   on_timeout=lambda: f"last lines of {workload.log_path}:\n{workload.log_tail()}")
    except LabError:
        workload.stop()
        raise
    return workload


def listens_on(pid: int, port: int) -> bool:
    """Whether ``pid`` or one of its descendants has a TCP socket listening on ``port``."""
    inodes: set[str] = set()
    for table in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]
        except OSError:
            return False
        for line in lines:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:  # 0A = LISTEN
                inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return False
    for p in _process_tree(pid):
        try:
            fds = list(Path(f"/proc/{p}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) in inodes:
                    return True
            except OSError:
                continue
    return False


def _process_tree(root: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        parents.setdefault(ppid, []).append(int(entry))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


Starter = Callable[[Workload, dict[str, Any]], tuple[list[str], str | None, Callable[[], bool]]]


def _tcp_probe(w: Workload) -> Callable[[], bool]:
    return lambda: w.pod.can_connect(w.pod.ip, w.port)


def _require(binary: str, package: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise LabError(f"{binary} not found; install the Debian package {package}")
    return path


def _nginx(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    nginx = _require("nginx", "nginx-light")
    d = w.workdir
    www = d / "www"
    (www / "data").mkdir(parents=True, exist_ok=True)
    (www / "index.html").write_text("nginx ok\n")
    for name, size in (("1k", 1024), ("64k", 64 * 1024), ("1m", 1024 * 1024)):
        (www / "data" / f"{name}.bin").write_bytes(b"x" * size)
    (d / "tmp").mkdir(exist_ok=True)
    status_locations = []
    for code in NGINX_STATUS_CODES:
        if code in (204, 304):
            action = f"return {code};"
        elif code in (301, 302):
            action = f"return {code} /;"
        else:
            action = f'return {code} "status {code}\\n";'
        status_locations.append(f"        location = /status/{code} {{ {action} }}")
    h2c_port = opts.get("h2c_port")
    h2c_listen = f"        listen {int(h2c_port)} http2;\n        listen [::]:{int(h2c_port)} http2;\n" if h2c_port else ""
    status_block = "\n".join(status_locations)
    conf = f"""# generated by the Loupe lab for pod {w.pod.name}
daemon off;
master_process on;
worker_processes 1;
user www-data;
pid {d}/nginx.pid;
error_log {d}/error.log info;

events {{
    worker_connections 1024;
}}

http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/tmp/client_body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;
    types {{
        text/html html;
        text/plain txt;
        application/octet-stream bin;
    }}
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 65;
    keepalive_requests 100000;
    server_tokens off;

    server {{
        listen {w.port} default_server;
        listen [::]:{w.port} default_server;
{h2c_listen}        server_name _;
        root {www};
        client_max_body_size 64m;

        location = / {{ try_files /index.html =404; }}
        location /data/ {{ }}
        location = /healthz {{ return 200 "ok\\n"; }}
        location = /post {{ return 200 "posted\\n"; }}
        location = /nginx_status {{ stub_status; }}
{status_block}
        location / {{ return 404 "not found\\n"; }}
    }}
}}
"""
    conf_path = d / "nginx.conf"
    conf_path.write_text(conf)
    test = subprocess.run([nginx, "-t", "-q", "-c", str(conf_path), "-e", str(d / "error.log")],
                          capture_output=True, text=True, check=False)
    if test.returncode != 0:
        raise LabError(f"nginx rejected the generated {conf_path}:\n{test.stderr.strip()}")
    w.info["config"] = str(conf_path)
    if h2c_port:
        w.info["h2c_port"] = int(h2c_port)
    w.stop_signal = signal.SIGQUIT  # graceful stop
    return [nginx, "-c", str(conf_path), "-e", str(d / "error.log")], None, _tcp_probe(w)


def _go_binary(w: Workload, name: str) -> str:
    return str(w.pod.lab.binaries.path(name))


def _gohttp(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    argv = [_go_binary(w, "gohttp"), "-port", str(w.port)]
    if opts.get("h2c"):
        argv.append("-h2c")
        w.info["h2c"] = True
    if opts.get("quiet"):
        argv.append("-quiet")
    return argv, None, _tcp_probe(w)


def _grpc(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    argv = [_go_binary(w, "grpcserver"), "-port", str(w.port)]
    if opts.get("quiet"):
        argv.append("-quiet")
    return argv, None, _tcp_probe(w)


def _pyhttp(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    www = w.workdir / "www"
    www.mkdir(exist_ok=True)
    (www / "index.html").write_text("python ok\n")
    # "::" makes http.server listen dual-stack (IPv4 and IPv6).
    return ([sys.executable, "-u", "-m", "http.server", str(w.port), "--bind", "::", "--directory", str(www)], None,
            _tcp_probe(w))


def _redis(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    redis = _require("redis-server", "redis-server")
    argv = [redis, "--port", str(w.port), "--bind", w.pod.ip, w.pod.ip6, "127.0.0.1",
            "--protected-mode", "no", "--dir", str(w.workdir), "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--pidfile", str(w.workdir / "redis.pid"), "--logfile", ""]
    return argv, None, _tcp_probe(w)


def _postgres(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    initdb = POSTGRES_BIN / "initdb"
    if not initdb.exists():
        raise LabError(f"{initdb} not found; install the Debian package postgresql-15")
    data = w.workdir / "data"
    sockets = w.workdir / "sock"
    sockets.mkdir(exist_ok=True)
    shutil.chown(w.workdir, "postgres", "postgres")
    shutil.chown(sockets, "postgres", "postgres")
    if not (data / "PG_VERSION").exists():
        proc = subprocess.run(
            ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", str(initdb),
             "-D", str(data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8", "--locale=C"],
            capture_output=True, text=True, cwd=w.workdir, check=False)
        if proc.returncode != 0:
            raise LabError(f"initdb failed (exit {proc.returncode}):\n{(proc.stderr or proc.stdout).strip()}")
        with open(data / "pg_hba.conf", "a") as hba:
            hba.write("# Loupe lab: trust the lab ranges\n"
                      "host all all 198.18.0.0/15 trust\n"
                      "host all all fd4c:6f75::/32 trust\n")
    w.stop_signal = signal.SIGINT  # fast shutdown
    w.info.update({"user": "postgres", "database": "postgres", "socket_dir": str(sockets)})
    argv = [str(POSTGRES_BIN / "postgres"), "-D", str(data), "-p", str(w.port), "-k", str(sockets),
            "-c", "listen_addresses=*", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "logging_collector=off"]

    def probe() -> bool:
        check = w.pod.exec([str(POSTGRES_BIN / "pg_isready"), "-q", "-h", w.pod.ip, "-p", str(w.port),
                            "-t", "1"], timeout=10)
        return check.returncode == 0

    return argv, "postgres", probe


def _dns(w: Workload, opts: dict[str, Any]) -> tuple[list[str], str | None, Callable[[], bool]]:
    dnsmasq = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(dnsmasq).exists():
        raise LabError("dnsmasq not found; install the Debian package dnsmasq-base")
    hosts = w.workdir / "hosts"
    lines = []
    for pod in w.pod.lab.pods:
        lines.append(f"{pod.ip} {pod.name}.lab")
        lines.append(f"{pod.ip6} {pod.name}.lab")
    hosts.write_text("\n".join(lines) + "\n")
    argv = [dnsmasq, "--keep-in-foreground", "--no-resolv", "--no-hosts", f"--addn-hosts={hosts}",
            f"--listen-address={w.pod.ip}", "--bind-interfaces", f"--port={w.port}", "--log-queries",
            "--log-facility=-", f"--pid-file={w.workdir / 'dnsmasq.pid'}", "--user=root", "--local=/lab/"]
    w.info["domain"] = "lab"
    return argv, None, _tcp_probe(w)


_STARTERS: dict[str, tuple[Starter, float]] = {
    "nginx": (_nginx, 15.0),
    "gohttp": (_gohttp, 15.0),
    "grpc": (_grpc, 15.0),
    "pyhttp": (_pyhttp, 15.0),
    "redis": (_redis, 15.0),
    "postgres": (_postgres, 60.0),
    "dns": (_dns, 15.0),
}

KINDS = tuple(sorted(_STARTERS))


def wait_stopped(workloads: list[Workload], timeout: float) -> None:
    """Stops all workloads concurrently (signal all, then wait with one shared deadline)."""
    from lab.netns import stop_processes
    by_signal: dict[int, list[subprocess.Popen[Any]]] = {}
    for w in workloads:
        if w.proc is not None:
            by_signal.setdefault(w.stop_signal, []).append(w.proc)
    start = time.monotonic()
    for sig, procs in by_signal.items():
        stop_processes(procs, sig, max(0.5, timeout - (time.monotonic() - start)))
