"""Offline build of the lab's Go workloads into a content-addressed cache.

The Go sources under lab/workloads/ are compiled in GOPATH mode (GO111MODULE=off) against the
Debian-packaged libraries in /usr/share/gocode, so no network access is ever needed. Binaries go to
``<cache>/<hash>/`` where the hash covers the sources and the Go toolchain version; editing a
source file therefore triggers a rebuild, and concurrent builders serialise on a lock file.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from lab._util import LabError, log

WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"
SYSTEM_GOPATH = "/usr/share/gocode"
IMPORT_ROOT = "loupelab"

# binary name -> package path relative to lab/workloads/
GO_BINARIES: dict[str, str] = {
    "gohttp": "gohttp",
    "grpcserver": "grpc/server",
    "grpcclient": "grpc/client",
    "httpclient": "httpclient",
}


def cache_root() -> Path:
    """Directory holding one sub-directory of binaries per source hash."""
    return Path(os.environ.get("LOUPE_LAB_BIN", "/tmp/loupe-lab/bin"))


def _go() -> str:
    go = shutil.which("go") or ("/usr/lib/go/bin/go" if Path("/usr/lib/go/bin/go").exists() else None)
    if go is None:
        raise LabError("the Go toolchain is missing: apt-get install golang-go golang-google-grpc-dev")
    return go


def _source_files() -> list[Path]:
    return sorted(p for p in WORKLOADS_DIR.rglob("*") if p.is_file() and p.suffix in {".go", ".proto"})


def source_hash() -> str:
    h = hashlib.sha256()
    go_version = subprocess.run([_go(), "version"], capture_output=True, text=True, check=False).stdout
    h.update(go_version.encode())
    for path in _source_files():
        h.update(str(path.relative_to(WORKLOADS_DIR)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Binaries:
    """Paths of the built Go workloads."""

    dir: Path

    def path(self, name: str) -> Path:
        if name not in GO_BINARIES:
            raise LabError(f"unknown Go binary {name!r}; known: {', '.join(GO_BINARIES)}")
        return self.dir / name

    @property
    def gohttp(self) -> Path:
        return self.path("gohttp")

    @property
    def grpcserver(self) -> Path:
        return self.path("grpcserver")

    @property
    def grpcclient(self) -> Path:
        return self.path("grpcclient")

    @property
    def httpclient(self) -> Path:
        return self.path("httpclient")


def _complete(target: Path) -> bool:
    return all((target / name).is_file() for name in GO_BINARIES)


def build_go(force: bool = False) -> Binaries:
    """Builds (or reuses) all Go workloads and returns where they are."""
    root = cache_root()
    target = root / source_hash()
    if _complete(target) and not force:
        return Binaries(target)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _complete(target) and not force:
            return Binaries(target)
        _build_into(target)
    return Binaries(target)


def _build_into(target: Path) -> None:
    root = target.parent
    with tempfile.TemporaryDirectory(prefix=".build-", dir=root) as tmp:
        tmp_path = Path(tmp)
        gopath = tmp_path / "gopath"
        shutil.copytree(WORKLOADS_DIR, gopath / "src" / IMPORT_ROOT,
                        ignore=shutil.ignore_patterns("*.sh", "*.md"))
        out = tmp_path / "out"
        out.mkdir()
        env = dict(os.environ)
        env.update({
            "GO111MODULE": "off",
            "GOPATH": f"{gopath}:{SYSTEM_GOPATH}",
            "GOPROXY": "off",
            "GOFLAGS": "",
            "CGO_ENABLED": "0",
            "GOCACHE": os.environ.get("LOUPE_LAB_GOCACHE", str(root / "gocache")),
        })
        env.setdefault("HOME", str(tmp_path))
        for name, pkg in GO_BINARIES.items():
            log(f"building {name} ({IMPORT_ROOT}/{pkg})")
            proc = subprocess.run([_go(), "build", "-trimpath", "-o", str(out / name), f"{IMPORT_ROOT}/{pkg}"],
                                  cwd=gopath, env=env, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                raise LabError(
                    f"go build of {name} failed (exit {proc.returncode}); are golang-go and "
                    f"golang-google-grpc-dev installed?\n{proc.stderr.strip()}")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)


def prune_cache(keep: str | None = None) -> None:
    """Removes cached binary sets other than ``keep`` (default: the current source hash)."""
    keep = keep or source_hash()
    root = cache_root()
    if not root.is_dir():
        return
    for entry in root.iterdir():
        if entry.is_dir() and entry.name not in {keep, "gocache"} and not entry.name.startswith("."):
            shutil.rmtree(entry, ignore_errors=True)
