#!/usr/bin/python3
"""Overhead of the running agent on HTTP request throughput and latency (application view).

wrk (`--threads`, `--connections`, `--latency`) runs from pod1 against nginx in pod0 for
`--seconds` in `--rounds` rounds; each round measures once without and once with `loupe agent`
running (order alternating between rounds, so drift of the shared machine falls on both sides).
The agent runs with its default configuration (every process instrumented, socket-data sensor
on, trace printer off) plus, unless `--app-only` is given, the network view on the lab's host
veths; `--app-only` turns the network view off to isolate the application view's cost, and
`--agent-env KEY=VALUE` (repeatable) sets more agent settings (e.g. LOUPE_APP_ENABLE=false for the
network view alone, LOUPE_APP_CAPTURE_BYTES=256, LOUPE_BENCH_DISCARD_SOCKET_EVENTS=1 for the kernel
side alone); `--bpf-stats` prints each BPF program's run time per wrk request (bpf_stats is
switched on for the run and off again); `--agent-sched` sets the agent's scheduling policy;
`--agent-nice` sets the agent's threads' nice value; `--profile` records the machine with perf
during every wrk run and prints nginx's and wrk's time per request by symbol; `--pin` pins nginx's worker to CPU 0 and the
agent to CPU 1; `--agent-cmd` runs another program in the agent's place (bench/sock_hook_cost:
the kernel side of a capture on the sock:sock_*_length raw tracepoints).

Prints one line per measurement and a summary: throughput ratio with/without (issue 4 target:
>= 0.95), p99 latency difference, per wrk request the CPU time of nginx's worker and the time it
waited runnable for a CPU (its threads' /proc schedstat) and wrk's CPU time (its rusage), the
agent's CPU seconds (utime + stime from /proc/<pid>/stat) during the measured wrk run per 1000 traced requests (loupe_requests_total delta: the server's
and wrk's side of every request are both traced), and the load average before and after.

Needs root. Cleans up after itself: the agent is stopped and the lab torn down, also on errors
and Ctrl-C. Usage: sudo python3 bench/wrk_overhead.py [--loupe build/loupe] [--rounds 3]
"""
import argparse
import collections
import json
import os
import re
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from lab import Lab  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def schedstat(pid: int) -> tuple[int, int]:
    """(ns on a CPU, ns waiting on a run queue) of every thread of process `pid`."""
    run = wait = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                fields = f.read().split()
        except OSError:
            continue
        run, wait = run + int(fields[0]), wait + int(fields[1])
    return run, wait


def nginx_worker(master: int) -> int:
    """The pid of nginx's one worker (worker_processes 1), a child of its master."""
    with open(f"/proc/{master}/task/{master}/children") as f:
        children = f.read().split()
    if len(children) != 1:
        raise RuntimeError(f"nginx master {master} has {len(children)} children, expected 1")
    return int(children[0])


def load_average() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Agent:
    """`loupe agent` with its default application view, stopped (SIGTERM, then SIGKILL) on exit."""

    def __init__(self, loupe: str, interfaces: list[str], app_only: bool, workdir: str,
                 extra_env: dict[str, str], stdout=subprocess.DEVNULL):
        self.metrics_port = free_port()
        env = dict(os.environ,
                   LOUPE_PROMETHEUS_PORT=str(self.metrics_port),
                   LOUPE_OBSERVER_LISTEN_ADDRESS=f"127.0.0.1:{free_port()}",
                   LOUPE_RUNTIME_DIR=os.path.join(workdir, "run"),
                   LOUPE_LOG_LEVEL="warn")
        if app_only:
            env["LOUPE_NETWORK_ENABLE"] = "false"
        else:
            env["LOUPE_NETWORK_INTERFACES"] = ",".join(interfaces)
        env.update(extra_env)
        self.app_enabled = env.get("LOUPE_APP_ENABLE", "true") != "false"
        self.log_path = os.path.join(workdir, "agent.log")
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([loupe, "agent"], env=env, stdout=stdout,
                                     stderr=self.log, start_new_session=True)

    def metrics(self) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_port}/metrics"
        body = urllib.request.urlopen(url, timeout=2).read().decode()
        samples = {}
        for line in body.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def traced_requests(self) -> float:
        return sum(v for k, v in self.metrics().items() if k.startswith("loupe_requests_total"))

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                up = self.metrics()
                if not self.app_enabled and up.get("loupe_uptime_seconds", 0) > 0:
                    return
                if up.get('loupe_sensor_up{sensor="socket_trace"}') == 1:
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"agent not ready after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 30) -> str:
        """The end of the agent's log, for errors: the work directory is gone once they are
        printed."""
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()


class CommandAgent:
    """Another program in the agent's place (`--agent-cmd`, e.g. build/release/bench/sock_hook_cost
    --pid-of nginx): ready when it prints a line starting with "ready"; its last line is printed
    after it stops. It serves no metrics, so nothing is counted as traced."""

    app_enabled = False

    def __init__(self, command: str, workdir: str):
        self.log_path = os.path.join(workdir, "agent-cmd.log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(command.split(), stdout=self.log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def output(self) -> str:
        with open(self.log_path) as f:
            return f.read()

    def metrics(self) -> dict[str, float]:
        return {}

    def traced_requests(self) -> float:
        return 0.0

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.startswith("ready") for line in self.output().splitlines()):
                return
            if self.proc.poll() is not None:
                raise RuntimeError(f"--agent-cmd exited with {self.proc.returncode}: "
                                   f"{self.output()}")
            time.sleep(0.1)
        raise RuntimeError(f"--agent-cmd not ready after {timeout}s: {self.output()}")

    def stop(self) -> None:
        Agent.stop(self)  # same process-group shutdown; uses only proc and log
        lines = self.output().strip().splitlines()
        if lines:
            print(f"    agent-cmd: {lines[-1]}", flush=True)


UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}


def bpf_prog_stats() -> dict[int, tuple[str, int, int]]:
    """id -> (name, run_time_ns, run_cnt) of every loaded BPF program (kernel.bpf_stats_enabled)."""
    out = subprocess.run(["bpftool", "-j", "prog", "show"], check=True, capture_output=True,
                         text=True).stdout
    return {p["id"]: (p.get("name", "?"), p.get("run_time_ns", 0), p.get("run_cnt", 0))
            for p in json.loads(out)}


def print_bpf_stats(before: dict, after: dict, requests: int) -> None:
    total = 0
    for prog_id, (name, run_ns, runs) in sorted(after.items()):
        if prog_id not in before:
            continue
        d_ns, d_runs = run_ns - before[prog_id][1], runs - before[prog_id][2]
        if d_runs <= 0:
            continue
        total += d_ns
        print(f"    bpf {name:34s} {d_runs:9d} runs {d_ns / d_runs:6.0f} ns/run "
              f"{d_ns / requests:6.0f} ns per wrk request", flush=True)
    print(f"    bpf run time per wrk request {total / requests:.0f} ns (bpf_stats adds its own "
          "clock reads to every run)", flush=True)


def wrk(client, url: str, seconds: int, threads: int, connections: int, server_pid: int) -> dict:
    """One wrk run, with the CPU and run-queue time per request of process `server_pid` (from
    schedstat) and of wrk (its rusage)."""
    server0 = schedstat(server_pid)
    rusage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = client.exec(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                       url], timeout=seconds + 30)
    text = out.stdout
    requests = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)
    errors = re.search(r"Socket errors: .*", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if out.returncode != 0 or not requests or not p99 or errors or non2xx:
        raise RuntimeError(f"wrk failed or saw errors:\n{text}\n{out.stderr}")
    duration = float(requests.group(2)) * UNITS.get(requests.group(3), 1.0)
    run, wait = schedstat(server_pid)
    rusage = resource.getrusage(resource.RUSAGE_CHILDREN)
    n = int(requests.group(1))
    return {"requests": n, "rps": n / duration, "p99": float(p99.group(1)) * UNITS[p99.group(2)],
            "server_us": (run - server0[0]) / 1e3 / n,
            "server_wait_us": (wait - server0[1]) / 1e3 / n,
            "wrk_us": ((rusage.ru_utime - rusage0.ru_utime) +
                       (rusage.ru_stime - rusage0.ru_stime)) * 1e6 / n}


PROFILE_HZ = 2999


def start_profile(workdir: str) -> tuple[subprocess.Popen, str]:
    """A system-wide perf record (leaf samples at PROFILE_HZ) running until stop_profile()."""
    path = os.path.join(workdir, f"perf-{time.monotonic_ns()}.data")
    proc = subprocess.Popen(["perf", "record", "-a", "-q", "-F", str(PROFILE_HZ), "-o", path],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # perf is sampling before wrk starts
    return proc, path


PROFILED_COMMS = ("nginx", "wrk")


def stop_profile(profile: tuple[subprocess.Popen, str]) -> dict:
    """Stops the recording; per command in PROFILED_COMMS, its samples by the symbol they were in."""
    proc, path = profile
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=60)
    out = subprocess.run(["perf", "script", "-i", path, "--comm", ",".join(PROFILED_COMMS),
                          "-F", "comm,ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    os.unlink(path)
    counts = {comm: collections.Counter() for comm in PROFILED_COMMS}
    for line in out.splitlines():  # "<comm> <ip> <symbol>" per sample
        fields = line.split(None, 2)
        if len(fields) >= 2 and fields[0] in counts:
            counts[fields[0]][fields[2].strip() if len(fields) > 2 else "[unknown]"] += 1
    return counts


def print_profile(comm: str, samples: dict, requests: dict, top: int = 20) -> None:
    """`comm`'s time per wrk request by symbol, with and without the agent: the largest changes."""
    def us(mode, sym=None):
        n = sum(samples[mode].values()) if sym is None else samples[mode][sym]
        return n / PROFILE_HZ / requests[mode] * 1e6
    print(f"profile of {comm} (perf record -a -F {PROFILE_HZ}), us per wrk request: without "
          f"{us('without'):.2f}, with {us('with'):.2f} ({us('with') - us('without'):+.2f})")
    syms = set(samples["without"]) | set(samples["with"])
    diff = sorted(syms, key=lambda k: us("with", k) - us("without", k), reverse=True)
    for sym in diff[:top] + ["..."] + diff[-5:]:
        if sym == "...":
            print("    ...")
            continue
        print(f"    {us('with', sym) - us('without', sym):+6.3f}  ({us('without', sym):6.3f} -> "
              f"{us('with', sym):6.3f})  {sym}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loupe", default="build/loupe")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--app-only", action="store_true",
                        help="turn the network view off (LOUPE_NETWORK_ENABLE=false)")
    parser.add_argument("--agent-env", action="append", default=[], metavar="KEY=VALUE",
                        help="more environment for the agent (repeatable)")
    parser.add_argument("--bpf-stats", action="store_true",
                        help="enable kernel.bpf_stats_enabled and print each program's run time "
                             "per wrk request for the runs with the agent")
    parser.add_argument("--agent-cmd", metavar="COMMAND",
                        help="run COMMAND (split on spaces) in place of `loupe agent`, e.g. "
                             "'build/release/bench/sock_hook_cost --pid-of nginx'")
    parser.add_argument("--pin", action="store_true",
                        help="pin nginx's worker to CPU 0 (in every round) and every agent thread "
                             "to CPU 1, wrk left to the scheduler: the user side kept off the "
                             "bottleneck's CPU, as an idle core would on a larger node")
    parser.add_argument("--agent-nice", type=int, default=0, metavar="N",
                        help="nice value of every thread of the agent, set after start-up")
    parser.add_argument("--agent-sched", choices=["other", "batch", "idle"], default="other",
                        help="scheduling policy of the agent's threads (chrt), default other")
    parser.add_argument("--profile", action="store_true",
                        help="perf record the whole machine during every wrk run and print "
                             "nginx's and wrk's time per request by kernel/user symbol, with and without "
                             "the agent (largest changes first)")
    args = parser.parse_args()
    if args.profile and shutil.which("perf") is None:
        parser.error("--profile needs perf (Debian: apt-get install linux-perf)")
    loupe = os.path.abspath(args.loupe)
    extra_env = dict(kv.split("=", 1) for kv in args.agent_env)

    results = {"without": [], "with": []}
    load_before = load_average()
    who = (f"command {args.agent_cmd!r}" if args.agent_cmd else
           f"agent {'app view only' if args.app_only else 'default'} {' '.join(args.agent_env)}")
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s --latency against nginx; "
          f"{args.rounds} rounds; {who} sched {args.agent_sched} nice {args.agent_nice}"
          f"{' pinned' if args.pin else ''}; "
          f"load average {load_before}", flush=True)
    if args.bpf_stats:
        subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        return run(args, loupe, extra_env, results, load_before)
    finally:
        if args.bpf_stats:
            subprocess.run(["sysctl", "-q", "kernel.bpf_stats_enabled=0"], check=False)


def run(args, loupe: str, extra_env: dict, results: dict, load_before: str) -> int:
    samples = {comm: {"without": collections.Counter(), "with": collections.Counter()}
               for comm in PROFILED_COMMS}
    sampled_requests = {"without": 0, "with": 0}
    with tempfile.TemporaryDirectory(prefix="loupe-bench-") as workdir, \
            Lab(pods=2, workloads={"pod0": ["nginx"]}) as lab:
        server_pod, client_pod = lab.pods
        url = server_pod.workload("nginx").url + "/"
        worker = nginx_worker(server_pod.workload("nginx").pid)
        if args.pin:
            os.sched_setaffinity(worker, {0})
        interfaces = [p.host_veth for p in lab.pods]
        wrk(client_pod, url, 2, args.threads, args.connections, worker)  # warm-up, not measured
        for r in range(args.rounds):
            order = ["without", "with"] if r % 2 == 0 else ["with", "without"]
            for mode in order:
                agent = None
                try:
                    if mode == "with":
                        if args.agent_cmd:
                            agent = CommandAgent(args.agent_cmd, workdir)
                        else:
                            agent = Agent(loupe, interfaces, args.app_only, workdir, extra_env)
                        agent.wait_ready()
                        for tid in map(int, os.listdir(f"/proc/{agent.proc.pid}/task")):
                            if args.pin:
                                os.sched_setaffinity(tid, {1})
                            if args.agent_nice:
                                os.setpriority(os.PRIO_PROCESS, tid, args.agent_nice)
                        if args.agent_sched != "other":
                            # Every thread of the agent (chrt -a), after start-up.
                            subprocess.run(["chrt", "-a", f"--{args.agent_sched}", "-p", "0",
                                            str(agent.proc.pid)], check=True,
                                           stdout=subprocess.DEVNULL)
                        traced0 = agent.traced_requests()
                        cpu0 = cpu_seconds(agent.proc.pid)
                        if args.bpf_stats:
                            stats0 = bpf_prog_stats()
                    profile = start_profile(workdir) if args.profile else None
                    res = wrk(client_pod, url, args.seconds, args.threads, args.connections,
                              worker)
                    if profile is not None:
                        for comm, counts in stop_profile(profile).items():
                            samples[comm][mode].update(counts)
                        sampled_requests[mode] += res["requests"]
                    if agent is not None and args.bpf_stats:
                        print_bpf_stats(stats0, bpf_prog_stats(), res["requests"])
                    if agent is not None:
                        res["cpu"] = cpu_seconds(agent.proc.pid) - cpu0
                        # Records of the last requests are final once their connection closes:
                        # wait until the count stops growing (both sides of every request when
                        # every process is traced; nginx's alone when discovery selects it).
                        deadline = time.monotonic() + 10
                        last, stable_since = -1.0, time.monotonic()
                        while agent.app_enabled and time.monotonic() < deadline:
                            traced = agent.traced_requests() - traced0
                            if traced >= 2 * res["requests"]:
                                break
                            if traced != last:
                                last, stable_since = traced, time.monotonic()
                            elif time.monotonic() - stable_since > 1.0:
                                break
                            time.sleep(0.1)
                        res["traced"] = agent.traced_requests() - traced0
                        res["lost"] = agent.metrics().get(
                            'loupe_bpf_events_lost_total{program="socket_trace"}', 0)
                finally:
                    if agent is not None:
                        agent.stop()
                results[mode].append(res)
                extra = ""
                if mode == "with":
                    per = (f"{res['cpu'] / (res['traced'] / 1000) * 1000:.1f} ms CPU per 1000"
                           if res["traced"] else "no requests traced")
                    extra = (f"  agent CPU {res['cpu']:.2f} s, traced {res['traced']:.0f} "
                             f"(lost events {res['lost']:.0f}), {per}")
                print(f"round {r + 1} {mode:7s} {res['rps']:9.0f} req/s  p99 "
                      f"{res['p99'] * 1e3:6.2f} ms  per request: nginx {res['server_us']:5.2f} us "
                      f"on CPU + {res['server_wait_us']:5.2f} us runnable, wrk "
                      f"{res['wrk_us']:5.2f} us{extra}", flush=True)
    without = statistics.mean(x["rps"] for x in results["without"])
    with_agent = statistics.mean(x["rps"] for x in results["with"])
    p99_without = statistics.mean(x["p99"] for x in results["without"])
    p99_with = statistics.mean(x["p99"] for x in results["with"])
    for mode in ("without", "with"):
        rs = results[mode]
        print(f"per request {mode:7s}: nginx "
              f"{statistics.mean(x['server_us'] for x in rs):.2f} us on CPU + "
              f"{statistics.mean(x['server_wait_us'] for x in rs):.2f} us runnable, wrk "
              f"{statistics.mean(x['wrk_us'] for x in rs):.2f} us on CPU")
    if args.profile:
        for comm in PROFILED_COMMS:
            print_profile(comm, samples[comm], sampled_requests)
    cpu = sum(x["cpu"] for x in results["with"])
    traced = sum(x["traced"] for x in results["with"])
    per_run = cpu / len(results["with"])
    per_1000 = (f"{cpu / (traced / 1000):.4f} s per 1000 traced requests" if traced
                else "nothing traced")
    print(f"mean without {without:.0f} req/s, with {with_agent:.0f} req/s, ratio "
          f"{with_agent / without:.3f} (target >= 0.95); p99 without {p99_without * 1e3:.2f} ms, "
          f"with {p99_with * 1e3:.2f} ms ({(p99_with - p99_without) * 1e3:+.2f} ms); agent CPU "
          f"{per_1000} ({per_run:.2f} s per {args.seconds} s run, "
          f"{per_run / args.seconds * 100:.0f}% of one core); load average {load_before} -> "
          f"{load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
