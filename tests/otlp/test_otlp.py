"""OTLP end to end: the driver (tests/otlp/otlp_driver.cc) feeds synthetic Request records
through Tracer -> sampler -> exporter into the test receiver (receiver.py, built from the
official OpenTelemetry protos), over gRPC and HTTP/protobuf.

Run: OTLP_DRIVER=build/<preset>/tests/otlp/otlp_driver \
     OTLP_PROTO_PY=build/<preset>/otel_proto_py /usr/bin/python3 -m pytest tests/otlp
"""

import json
import math
import os
import re
import subprocess
import threading
import time

import pytest

from receiver import Receiver, any_value, attributes

DRIVER = os.environ.get("OTLP_DRIVER", "")
AGGREGATION_TEMPORALITY_DELTA = 1  # opentelemetry.proto.metrics.v1.AggregationTemporality

pytestmark = pytest.mark.skipif(not os.path.exists(DRIVER),
                                reason="OTLP_DRIVER not built (run through ctest)")


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    env.update(extra or {})
    return env


def run_driver(mode, args, env=None, timeout=300):
    cmd = [DRIVER, mode]
    for k, v in args.items():
        cmd += [f"--{k}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                          env=clean_env(env))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def endpoint(r, protocol):
    return r.grpc_endpoint if protocol == "grpc" else r.http_endpoint


PROTOCOLS = ["grpc", "http/protobuf"]


def hex_id(b):
    return b.hex()


# --- spans -------------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_spans_names_kinds_attributes_parents_resource(receiver, protocol):
    n = 60
    out = run_driver("traces", {"endpoint": endpoint(receiver, protocol), "protocol": protocol,
                                "requests": n})
    spans = receiver.spans()
    by_id = {hex_id(s.span_id): (res, scope, s) for res, scope, s in spans}
    assert len(by_id) == len(spans), "a span arrived twice"
    # Exactly what the tracer handed over, nothing more.
    assert set(by_id) == {h["span_id"] for h in out["handed"]}
    # parentbased_always_on: roots (i%3==0) and sampled parents (i%3==1) are exported with their
    # client call; unsampled parents (i%3==2) are not: 40 servers + 40 clients.
    assert len(spans) == 80
    assert out["self"]["loupe_otlp_exported_items_total|signal=traces"] == 80
    assert out["self"]["loupe_otlp_dropped_total|signal=traces|reason=queue_full"] == 0

    servers = [s for _, _, s in spans if s.kind == s.SPAN_KIND_SERVER]
    clients = [s for _, _, s in spans if s.kind == s.SPAN_KIND_CLIENT]
    assert len(servers) == 40 and len(clients) == 40
    seen = set()
    for client in clients:
        a = attributes(client.attributes)
        i = int(a["url.full"].rsplit("/", 1)[1])
        assert a["url.full"] == f"http://backend:9000/stock/{i}"
        assert client.name == "GET"
        assert a["http.request.method"] == "GET"
        assert a["http.response.status_code"] == 200
        assert a["server.address"] == "backend" and a["server.port"] == 9000
        # The parent rule: the client call made on the server's thread is the server's child.
        server = by_id[hex_id(client.parent_span_id)][2]
        assert server.kind == server.SPAN_KIND_SERVER
        assert server.trace_id == client.trace_id
        assert server.start_time_unix_nano < client.start_time_unix_nano
        assert client.end_time_unix_nano < server.end_time_unix_nano
        sa = attributes(server.attributes)
        assert i % 3 != 2, f"request {i} had an unsampled parent but was exported"
        seen.add(i)
        if i % 5 == 4:
            assert server.name == "/shop.Inventory/Check"
            assert sa["rpc.system.name"] == "grpc"
            assert sa["rpc.method"] == "shop.Inventory/Check"
            assert sa["rpc.response.status_code"] == "OK"
            assert server.status.code == server.status.STATUS_CODE_UNSET
        else:
            assert server.name == "GET /items/{id}"
            assert sa["http.route"] == "/items/{id}"
            assert sa["url.path"] == f"/items/{i}"
            assert sa["http.request.method"] == "GET"
            expected_status = 503 if i % 10 == 9 else 200
            assert sa["http.response.status_code"] == expected_status
            assert (server.status.code == server.status.STATUS_CODE_ERROR) == (
                expected_status == 503)
            assert sa["http.response.body.size"] == 42
        assert sa["client.address"] == "10.1.0.1"
        assert sa["server.address"] == "shop" and sa["server.port"] == 8080
        if i % 3 == 1:
            # Continues the trace of the incoming traceparent, child of the caller's span.
            assert hex_id(server.trace_id) == "%016x%016x" % (0xabc00000 + i, 0x1234567 + i)
            assert hex_id(server.parent_span_id) == "%016x" % (0xfeed0000 + i)
        else:
            assert server.parent_span_id == b""
            assert server.trace_id != b"\0" * 16
    assert seen == {i for i in range(n) if i % 3 != 2}

    for resource, scope, _ in spans:
        assert resource["service.name"] == "shop"
        assert resource["service.namespace"] == "prod"
        assert resource["k8s.namespace.name"] == "prod"
        assert resource["k8s.pod.name"] == "shop-0"
        assert resource["host.name"] == "test-node"
        assert resource["telemetry.sdk.name"] == "loupe"
        assert resource["telemetry.sdk.language"] == "cpp"
        assert scope.name == "loupe"
    for _, _, metadata in receiver.traces:
        assert metadata.get("x-test-header") == "loupe"


def test_ratio_sampler_from_environment(receiver):
    # 10 000 root requests at parentbased_traceidratio 0.1 -> 1 000 +- 100 traces; 300 requests
    # whose traceparent says "sampled" are all continued.
    out = run_driver("ratio", {"endpoint": receiver.grpc_endpoint, "requests": 10000,
                               "sampled-parents": 300},
                     env={"OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
                          "OTEL_TRACES_SAMPLER_ARG": "0.1",
                          "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"})
    spans = [s for _, _, s in receiver.spans()]
    roots = {s.trace_id for s in spans if s.parent_span_id == b""}
    continued = [s for s in spans if s.parent_span_id != b""]
    assert 900 <= len(roots) <= 1100, len(roots)
    assert len(continued) == 300
    assert len(spans) == out["handed"] == out["self"][
        "loupe_otlp_exported_items_total|signal=traces"]
    # The decision is the documented one: lower 8 bytes of the trace id below 0.1 * 2^64.
    bound = int(0.1 * 2 ** 64)
    for trace_id in roots:
        assert int.from_bytes(trace_id[8:], "big") < bound


def test_bad_sampler_environment_is_refused(receiver):
    proc = subprocess.run([DRIVER, "ratio", "--endpoint", receiver.grpc_endpoint],
                          capture_output=True, text=True, timeout=60,
                          env=clean_env({"OTEL_TRACES_SAMPLER": "traceidratio",
                                         "OTEL_TRACES_SAMPLER_ARG": "ten percent"}))
    assert proc.returncode == 2
    assert "ten percent" in proc.stderr and "OTEL_TRACES_SAMPLER_ARG" in proc.stderr


# --- failures ----------------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_receiver_down_for_60s_then_up(receiver, protocol):
    seconds, rate, queue, down_at, down_for = 80, 2000, 5000, 5, 60
    result = {}

    def drive():
        result.update(run_driver("outage", {
            "endpoint": endpoint(receiver, protocol), "protocol": protocol,
            "seconds": seconds, "rate": rate, "queue": queue, "batch": 512,
            "backoff-initial-ms": 200, "backoff-max-ms": 2000,
            "backoff-max-elapsed-ms": 10000}, timeout=seconds + 60))

    thread = threading.Thread(target=drive)
    started = time.time()
    thread.start()
    time.sleep(down_at)
    receiver.stop()
    time.sleep(down_for)
    receiver.start()
    restarted = time.time()
    thread.join()
    assert result, "driver failed"

    s = result["self"]
    handed = result["handed"]
    assert handed == seconds * rate
    exported = s[f"loupe_otlp_exported_items_total|signal=traces"]
    dropped = {r: s[f"loupe_otlp_dropped_total|signal=traces|reason={r}"]
               for r in ("queue_full", "export_failed", "shutdown")}
    # Every span is accounted for: exported or counted as dropped.
    assert exported + sum(dropped.values()) == handed
    assert dropped["queue_full"] > 0
    assert dropped["shutdown"] == 0
    # What the receiver got is what the exporter counted (one batch may have been received
    # just as the receiver went down, its answer lost).
    received = {hex_id(sp.span_id) for _, sp in receiver.span_arrivals()}
    assert exported <= len(received) <= exported + 512
    # Bounded: the queue never exceeded its size, and memory plateaued during the outage.
    assert max(result["queue"]) <= queue
    rss = result["rss_kb"]
    assert max(rss[down_at + 10:down_at + down_for]) - max(rss[down_at + 5:down_at + 10]) < 8192
    assert max(rss) - rss[down_at - 1] < 65536
    # Exporting resumed: arrivals after the restart, and no drops from 10 s after it on (gRPC
    # reconnects within its 5 s (+-20%) reconnect backoff, the exporter retries within 2 s here).
    after = [a for a, _ in receiver.span_arrivals() if a > restarted]
    assert len(after) > rate * 5
    restart_second = int(restarted - started)
    drops = result["dropped"]
    assert drops[-1] == drops[restart_second + 10], (restart_second, drops[restart_second - 3:])


def ingest_with_slow_and_failing_receivers(protocol):
    fast, slow, failing = Receiver().start(), Receiver().start(), Receiver().start()
    slow.behaviour.delay = 2.0
    failing.behaviour.http_error = 503
    failing.behaviour.grpc_error = "UNAVAILABLE"
    try:
        return run_driver("ingest", {
            "endpoint": ",".join(endpoint(r, protocol) for r in (fast, slow, failing)),
            "protocol": protocol, "requests": 40000, "rounds": 15, "queue": 65536,
            "batch": 4096, "backoff-initial-ms": 100, "timeout-ms": 5000})
    finally:
        for r in (fast, slow, failing):
            r.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_slow_or_failing_receiver_does_not_slow_ingest(protocol):
    # The ingest path (Tracer::Process + Enqueue) must cost the ingest thread no more CPU with a
    # slow or failing receiver: its best rate per CPU second over 15 interleaved rounds stays
    # within 5% of the healthy case. Builds and other tests share this 2-core VM, and a disturbed
    # run can miss by a few percent on all rounds of one target; such a run is measured again
    # (at most 3 runs, the same bound each time). Each target must be within the bound in some
    # run, not necessarily the same one: CI on 7096eea missed with the failing receiver in two runs
    # (0.90, 0.88) and with the slow one in the third (0.91), each target passing in the others. A
    # real slowdown of a target misses in every run. Wall-clock rates vary by +-50% between
    # identical rounds, so they only guard against gross blocking (an Enqueue that waited for a
    # 2 s answer would collapse the rate).
    attempts = []
    passed = {1: False, 2: False}  # slow, failing: within 5% of healthy in some run
    for _ in range(3):
        out = ingest_with_slow_and_failing_receivers(protocol)
        # The slow and failing receivers really were slow and failing ...
        assert out["targets"][1]["self"][
            "loupe_otlp_dropped_total|signal=traces|reason=queue_full"] > 0
        assert out["targets"][2]["self"][
            "loupe_otlp_exports_total|signal=traces|result=retried"] > 0
        assert out["targets"][0]["self"]["loupe_otlp_exported_items_total|signal=traces"] > 0
        wall = [max(t["rates"]) for t in out["targets"]]
        assert wall[1] >= 0.5 * wall[0] and wall[2] >= 0.5 * wall[0], wall
        # ... and cost the ingest thread no more CPU.
        cpu = [max(t["cpu_rates"]) for t in out["targets"]]
        attempts.append(cpu)
        for target in passed:
            passed[target] = passed[target] or cpu[target] >= 0.95 * cpu[0]
        if all(passed.values()):
            return
    pytest.fail(f"ingest CPU rate (healthy, slow, failing): {passed} within 95% in some run: "
                f"{attempts}")


# --- metrics -----------------------------------------------------------------------------------

PROM_LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
PROM_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prometheus(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = PROM_LINE.match(line)
        assert m, line
        labels = tuple(sorted(PROM_LABEL.findall(m.group(3) or "")))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


OTEL_TO_PROM_LABEL = {
    "service.name": "service_name", "service.namespace": "service_namespace",
    "http.request.method": "http_request_method",
    "http.response.status_code": "http_response_status_code", "http.route": "http_route",
}


def otlp_series(request_list):
    """Maps (prometheus series) -> value from OTLP requests, summing delta data points."""
    out = {}
    exemplars = []
    for req in request_list:
        for rm in req.resource_metrics:
            res = attributes(rm.resource.attributes)
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == "http.server.request.duration":
                        assert m.unit == "s"
                        delta = (m.histogram.aggregation_temporality ==
                                 AGGREGATION_TEMPORALITY_DELTA)
                        for dp in m.histogram.data_points:
                            labels = {OTEL_TO_PROM_LABEL[k]: str(v)
                                      for k, v in attributes(dp.attributes).items()}
                            labels["service_name"] = res["service.name"]
                            labels["service_namespace"] = res["service.namespace"]
                            base = "http_server_request_duration_seconds"
                            key = tuple(sorted(labels.items()))
                            cumulative = 0
                            bounds = list(dp.explicit_bounds) + [math.inf]
                            for bound, count in zip(bounds, dp.bucket_counts):
                                cumulative += count
                                le = "+Inf" if bound == math.inf else fmt_le(bound)
                                k = (base + "_bucket", tuple(sorted(labels.items()) +
                                                             [("le", le)]))
                                k = (k[0], tuple(sorted(k[1])))
                                out[k] = (out.get(k, 0) if delta else 0) + cumulative
                            for suffix, value in (("_count", dp.count), ("_sum", dp.sum)):
                                k = (base + suffix, key)
                                out[k] = (out.get(k, 0) if delta else 0) + value
                            exemplars += [(hex_id(e.trace_id), hex_id(e.span_id), e.as_double)
                                          for e in dp.exemplars]
                    elif m.name.startswith("loupe_test_"):
                        assert res["service.name"] == "loupe"
                        points = m.sum.data_points if m.HasField("sum") else m.gauge.data_points
                        delta = m.HasField("sum") and (m.sum.aggregation_temporality ==
                                                       AGGREGATION_TEMPORALITY_DELTA)
                        for dp in points:
                            key = (m.name, tuple(sorted(attributes(dp.attributes).items())))
                            out[key] = (out.get(key, 0) if delta else 0) + dp.as_double
    return out, exemplars


def fmt_le(bound):
    text = repr(float(bound))
    return text[:-2] if text.endswith(".0") else text


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_metrics_match_the_prometheus_endpoint(receiver, protocol, temporality):
    out = run_driver("metrics", {"endpoint": endpoint(receiver, protocol), "protocol": protocol,
                                 "requests": 400, "interval-ms": 300, "spread-ms": 2000,
                                 "temporality": temporality})
    with receiver.lock:
        requests = [req for _, req, _ in receiver.metrics]
    assert len(requests) >= 4  # several intervals plus the final flush
    if temporality == "cumulative":
        series, exemplars = otlp_series(requests[-1:])
    else:
        series, exemplars = otlp_series(requests)
    prom = parse_prometheus(out["prometheus"])
    wanted = {k: v for k, v in prom.items()
              if k[0].startswith("http_server_request_duration_seconds") or
              k[0].startswith("loupe_test_")}
    assert len(wanted) > 20
    # Prometheus renders le with its own float format; compare on parsed numbers.
    norm = lambda d: {(name, tuple((k, str(float(v)) if k == "le" and v != "+Inf" else v)
                                   for k, v in labels)): value
                      for (name, labels), value in d.items()}
    got, want = norm(series), norm(wanted)
    assert set(got) == set(want), set(got) ^ set(want)
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key

    # Exemplars carry trace and span ids of sampled spans, the same ones OpenMetrics shows.
    sampled = {(s["trace_id"], s["span_id"]) for s in out["sampled"]}
    assert sampled
    assert exemplars, "no exemplar arrived over OTLP"
    for trace_id, span_id, _ in exemplars:
        assert (trace_id, span_id) in sampled
    if temporality == "cumulative":
        om = set(re.findall(r'# \{trace_id="([0-9a-f]{32})",span_id="([0-9a-f]{16})"\}',
                            out["openmetrics"]))
        assert {(t, s) for t, s, _ in exemplars} == om
    assert out["self"]["loupe_otlp_exports_total|signal=metrics|result=failed"] == 0
