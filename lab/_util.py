"""Small helpers shared by the lab modules: errors, logging, commands, waiting."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Sequence, TypeVar

T = TypeVar("T")


class LabError(RuntimeError):
    """Any failure to build, start or stop part of the lab. The message says what and why."""


def log(message: str) -> None:
    if os.environ.get("LOUPE_LAB_QUIET") != "1":
        print(f"[lab] {message}", file=sys.stderr, flush=True)


def run(cmd: Sequence[str], *, check: bool = True, timeout: float = 30.0,
        input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Runs a command to completion, capturing text output; raises LabError on failure if check."""
    try:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, timeout=timeout, input=input,
                              check=False)
    except FileNotFoundError as e:
        raise LabError(f"command not found: {cmd[0]} ({e})") from e
    except subprocess.TimeoutExpired as e:
        raise LabError(f"command timed out after {timeout}s: {' '.join(cmd)}") from e
    if check and proc.returncode != 0:
        raise LabError(f"command failed (exit {proc.returncode}): {' '.join(cmd)}\n"
                       f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def wait_until(predicate: Callable[[], T], *, timeout: float, what: str,
               interval: float = 0.05, on_timeout: Callable[[], str] | None = None) -> T:
    """Polls ``predicate`` until it returns a truthy value or the deadline passes.

    The predicate may raise LabError to abort early (e.g. the process being waited for died).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            detail = on_timeout() if on_timeout else ""
            raise LabError(f"timed out after {timeout:.0f}s waiting for {what}" + (f"\n{detail}" if detail else ""))
        time.sleep(interval)
        interval = min(interval * 1.5, 0.5)


def tail(path: Path, lines: int = 30) -> str:
    """The last ``lines`` lines of a log file, or a note that it is missing."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return f"(no log at {path}: {e.strerror})"
    text = data[-64 * 1024:].decode(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def pid_alive(pid: int, start_time: int | None = None) -> bool:
    """Whether ``pid`` runs (and, if given, still has the recorded start time, so reuse is caught)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    fields = stat.rsplit(")", 1)[1].split()
    if fields[0] == "Z":
        return False
    return start_time is None or int(fields[19]) == start_time


def pid_start_time(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[19])
