"""`loupe preflight`: the table, the JSON document, the exit code, and an unprivileged run.

The expected statuses describe the machine these tests are written for (Debian 12, Linux 6.18
with BTF): ring buffer, tracepoint, raw tracepoint, uprobe, TC and cgroup skb work; fentry is
refused at load time with EPERM; the kernel has no kprobe support at all, so attaching a kprobe
fails with ENOENT.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="preflight tests need root")

HOOKS = ["ringbuf", "tracepoint", "raw_tracepoint", "tc", "cgroup_skb", "uprobe", "kprobe",
         "fentry"]
CHECKS = ["kernel", "btf", "tracefs", "capabilities", "memlock", "cgroup_v2"] + HOOKS
REQUIRED = {"kernel", "btf", "tracefs", "capabilities", "memlock", "ringbuf", "tracepoint", "tc"}
FIRED = {"tracepoint", "raw_tracepoint", "tc", "cgroup_skb", "uprobe"}
CAPS = ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_PTRACE", "CAP_DAC_READ_SEARCH",
        "CAP_SYS_ADMIN"]
UNPRIVILEGED = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
                "--inh-caps=-all"]


def run(args: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def cgroup2_mount() -> str | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "cgroup2":
            return fields[1]
    return None


def host_snapshot() -> dict:
    """What a preflight run could leave behind on the host."""
    cgroup = cgroup2_mount()
    leftovers = sorted(p.name for p in Path(cgroup).iterdir()
                       if p.name.startswith("loupe-preflight-")) if cgroup else []
    return {
        "qdiscs": sorted(run(["tc", "qdisc", "show"]).stdout.splitlines()),
        "cgroups": leftovers,
    }


@pytest.fixture(scope="module")
def json_run(loupe_bin):
    before = host_snapshot()
    proc = run([loupe_bin, "preflight", "-o", "json"])
    after = host_snapshot()
    return proc, before, after


def checks_by_name(doc: dict) -> dict[str, dict]:
    return {c["name"]: c for c in doc["checks"]}


def test_json_exits_zero_and_has_expected_statuses(json_run):
    proc, _, _ = json_run
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True
    assert doc["kernel"] == os.uname().release
    assert doc["capabilities"] == {cap: True for cap in CAPS}
    checks = checks_by_name(doc)
    assert [c["name"] for c in doc["checks"]] == CHECKS
    for name in CHECKS:
        check = checks[name]
        assert set(check) == {"name", "kind", "required", "status", "available", "fired", "errno",
                              "error", "detail", "disables", "fix"}
        assert check["required"] is (name in REQUIRED), name
        assert check["kind"] == ("hook" if name in HOOKS else
                                 "privilege" if name == "capabilities" else
                                 "limit" if name == "memlock" else "system"), name
    for name in ["kernel", "btf", "tracefs", "capabilities", "memlock", "cgroup_v2", "ringbuf",
                 "tracepoint", "raw_tracepoint", "tc", "cgroup_skb", "uprobe"]:
        check = checks[name]
        assert (check["status"], check["available"], check["errno"], check["error"]) == \
            ("ok", True, None, ""), check
    for name in FIRED:
        assert checks[name]["fired"] is True, checks[name]
        assert checks[name]["detail"].endswith("and fired"), checks[name]
    assert checks["ringbuf"]["fired"] is None

    kprobe = checks["kprobe"]
    assert (kprobe["status"], kprobe["available"], kprobe["fired"], kprobe["errno"]) == \
        ("unavailable", False, None, "ENOENT"), kprobe
    assert kprobe["error"].startswith("attaching to vfs_read: ENOENT")
    fentry = checks["fentry"]
    assert (fentry["status"], fentry["available"], fentry["fired"], fentry["errno"]) == \
        ("unavailable", False, None, "EPERM"), fentry
    assert fentry["error"] == "loading the program: EPERM (Operation not permitted)"
    for check in (kprobe, fentry):
        assert check["disables"].startswith("nothing Loupe needs"), check

    assert checks["btf"]["detail"].startswith("/sys/kernel/btf/vmlinux (")
    assert checks["cgroup_v2"]["detail"].startswith(cgroup2_mount())
    assert checks["tc"]["detail"] == (
        "attached to lo ingress (tcx link) in a private network namespace and fired")
    assert "loupe_preflight_uprobe_target" in checks["uprobe"]["detail"]


def test_json_run_leaves_nothing_behind(json_run):
    _, before, after = json_run
    assert after == before


def test_table_lists_every_check_and_exits_zero(loupe_bin):
    proc = run([loupe_bin, "preflight"])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["CHECK", "STATUS", "DETAIL"]
    rows = {}
    for line in lines[1:]:
        if line and not line.startswith(" "):
            fields = line.split(None, 2)
            if fields[0] in CHECKS:
                rows[fields[0]] = fields[1]
    assert rows == {**{name: "ok" for name in CHECKS}, "kprobe": "unavailable",
                    "fentry": "unavailable"}
    assert "fix:" not in proc.stdout  # no required check failed
    assert proc.stdout.count("disables: nothing Loupe needs") == 2
    assert lines[-1] == "READY: every required check passed (2 optional feature(s) unavailable)"


def test_unprivileged_run_names_missing_capabilities(loupe_bin):
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    # nobody must be able to reach the binary; build trees under /root are not.
    if run(UNPRIVILEGED + ["test", "-x", loupe_bin]).returncode != 0:
        pytest.skip(f"{loupe_bin} is not executable by nobody")

    table = run(UNPRIVILEGED + [loupe_bin, "preflight"])
    assert table.returncode == 1, table.stdout + table.stderr
    assert "MISSING" in table.stdout
    missing_line = next(l for l in table.stdout.splitlines() if l.startswith("capabilities"))
    for cap in ["CAP_BPF", "CAP_PERFMON", "CAP_NET_ADMIN", "CAP_SYS_PTRACE",
                "CAP_DAC_READ_SEARCH"]:
        assert cap in missing_line, missing_line
    assert "fix: run as root or grant CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_PTRACE, " \
           "CAP_DAC_READ_SEARCH" in table.stdout
    assert table.stdout.splitlines()[-1].startswith("NOT READY: ")

    proc = run(UNPRIVILEGED + [loupe_bin, "preflight", "-o", "json"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False
    assert doc["capabilities"] == {cap: False for cap in CAPS}
    checks = checks_by_name(doc)
    caps = checks["capabilities"]
    assert (caps["status"], caps["errno"]) == ("MISSING", "EPERM")
    assert caps["error"] == ("missing CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN, CAP_SYS_PTRACE, "
                             "CAP_DAC_READ_SEARCH")
    assert "securityContext.capabilities.add" in caps["fix"]
    for name in HOOKS:
        check = checks[name]
        expected = "MISSING" if name in REQUIRED else "unavailable"
        assert (check["status"], check["available"], check["errno"]) == \
            (expected, False, "EPERM"), check
    # The memlock limit cannot be tested without the right to create maps: a warning, not a
    # failure of its own.
    assert checks["memlock"]["status"] == "warn"
    failed = {name for name, c in checks.items() if c["status"] == "MISSING"}
    assert failed == {"tracefs", "capabilities", "ringbuf", "tracepoint", "tc"}
