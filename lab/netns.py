"""Network-namespace primitives: listing, running commands in one, opening sockets in one."""

from __future__ import annotations

import ctypes
import json
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from lab._util import LabError, run

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def list_netns() -> list[str]:
    proc = run(["ip", "-j", "netns", "list"], check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return [entry["name"] for entry in json.loads(proc.stdout)]


def netns_pids(netns: str) -> list[int]:
    proc = run(["ip", "netns", "pids", netns], check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def list_links(netns: str | None = None) -> list[str]:
    cmd = ["ip", "-j", "link", "show"] if netns is None else ["ip", "-n", netns, "-j", "link", "show"]
    proc = run(cmd, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    return [entry["ifname"] for entry in json.loads(proc.stdout)]


def kill_netns_processes(netns: str, timeout: float = 5.0) -> list[int]:
    """SIGKILLs every process in ``netns`` and waits until none is left; returns the pids killed."""
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while True:
        pids = netns_pids(netns)
        if not pids:
            return killed
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
            except ProcessLookupError:
                pass
        if time.monotonic() > deadline:
            raise LabError(f"processes {pids} in netns {netns} survived SIGKILL for {timeout}s")
        time.sleep(0.05)


def in_netns(netns: str, fn: Callable[[], T]) -> T:
    """Runs ``fn`` on a fresh thread that has joined ``netns``; sockets it creates belong there.

    setns(CLONE_NEWNET) only changes the calling thread, so the rest of the process (and the
    thread pool of the caller) stays in its own namespace.
    """
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            fd = os.open(f"/run/netns/{netns}", os.O_RDONLY | os.O_CLOEXEC)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
            finally:
                os.close(fd)
            result["value"] = fn()
        except BaseException as e:  # handed to the caller's thread
            result["error"] = e

    thread = threading.Thread(target=target, name=f"netns-{netns}", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]


class Namespace:
    """A named network namespace of the lab (a pod or a node)."""

    def __init__(self, name: str, netns: str) -> None:
        self.name = name
        self.netns = netns
        self._popens: list[subprocess.Popen[Any]] = []

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} netns={self.netns}>"

    def argv(self, cmd: Sequence[str], user: str | None = None) -> list[str]:
        """The command line that runs ``cmd`` inside this namespace (optionally as ``user``)."""
        prefix = ["ip", "netns", "exec", self.netns]
        if user is not None:
            prefix += ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--"]
        return prefix + [str(c) for c in cmd]

    def exec(self, cmd: Sequence[str], *, timeout: float = 60.0, check: bool = False,
             input: str | None = None, user: str | None = None) -> subprocess.CompletedProcess[str]:
        """Runs ``cmd`` to completion inside the namespace and returns its captured text output."""
        try:
            proc = subprocess.run(self.argv(cmd, user), capture_output=True, text=True, timeout=timeout,
                                  input=input, check=False)
        except subprocess.TimeoutExpired as e:
            raise LabError(f"{self.name}: command timed out after {timeout}s: {' '.join(map(str, cmd))}") from e
        if check and proc.returncode != 0:
            raise LabError(f"{self.name}: command failed (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
                           f"{(proc.stderr or proc.stdout).strip()}")
        return proc

    def popen(self, cmd: Sequence[str], *, user: str | None = None, **kwargs: Any) -> subprocess.Popen[Any]:
        """Starts ``cmd`` inside the namespace in its own session; the lab kills it at teardown."""
        kwargs.setdefault("start_new_session", True)
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(self.argv(cmd, user), **kwargs)
        self._popens.append(proc)
        return proc

    def socket(self, family: int = socket.AF_INET, type: int = socket.SOCK_STREAM, proto: int = 0) -> socket.socket:
        """A socket that lives in this namespace (usable from any thread)."""
        return in_netns(self.netns, lambda: socket.socket(family, type, proto))

    def can_connect(self, host: str, port: int, timeout: float = 0.5) -> bool:
        """Whether a TCP connection from inside this namespace to host:port succeeds."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = self.socket(family)
        try:
            sock.settimeout(timeout)
            sock.connect((host, port))
            return True
        except OSError:
            return False
        finally:
            sock.close()

    def pids(self) -> list[int]:
        return netns_pids(self.netns)

    def _stop_popens(self, timeout: float) -> None:
        stop_processes(self._popens, signal.SIGTERM, timeout)
        self._popens.clear()


def stop_processes(procs: Sequence[subprocess.Popen[Any]], sig: int, timeout: float) -> None:
    """Signals each process group, waits up to ``timeout`` in total, then SIGKILLs stragglers."""
    live = [p for p in procs if p.poll() is None]
    for p in live:
        _signal_group(p, sig)
    deadline = time.monotonic() + timeout
    for p in live:
        try:
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(p, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
    for p in procs:
        # Reap anything that exited on its own, and make sure the group is gone.
        if p.poll() is None:
            _signal_group(p, signal.SIGKILL)
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass


def _signal_group(proc: subprocess.Popen[Any], sig: int) -> None:
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        try:
            proc.send_signal(sig)
        except ProcessLookupError:
            pass


def netns_path(netns: str) -> Path:
    return Path("/run/netns") / netns
