"""Traces end to end through the agent (issue 7): real nginx in a lab pod traced by the agent,
spans exported over OTLP (gRPC and HTTP/protobuf) to the test receiver built from the official
OpenTelemetry protos (tests/otlp/receiver.py), and OTLP metrics with the Prometheus endpoint's
values."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import free_port, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "otlp"))
os.environ.setdefault("OTLP_PROTO_PY", str(Path(os.environ.get("LOUPE_BIN", "build/loupe"))
                                           .resolve().parent / "otel_proto_py"))
from receiver import Receiver, attributes  # noqa: E402

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


@pytest.fixture
def receiver():
    r = Receiver().start()
    yield r
    r.stop()


def duration_metric_resources(receiver, not_on_agent: str) -> list[dict]:
    """The resources (attribute dicts) of received OTLP metrics that carry
    http.server.request.duration; asserts that the agent's own resource (service.name loupe)
    does not have the attribute `not_on_agent`."""
    out = []
    for _, request, _ in list(receiver.metrics):
        for rm in request.resource_metrics:
            r = attributes(rm.resource.attributes)
            names = {m.name for sm in rm.scope_metrics for m in sm.metrics}
            if "http.server.request.duration" in names:
                out.append(r)
            elif r.get("service.name") == "loupe":
                assert not_on_agent not in r, r
    return out


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_agent_exports_a_span_per_request(protocol, receiver, lab_factory, start_agent,
                                          tmp_path):
    lab = lab_factory(pods=2, workloads={"pod1": ["nginx"]})
    pod0, pod1 = lab.pods
    endpoint = receiver.grpc_endpoint if protocol == "grpc" else receiver.http_endpoint
    agent = start_agent(env={
        "LOUPE_NETWORK_ENABLE": "false", "BEYLA_OPEN_PORT": "80",
        "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "LOUPE_RUNTIME_DIR": str(tmp_path / "run"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_TRACES_SAMPLER": "always_on", "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "BEYLA_OTLP_TRACES_BATCH_TIMEOUT": "200ms"})
    n = 20
    for i in range(n):
        assert pod0.curl(f"http://{pod1.ip}/status/{404 if i % 4 == 0 else 200}").status in (
            200, 404)
    # One request continues a trace its caller started.
    r = pod0.curl(f"http://{pod1.ip}/", "-H",
                  f"traceparent: 00-{TRACE_ID}-{PARENT_ID}-01")
    assert r.status == 200

    def server_spans():
        spans = [(res, s) for res, _, s in receiver.spans()
                 if attributes(s.attributes).get("server.port") == 80]
        return spans if len(spans) >= n + 1 else None

    spans = wait_for(server_spans, timeout=30, what=f"{n + 1} server spans")
    assert len(spans) == n + 1  # exactly one span per request: always_on samples every one
    for resource, span in spans:
        assert span.kind == 2  # SPAN_KIND_SERVER
        assert resource["service.name"] == "nginx"
        assert resource["telemetry.sdk.name"] == "loupe"
        attrs = attributes(span.attributes)
        assert attrs["http.request.method"] == "GET"
        assert span.name == f"GET {attrs['http.route']}"
        assert attrs["http.response.status_code"] in (200, 404, 418)
        assert span.end_time_unix_nano > span.start_time_unix_nano
    codes = sorted(attributes(s.attributes)["http.response.status_code"] for _, s in spans)
    assert codes.count(404) == 5
    continued = [s for _, s in spans if s.trace_id.hex() == TRACE_ID]
    assert len(continued) == 1 and continued[0].parent_span_id.hex() == PARENT_ID
    others = [s for _, s in spans if s.trace_id.hex() != TRACE_ID]
    assert len({s.trace_id for s in others}) == len(others)  # new traces, one each
    assert all(not s.parent_span_id for s in others)

    # Metrics arrive over OTLP with the values the Prometheus endpoint shows.
    def otlp_count():
        total = 0
        for _, request, _ in list(receiver.metrics):
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for m in sm.metrics:
                        if m.name in ("http.server.request.duration",
                                      "http_server_request_duration_seconds") and \
                                m.WhichOneof("data") == "histogram":
                            total = max(total, sum(p.count for p in m.histogram.data_points))
        return total if total >= n + 1 else None
    assert wait_for(otlp_count, timeout=30, what="OTLP duration histogram") == n + 1
    prom = sum(v for k, v in agent.metrics().items()
               if k.startswith("http_server_request_duration_seconds_count{"))
    assert prom == n + 1
    assert agent.stop() == 0


def test_resource_labels_reach_span_and_metric_resources(receiver, lab_factory, start_agent,
                                                         tmp_path):
    """attributes.kubernetes.resource_labels against the lab's Kubernetes API server: the pod's
    other resource attributes (here service.version from the label `app`) are on the resource of
    its spans and of its service's OTLP metrics, not on the agent's own resource."""
    from test_kubernetes import K8S_DISCOVERY, nginx_series
    config = K8S_DISCOVERY + """
attributes:
  kubernetes:
    resource_labels:
      service.version: [app]
"""
    agent, found = nginx_series(lab_factory, start_agent, tmp_path, config=config, env={
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_METRIC_EXPORT_INTERVAL": "500", "BEYLA_OTLP_TRACES_BATCH_TIMEOUT": "200ms"})
    pod = found[0]["k8s_pod_name"]

    def span_resources():
        res = [r for r, _, s in receiver.spans() if r.get("k8s.pod.name") == pod]
        return res or None
    for resource in wait_for(span_resources, timeout=20, what="spans of the nginx pod"):
        assert resource["service.version"] == "nginx", resource
        assert resource["service.name"] == "nginx"

    def metric_resources():
        return [r for r in duration_metric_resources(receiver, "service.version")
                if r.get("k8s.pod.name") == pod] or None
    for resource in wait_for(metric_resources, timeout=20, what="OTLP metrics of the nginx pod"):
        assert resource["service.version"] == "nginx", resource
    assert agent.stop() == 0


def test_process_resource_attributes_reach_spans_metrics_and_target_info(receiver, start_agent,
                                                                         tmp_path,
                                                                         python_http_server):
    """A process's own OTEL_RESOURCE_ATTRIBUTES (outside Kubernetes): entries other than
    service.name/service.namespace go on the resource of its spans and of its OTLP metrics, and
    on its target_info series; never on the agent's own resource."""
    server, url = python_http_server({
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=lab,team=pay%2Cments"})
    agent = start_agent(env={
        "LOUPE_NETWORK_ENABLE": "false", "BEYLA_OPEN_PORT": url.rsplit(":", 1)[1].strip("/"),
        "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "LOUPE_RUNTIME_DIR": str(tmp_path / "run"),
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.grpc_endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_SAMPLER": "always_on",
        "OTEL_METRIC_EXPORT_INTERVAL": "500", "BEYLA_OTLP_TRACES_BATCH_TIMEOUT": "200ms"})

    def span_resources():
        subprocess.run(["curl", "-s", "-o", "/dev/null", url])
        return [r for r, _, _ in receiver.spans() if r.get("service.name") == "checkout"] or None
    for resource in wait_for(span_resources, timeout=20, what="spans of the server"):
        assert resource["deployment.environment"] == "lab", resource
        assert resource["team"] == "pay,ments", resource
        assert resource["process.pid"] == server.pid, resource

    def metric_resources():
        return [r for r in duration_metric_resources(receiver, "deployment.environment")
                if r.get("service.name") == "checkout"] or None
    for resource in wait_for(metric_resources, timeout=20, what="OTLP metrics of the server"):
        assert resource["deployment.environment"] == "lab", resource
        assert resource["team"] == "pay,ments", resource

    targets = [k for k in agent.metrics()
               if k.startswith("target_info{") and 'service_name="checkout"' in k]
    assert len(targets) == 1, targets
    assert 'deployment_environment="lab"' in targets[0], targets
    assert 'team="pay,ments"' in targets[0], targets

    # The server exits; its series are exported until they expire, with the same resource (they
    # used to lose the process's own attributes once the process was gone).
    server.kill()
    server.wait()
    wait_for(lambda: f"stopped instrumenting process pid={server.pid}" in agent.output(),
             timeout=5, what="the server's exit handled")
    time.sleep(1.0)  # exports encoded before the exit was handled have arrived
    receiver.metrics.clear()
    for resource in wait_for(metric_resources, timeout=20, what="OTLP metrics after the exit"):
        assert resource["deployment.environment"] == "lab", resource
        assert resource["team"] == "pay,ments", resource
    assert agent.stop() == 0
