"""Metrics end to end (issue 6): the agent runs with the seed's beyla-config.yml unchanged, in
Kubernetes mode against the test API server, while a real Prometheus scrapes it every second.
Lab traffic with known shape (90 % 200s and 10 % 500s, DNS answers and NXDOMAINs, connects over
a 20 ms link, refused connections), then every PromQL query of the seed that names Hubble or
Beyla metrics is run through Prometheus and compared with that traffic."""
from __future__ import annotations

import gzip
import re
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, http_get, wait_for
from prom import Prometheus

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "k8s"))
import apiserver as k8s  # noqa: E402

SEED_CONFIG = Path(__file__).resolve().parents[1] / "testdata" / "seed-beyla-config.yml"
NODE = "lab-node"

# The seed's queries, verbatim except for Grafana's ${__span.tags.service.name} variable.
SUCCESS_RATE = """(
  sum(rate(hubble_http_requests_total{http_status_code=~"2.."}[5m])) by (destination_workload, destination_namespace)
  /
  sum(rate(hubble_http_requests_total[5m])) by (destination_workload, destination_namespace)
) * 100"""
POLICY_DROPS = """sum(rate(hubble_drop_total{reason="POLICY_DENIED"}[5m])) by (source_workload, destination_workload)
/ on(source_workload) group_left
sum(rate(hubble_flows_processed_total[5m])) by (source_workload)"""
CONNECT_P99 = """histogram_quantile(0.99,
  sum(rate(hubble_tcp_connect_duration_seconds_bucket[5m])) by (le, destination_workload, destination_namespace)
)"""
DNS_FAILURES = """topk(10,
  sum(rate(hubble_dns_responses_total{rcode!="No Error"}[5m])) by (source_workload, source_namespace, qtypes, rcode)
)"""
NAMESPACE_MATRIX = "sum(rate(hubble_flows_processed_total[5m])) by (source_namespace, destination_namespace)"
REQUEST_RATE = 'sum(rate(http_server_request_duration_seconds_count{service="%s"}[5m]))'
ERROR_RATE = ('sum(rate(http_server_request_duration_seconds_count{service="%s",'
              'http_status_code=~"5.."}[5m]))')

CONNECT_N = r"""
import socket, sys
for _ in range(int(sys.argv[2])):
    s = socket.create_connection((sys.argv[1], 80), timeout=5)
    s.close()
"""


def value(result: list[dict], **labels) -> float:
    for r in result:
        if all(r["metric"].get(k, "") == v for k, v in labels.items()):
            return float(r["value"][1])
    raise AssertionError(f"no series with {labels} in {result}")


@pytest.fixture
def stack(lab_factory, start_agent, tmp_path):
    lab = lab_factory(pods=3, workloads={"pod1": ["nginx"], "pod2": ["dns"]})
    pod0, pod1, pod2 = lab.pods
    wire = lab.wire(pod0, pod1, delay_ms_a_to_b=20)
    api = k8s.ApiServer().start()
    kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
    api.create(k8s.make_namespace("shop"))
    api.create(k8s.make_node(NODE, "192.0.2.10"))
    k8s.create_deployment(api, "shop", "frontend", [{"node": NODE, "ip": pod0.ip}])
    k8s.create_deployment(api, "shop", "backend", [{"node": NODE, "ip": pod1.ip}])
    k8s.create_deployment(api, "shop", "slowdb", [{"node": NODE, "ip": wire.b.ip}])
    k8s.create_deployment(api, "infra", "dns", [{"node": NODE, "ip": pod2.ip}])
    agent = start_agent(config=SEED_CONFIG.read_text(), env={
        "LOUPE_NETWORK_INTERFACES": "lpv*",
        "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "LOUPE_RUNTIME_DIR": str(tmp_path / "run"),
        "LOUPE_NODE_NAME": NODE,
        "BEYLA_OPEN_PORT": "80",
        "KUBECONFIG": kubeconfig})
    wait_for(lambda: agent.health().get("kubernetes", {}).get("synced"), timeout=20,
             what="Kubernetes informers")
    prom = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{agent.port}"])
    wait_for(prom.targets_up, timeout=30, what="prometheus to scrape the agent")
    yield lab, wire, agent, prom
    prom.stop()
    assert agent.stop() == 0
    api.stop()


def curl_batch(pod, urls: list[str]) -> list[int]:
    """One curl process, one connection per URL (no keep-alive), status codes in order."""
    cmd = ["curl", "-s", "-H", "Connection: close", "-w", "%{http_code}\n"]
    for url in urls:
        cmd += ["-o", "/dev/null", url]
    out = pod.exec(cmd, check=True, timeout=120).stdout.split()
    return [int(x) for x in out]


def test_seed_promql_queries_match_the_traffic(stack):
    lab, wire, agent, prom = stack
    pod0, pod1, pod2 = lab.pods
    base = f"http://{pod1.ip}"

    def dig(name: str):
        pod0.exec(["dig", "+short", "+tries=1", "+time=2", f"@{pod2.ip}", name, "A"], check=True)

    # Warm-up: one of each kind creates every series, so that rate() sees the counted traffic
    # below as increases from a known sample.
    assert curl_batch(pod0, [f"{base}/", f"{base}/status/500"]) == [200, 500]
    dig("pod1.lab")
    dig("nosuch.lab")
    pod0.exec(["python3", "-c", CONNECT_N, wire.b.ip, "1"], check=True)
    prom.wait_scrapes(3)

    # The counted traffic.
    codes = curl_batch(pod0, [f"{base}/"] * 90 + [f"{base}/status/500"] * 10)
    assert codes.count(200) == 90 and codes.count(500) == 10
    for _ in range(20):
        dig("pod1.lab")
    for _ in range(10):
        dig("nosuch.lab")
    pod0.exec(["python3", "-c", CONNECT_N, wire.b.ip, "10"], check=True)
    refused = pod0.exec(["python3", "-c",
                         "import socket\nfor _ in range(5):\n  s=socket.socket()\n"
                         "  print(s.connect_ex(('%s', 81)))\n  s.close()" % pod1.ip],
                        check=True).stdout.split()
    assert refused == ["111"] * 5
    # Wait until the agent exposes everything, then for Prometheus to scrape it twice.
    def nxdomains():
        return sum(v for k, v in agent.metrics().items()
                   if k.startswith("hubble_dns_responses_total{")
                   and 'rcode="Non-Existent Domain"' in k)
    wait_for(lambda: nxdomains() >= 11, timeout=15, what="the NXDOMAIN responses in /metrics")
    prom.wait_scrapes(3)

    # HTTP success rate per workload: 90 % for shop/backend.
    rate = prom.query(SUCCESS_RATE)
    assert value(rate, destination_workload="backend", destination_namespace="shop") == \
        pytest.approx(90, abs=1)

    # POLICY_DENIED: parses; no policy verdicts exist yet, so it is empty, while the refused
    # connections show up as kernel drop reasons.
    assert prom.query(POLICY_DROPS) == []
    drops = prom.query('sum by (reason) (hubble_drop_total)')
    assert value(drops, reason="SOCKET_LOOKUP_FAILED") >= 5

    # TCP connect P99 per destination: the 20 ms link to slowdb, sub-millisecond to backend.
    p99 = prom.query(CONNECT_P99)
    assert 0.02 <= value(p99, destination_workload="slowdb", destination_namespace="shop") <= 0.03
    assert value(p99, destination_workload="backend", destination_namespace="shop") < 0.01

    # Top DNS failures: 10 NXDOMAIN answers for A queries in the counted window.
    failures = prom.query(DNS_FAILURES)
    nx = value(failures, rcode="Non-Existent Domain", qtypes="A")
    assert 9.5 <= nx * 300 <= 11.5, nx * 300
    assert all(r["metric"]["rcode"] != "No Error" for r in failures)

    # Namespace traffic matrix: parses and carries the flows the agent processed.
    matrix = prom.query(NAMESPACE_MATRIX)
    assert matrix and sum(float(r["value"][1]) for r in matrix) > 0

    # Beyla: request and error rate by service. nginx runs in the backend pod, so its service is
    # the pod's workload, in the pod's namespace (Beyla's order without OTEL_SERVICE_NAME).
    services = prom.query('count by (service, service_namespace) '
                          '(http_server_request_duration_seconds_count)')
    assert [(r["metric"]["service"], r["metric"]["service_namespace"]) for r in services] == \
        [("backend", "shop")], services
    requests = value(prom.query(REQUEST_RATE % "backend")) * 300
    errors = value(prom.query(ERROR_RATE % "backend")) * 300
    assert 95 <= requests <= 115, requests
    assert 9.5 <= errors <= 11.5, errors
    # Beyla's Kubernetes labels name the pod and its workload.
    pods = prom.query('sum by (k8s_namespace_name, k8s_deployment_name, k8s_kind) '
                      '(http_server_request_duration_seconds_count)')
    assert [(r["metric"]["k8s_namespace_name"], r["metric"]["k8s_deployment_name"],
             r["metric"]["k8s_kind"]) for r in pods] == [("shop", "backend", "Deployment")]
    # The same through Beyla's own label names.
    assert prom.query('sum(http_server_request_duration_seconds_count{service_name="backend",'
                      'http_response_status_code="500"})')[0]["value"][1] == "11"

    # Exemplars: OpenMetrics scrapes carry trace ids on the Hubble and Beyla duration histograms.
    req = urllib.request.Request(agent.base_url + "/metrics", headers={
        "Accept": "application/openmetrics-text; version=1.0.0", "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        raw = resp.read()
        text = (gzip.decompress(raw) if resp.headers.get("Content-Encoding") == "gzip"
                else raw).decode()
    assert text.rstrip().endswith("# EOF")
    # Each family with its system's exemplar labels: Hubble's {traceID} (what the seed's Grafana
    # datasource, exemplarTraceIdDestinations name traceID, looks up), Beyla's {trace_id, span_id}
    # of the sampled span.
    expected = {
        "hubble_http_request_duration_seconds_bucket":
            r' # \{traceID="[0-9a-f]{32}"\} [0-9.e+-]+ [0-9.]+$',
        "http_server_request_duration_seconds_bucket":
            r' # \{trace_id="[0-9a-f]{32}",span_id="[0-9a-f]{16}"\} [0-9.e+-]+ [0-9.]+$',
    }
    for family, pattern in expected.items():
        lines = [l for l in text.splitlines() if l.startswith(family) and " # {" in l]
        assert lines, f"no exemplar on {family}"
        for line in lines:
            assert re.search(pattern, line), line

    # promtool finds no problem in the exposition.
    status, body = http_get(agent.base_url + "/metrics")
    assert status == 200
    check = subprocess.run(["promtool", "check", "metrics"], input=body.encode(),
                           capture_output=True)
    assert check.returncode == 0 and not check.stdout.strip() and not check.stderr.strip(), \
        (check.stdout, check.stderr)


ROUTES_PATH_CONFIG = """
routes:
  unmatched: path
loupe:
  metrics:
    max_series_per_family: 200
"""

DISTINCT_PATHS_LUA = """
counter = 0
request = function()
  counter = counter + 1
  return wrk.format("GET", "/p/" .. counter)
end
"""


def test_distinct_paths_are_bounded_by_the_series_limit(lab_factory, start_agent, tmp_path):
    lab = lab_factory(pods=2, workloads={"pod1": ["nginx"]})
    pod0, pod1 = lab.pods
    agent = start_agent(config=ROUTES_PATH_CONFIG, env={
        "LOUPE_NETWORK_ENABLE": "false", "BEYLA_OPEN_PORT": "80",
        "LOUPE_OBSERVER_LISTEN_ADDRESS": f"127.0.0.1:{free_port()}",
        "LOUPE_RUNTIME_DIR": str(tmp_path / "run")})
    script = tmp_path / "paths.lua"
    script.write_text(DISTINCT_PATHS_LUA)
    sent = 0
    while sent < 100_000:
        r = pod0.wrk(f"http://{pod1.ip}/", 5.0, 4, 1, "-s", str(script))
        assert r.requests > 0, r.stdout
        sent += r.requests
    family = "http_server_request_duration_seconds_count"

    def settled():
        m = agent.metrics()
        total = sum(v for k, v in m.items() if k.startswith(family + "{"))
        return total >= sent and m
    m = wait_for(settled, timeout=60, what="every request counted")
    series = [k for k in m if k.startswith(family + "{")]
    # 200 label sets, plus the one overflow series that takes everything past them.
    overflow_series = [k for k in series if 'http_route="overflow"' in k]
    assert len(overflow_series) == 1
    assert len(series) == 201
    overflow = m['loupe_metrics_series_overflow_total{family="http_server_request_duration_seconds"}']
    assert overflow >= sent - 200
