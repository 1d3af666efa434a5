"""`loupe observe` / `loupe status` / the Observer API end to end, against the test-only
`loupe debug serve-synthetic` server (a FlowBuffer holding a fixed synthetic flow set, see
src/cli/observe_synthetic.cc), with the loupe CLI and with Python gRPC stubs generated from our
protos (build/<preset>/proto_py)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import wait_for

REPO = Path(__file__).resolve().parents[2]
NODE = "synthetic-node"


def proto_py_dir(loupe_bin: str) -> Path:
    candidates = [Path(loupe_bin).resolve().parent / "proto_py"]
    candidates += [REPO / "build" / p / "proto_py" for p in ("dev", "asan", "release")]
    for c in candidates:
        if (c / "observer" / "observer_pb2_grpc.py").exists():
            return c
    pytest.skip("generated Python protos not found (build the loupe_proto_py target)")


@pytest.fixture(scope="module")
def server(loupe_bin):
    proc = subprocess.Popen([loupe_bin, "debug", "serve-synthetic", "--listen", "127.0.0.1:0",
                             "--node-name", NODE],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line + proc.stderr.read()
        port = int(line.split()[2])
        yield proc, f"127.0.0.1:{port}"
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def observe(loupe_bin, addr, *args, check=True, before=()) -> list[str]:
    """`loupe observe [before...] --server addr [args...]`'s output lines."""
    r = subprocess.run([loupe_bin, "observe", *before, "--server", addr, *args],
                       capture_output=True, text=True, timeout=30)
    if check:
        assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()


def summaries(lines: list[str]) -> list[str]:
    """The Summary of each compact line ('EVENTS LOST' lines kept whole)."""
    out = []
    for line in lines:
        if line.startswith("EVENTS LOST"):
            out.append(line)
        else:
            out.append(line[line.index(" (", line.index(" FORWARDED") if " FORWARDED" in line
                                       else line.index(" DROPPED")) + 2:-1])
    return out


ALL = ["TCP Flags: SYN", "TCP Flags: SYN, ACK", "TCP Flags: ACK", "TCP Flags: ACK, FIN",
       "TCP Flags: SYN", "TCP Flags: SYN", "DNS Query example.com. A",
       "EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(1) 5",
       'DNS Answer "93.184.216.34" TTL: 30 (Query example.com. A)',
       "DNS Answer RCode: Non-Existent Domain TTL: 0 (Query nope.example. A)",
       "ICMPv4 EchoRequest", "ICMPv4 EchoReply", "ICMPv6 EchoRequest", "UDP",
       "HTTP/1.1 GET http://10.0.0.2/index.html",
       "HTTP/1.1 200 2ms (GET http://10.0.0.2/index.html)"]
LOST = ALL[7]


def test_default_is_last_20_and_all(loupe_bin, server):
    _, addr = server
    assert summaries(observe(loupe_bin, addr)) == ALL
    assert summaries(observe(loupe_bin, addr, "--all")) == ALL


def test_observe_flows_is_observe(loupe_bin, server):
    """`hubble observe flows ...` is `hubble observe ...`: selectors and filters given after (or
    before) the subcommand apply."""
    _, addr = server
    assert summaries(observe(loupe_bin, addr, "--last", "2", before=["flows"])) == ALL[-2:]
    dropped = observe(loupe_bin, addr, "--all", "--verdict", "DROPPED")
    assert dropped and observe(loupe_bin, addr, "--all", "--verdict", "DROPPED",
                               before=["flows"]) == dropped
    assert observe(loupe_bin, addr, "flows", "--all", "--verdict", "DROPPED") == dropped


def test_last_first(loupe_bin, server):
    _, addr = server
    assert summaries(observe(loupe_bin, addr, "--last", "10")) == ALL[5:]
    assert summaries(observe(loupe_bin, addr, "--last", "2")) == ALL[-2:]
    assert summaries(observe(loupe_bin, addr, "--first", "3")) == ALL[:3]
    r = subprocess.run([loupe_bin, "observe", "--server", addr, "--first", "1", "--follow"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode != 0


def test_since_until(loupe_bin, server):
    _, addr = server
    # Flow i is (16 - i) minutes old: --since 6m30s selects flows 10..15.
    assert summaries(observe(loupe_bin, addr, "--since", "6m30s")) == [LOST] + ALL[10:]
    assert summaries(observe(loupe_bin, addr, "--until", "12m30s")) == ALL[:3] + [LOST]
    first = json.loads(observe(loupe_bin, addr, "--first", "1", "-o", "json")[0])
    t = first["flow"]["time"]
    assert summaries(observe(loupe_bin, addr, "--until", t, "--first", "5")) == ALL[:1] + [LOST]


FILTER_CASES = [
    (["--verdict", "DROPPED"], ["TCP Flags: SYN", "TCP Flags: SYN", LOST]),
    (["--ip", "10.0.0.3"], ["TCP Flags: SYN", LOST]),
    (["--from-ip", "10.0.0.2"], ["TCP Flags: SYN, ACK", LOST, "ICMPv4 EchoReply",
                                  "HTTP/1.1 200 2ms (GET http://10.0.0.2/index.html)"]),
    (["--to-ip", "10.0.0.2/31", "--protocol", "icmp"], [LOST, "ICMPv4 EchoRequest"]),
    (["--port", "53"], ["DNS Query example.com. A", LOST, ALL[8], ALL[9]]),
    (["--to-port", "8080"], ["TCP Flags: SYN", LOST]),
    (["--from-port", "5000"], [LOST, "UDP"]),
    (["--protocol", "icmpv6"], [LOST, "ICMPv6 EchoRequest"]),
    (["-6"], [LOST, "ICMPv6 EchoRequest"]),
    (["--tcp-flags", "fin"], ["TCP Flags: ACK, FIN", LOST]),
    (["--traffic-direction", "ingress", "--protocol", "tcp"],
     ["TCP Flags: SYN, ACK", "TCP Flags: SYN", "TCP Flags: SYN", LOST]),
    (["--type", "drop"], ["TCP Flags: SYN", "TCP Flags: SYN", LOST]),
    (["-t", "trace:to-stack"], [LOST] + ALL[10:13]),
    (["--type", "l7", "--http-status", "200"], [LOST, ALL[15]]),
    (["--http-method", "GET", "--http-path", "/index"], [LOST, ALL[14], ALL[15]]),
    (["--drop-reason-desc", "POLICY_DENIED"], ["TCP Flags: SYN", LOST]),
    (["--node-name", "synthetic-*", "--protocol", "sctp"], [LOST]),
    (["--not", "--node-name", "synthetic-*"], [LOST]),
    (["--not", "--protocol", "tcp", "--not", "--protocol", "udp"], [LOST] + ALL[10:13]),
    (["--protocol", "dns", "--not", "--ip", "10.0.0.1", "--verdict", "FORWARDED"], [LOST]),
    (["--pod", "xwing"], [LOST]),
    (["--workload", "api"], [LOST]),
    (["--uuid", "00000000-0000-4000-8000-000000000000"], [LOST]),
]


@pytest.mark.parametrize("args,expected", FILTER_CASES, ids=[" ".join(a) for a, _ in FILTER_CASES])
def test_filters(loupe_bin, server, args, expected):
    _, addr = server
    assert summaries(observe(loupe_bin, addr, "--all", *args)) == expected


def test_uuid_filter_returns_that_flow(loupe_bin, server):
    _, addr = server
    flows = [json.loads(l) for l in observe(loupe_bin, addr, "--all", "-o", "jsonpb")]
    flow = next(f["flow"] for f in flows if "flow" in f and f["flow"]["Summary"] == "UDP")
    assert summaries(observe(loupe_bin, addr, "--all", "--uuid", flow["uuid"])) == [LOST, "UDP"]


def test_output_formats_golden(loupe_bin, server):
    _, addr = server
    args = ["--all", "--protocol", "icmp", "--from-ip", "10.0.0.2", "--time-format", "RFC3339"]
    compact = observe(loupe_bin, addr, *args)
    ts = compact[1].split(": ")[0]
    assert compact == ["EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(1) 5",
                       f"{ts}: 10.0.0.1 (unknown) <- 10.0.0.2 (unknown) to-stack FORWARDED "
                       "(ICMPv4 EchoReply)"]
    assert observe(loupe_bin, addr, *args, "-o", "dict", "--print-node-name") == [
        "  TIMESTAMP: ", "       NODE: ", "     SOURCE: PERF_EVENT_RING_BUFFER",
        "       TYPE: EVENTS LOST", "    VERDICT: ", "    SUMMARY: CPU(1) - 5", "------------",
        f"  TIMESTAMP: {ts}", f"       NODE: {NODE}", "     SOURCE: 10.0.0.2",
        "DESTINATION: 10.0.0.1", "       TYPE: to-stack", "    VERDICT: FORWARDED",
        "    SUMMARY: ICMPv4 EchoReply"]
    table = observe(loupe_bin, addr, "--last", "1", "--protocol", "icmp", "--from-ip",
                    "10.0.0.2", "--time-format", "RFC3339", "-o", "table")
    assert table == [
        "TIMESTAMP              SOURCE     DESTINATION   TYPE       VERDICT     SUMMARY",
        f"{ts}   10.0.0.2   10.0.0.1      to-stack   FORWARDED   ICMPv4 EchoReply"]
    js = [json.loads(l) for l in observe(loupe_bin, addr, "--last", "1", "--from-ip",
                                          "10.0.0.2", "--protocol", "icmp", "-o", "json")]
    assert len(js) == 1
    f = js[0]["flow"]
    assert js[0]["node_name"] == NODE and js[0]["time"] == f["time"]
    assert {k: f[k] for k in ("verdict", "IP", "l4", "Type", "node_name", "event_type",
                              "is_reply", "Summary", "trace_observation_point",
                              "traffic_direction", "emitter")} == {
        "verdict": "FORWARDED",
        "IP": {"source": "10.0.0.2", "destination": "10.0.0.1", "ipVersion": "IPv4"},
        "l4": {"ICMPv4": {}}, "Type": "L3_L4", "node_name": NODE,
        "event_type": {"type": 4, "sub_type": 3}, "is_reply": True,
        "Summary": "ICMPv4 EchoReply", "trace_observation_point": "TO_STACK",
        "traffic_direction": "INGRESS", "emitter": {"name": "Loupe", "version": f["emitter"]["version"]}}
    assert f["interface"]["index"] == 1 and f["interface"]["name"] == "lo"


def test_print_raw_filters(loupe_bin, server):
    _, addr = server
    out = observe(loupe_bin, addr, "--verdict", "DROPPED", "--not", "--port", "53",
                  "--print-raw-filters")
    assert out == ["allowlist:", "- '{\"verdict\":[\"DROPPED\"]}'", "denylist:",
                   "- '{\"source_port\":[\"53\"]}'", "- '{\"destination_port\":[\"53\"]}'"]


def test_bad_filter_value_fails_clearly(loupe_bin, server):
    _, addr = server
    r = subprocess.run([loupe_bin, "observe", "--server", addr, "--verdict", "MAYBE"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "--verdict" in r.stderr
    r = subprocess.run([loupe_bin, "observe", "--server", addr, "--cel-expression", "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "cel_expression" in r.stderr


def test_follow_streams_new_flow_within_1s(loupe_bin, server):
    proc, addr = server
    follower = subprocess.Popen([loupe_bin, "observe", "--server", addr, "--follow",
                                 "--protocol", "udp", "--from-ip", "10.9.9.9"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)  # let the stream start (no condition to wait on from outside)
        t0 = time.monotonic()
        proc.stdin.write("add\n")
        proc.stdin.flush()
        assert proc.stdout.readline().strip() == "added"
        line = follower.stdout.readline()
        elapsed = time.monotonic() - t0
        assert "10.9.9.9:9999 (unknown) -> 10.9.9.10:53 (unknown)" in line
        assert line.rstrip().endswith("FORWARDED (UDP)")
        assert elapsed < 1.0, elapsed
    finally:
        follower.terminate()
        follower.wait(timeout=10)


def test_status_and_nodes(loupe_bin, server):
    _, addr = server
    r = subprocess.run([loupe_bin, "status", "--server", addr], capture_output=True, text=True,
                       timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"Healthcheck (via {addr}): Ok"
    # 16 entries (15 flows + 1 lost event), plus one per flow the follow test added.
    m = re.fullmatch(r"Current/Max Flows: (\d+)/4,095 \((\d+\.\d\d)%\)", lines[1])
    assert m and int(m.group(1)) >= 16 and m.group(2) == f"{int(m.group(1)) / 4095 * 100:.2f}"
    assert re.fullmatch(r"Flows/s: \d+\.\d\d", lines[2]), lines[2]
    assert len(lines) == 3
    r = subprocess.run([loupe_bin, "list", "nodes", "--server", addr], capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert out[0].split() == ["NAME", "STATUS", "AGE", "FLOWS/S", "CURRENT/MAX-FLOWS"]
    assert out[1].split()[:2] == [NODE, "Connected"]


def test_status_unreachable_server(loupe_bin):
    r = subprocess.run([loupe_bin, "status", "--server", "127.0.0.1:1", "--timeout", "500ms"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "failed to connect" in r.stderr


def test_python_grpc_client(loupe_bin, server):
    _, addr = server
    sys.path.insert(0, str(proto_py_dir(loupe_bin)))
    try:
        import grpc
        from observer import observer_pb2, observer_pb2_grpc
        from flow import flow_pb2
        from peer import peer_pb2, peer_pb2_grpc
    finally:
        sys.path.pop(0)
    with grpc.insecure_channel(addr) as ch:
        stub = observer_pb2_grpc.ObserverStub(ch)
        req = observer_pb2.GetFlowsRequest(
            number=100, whitelist=[flow_pb2.FlowFilter(verdict=[flow_pb2.DROPPED])])
        resps = list(stub.GetFlows(req, timeout=10))
        flows = [r.flow for r in resps if r.HasField("flow")]
        assert [f.drop_reason_desc for f in flows] == [flow_pb2.POLICY_DENIED,
                                                       flow_pb2.DROP_REASON_UNKNOWN]
        assert all(r.node_name == NODE and r.HasField("time") for r in resps)
        assert not flows[0].HasField("is_reply")
        st = stub.ServerStatus(observer_pb2.ServerStatusRequest(), timeout=10)
        assert st.max_flows == 4095 and st.seen_flows >= 15
        with pytest.raises(grpc.RpcError) as e:
            list(stub.GetFlows(observer_pb2.GetFlowsRequest(first=True, follow=True), timeout=10))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The synthetic server has no agent events: an empty stream; debug events do not exist.
        assert list(stub.GetAgentEvents(observer_pb2.GetAgentEventsRequest(), timeout=10)) == []
        with pytest.raises(grpc.RpcError) as e:
            list(stub.GetDebugEvents(observer_pb2.GetDebugEventsRequest(), timeout=10))
        assert e.value.code() == grpc.StatusCode.UNIMPLEMENTED
        peers = peer_pb2_grpc.PeerStub(ch).Notify(peer_pb2.NotifyRequest(), timeout=5)
        first = next(peers)
        assert first.name == NODE and first.type == peer_pb2.PEER_ADDED
        peers.cancel()
