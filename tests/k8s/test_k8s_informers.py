"""Loupe's C++ informers (src/k8s) against the test API server (tests/k8s/apiserver.py)."""
from __future__ import annotations

import json
import os
import time

import pytest

from tests.k8s.apiserver import (ApiServer, create_deployment, make_endpointslice, make_namespace,
                                 make_node, make_pod, make_service, make_workload)
from tests.k8s.conftest import wait_for

FAST = ["--initial-backoff-ms", "100", "--max-backoff-ms", "1000"]
KINDS = ["Pod", "Service", "EndpointSlice", "Node", "Namespace", "ReplicaSet", "Deployment",
         "DaemonSet", "StatefulSet", "Job", "CronJob"]


def populate(api: ApiServer) -> dict:
    """A small cluster: 2 nodes, a Deployment (2 pods on node-1, 1 on node-2), a DaemonSet pod
    and a CronJob → Job pod on node-1, a StatefulSet pod on node-2, a Service + EndpointSlice."""
    for ns in ("shop", "kube-system"):
        api.create(make_namespace(ns))
    api.create(make_node("node-1", "10.0.0.1"))
    api.create(make_node("node-2", "10.0.0.2"))
    web = create_deployment(api, "shop", "web", [
        {"node": "node-1", "ip": "10.244.1.10", "host_ip": "10.0.0.1"},
        {"node": "node-1", "ip": "10.244.1.11", "host_ip": "10.0.0.1"},
        {"node": "node-2", "ip": "10.244.2.10", "host_ip": "10.0.0.2"}])
    ds = api.create(make_workload("DaemonSet", "kube-system", "agent"))
    agent = api.create(make_pod("kube-system", "agent-x1", "node-1", "10.0.0.1",
                                {"app": "agent"}, owner=ds, host_network=True))
    sts = api.create(make_workload("StatefulSet", "shop", "db"))
    api.create(make_pod("shop", "db-0", "node-2", "10.244.2.20", {"app": "db"}, owner=sts))
    cj = api.create(make_workload("CronJob", "shop", "backup"))
    job = api.create(make_workload("Job", "shop", "backup-1", owner=cj))
    backup = api.create(make_pod("shop", "backup-1-abcde", "node-1", "10.244.1.30",
                                 {"job-name": "backup-1"}, owner=job, phase="Succeeded"))
    api.create(make_service("shop", "web", {"app": "web"}, "10.96.0.10"))
    api.create(make_endpointslice("shop", "web", [
        (p["status"]["podIP"], p["metadata"]["name"], p["spec"]["nodeName"])
        for p in web["pods"]]))
    return {"web": web, "agent": agent, "backup": backup}


def node_pods(api: ApiServer, node: str) -> set[str]:
    return {k for k in api.keys("Pod") if api.get("Pod", k)["spec"]["nodeName"] == node}


def cache_matches_server(probe, api: ApiServer, node: str = "node-1") -> bool:
    caches = probe.dump()
    if set(caches["Pod"]) != node_pods(api, node):
        return False
    for key, obj in caches["Pod"].items():
        if obj["metadata"]["resourceVersion"] != api.get("Pod", key)["metadata"]["resourceVersion"]:
            return False
    return all(set(caches[k]) == set(api.keys(k)) for k in KINDS if k != "Pod")


def test_initial_list_is_paginated_node_scoped_and_complete(api, kubeconfig, start_probe):
    objs = populate(api)
    list_rv = str(api.resource_version)
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", "--page-size", "2",
                        *FAST)
    probe.wait_synced()
    caches = probe.dump()
    web_pods = [f"shop/{p['metadata']['name']}" for p in objs["web"]["pods"]]
    assert set(caches["Pod"]) == node_pods(api, "node-1") == {
        web_pods[0], web_pods[1], "kube-system/agent-x1", "shop/backup-1-abcde"}
    for kind in KINDS[1:]:
        assert set(caches[kind]) == set(api.keys(kind)), kind

    # Every field Loupe keeps, exactly as the server has it.
    server_pod = objs["web"]["pods"][0]
    key = f"shop/{server_pod['metadata']['name']}"
    pod = caches["Pod"][key]
    rs = objs["web"]["replicaset"]
    assert pod["metadata"]["uid"] == server_pod["metadata"]["uid"]
    assert pod["metadata"]["resourceVersion"] == server_pod["metadata"]["resourceVersion"]
    assert pod["metadata"]["labels"] == server_pod["metadata"]["labels"]
    assert pod["metadata"]["ownerReferences"] == [
        {"kind": "ReplicaSet", "name": rs["metadata"]["name"], "controller": True}]
    assert pod["podIPs"] == ["10.244.1.10"]
    assert pod["hostIP"] == "10.0.0.1"
    assert pod["nodeName"] == "node-1"
    assert pod["phase"] == "Running"
    assert pod["containers"] == [
        {"name": "app", "containerID": server_pod["status"]["containerStatuses"][0]["containerID"]}]
    assert caches["Pod"]["kube-system/agent-x1"]["hostNetwork"] is True
    assert caches["ReplicaSet"][f"shop/{rs['metadata']['name']}"]["metadata"]["ownerReferences"] == [
        {"kind": "Deployment", "name": "web", "controller": True}]
    assert caches["Service"]["shop/web"]["clusterIPs"] == ["10.96.0.10"]
    assert caches["Service"]["shop/web"]["selector"] == {"app": "web"}
    slice_obj = next(iter(caches["EndpointSlice"].values()))
    assert slice_obj["serviceName"] == "web"
    assert [e["addresses"][0] for e in slice_obj["endpoints"]] == [
        "10.244.1.10", "10.244.1.11", "10.244.2.10"]
    assert caches["Node"]["node-1"]["addresses"][0] == {"type": "InternalIP", "address": "10.0.0.1"}

    # Workloads resolve through the cached owners.
    assert probe.command(f"workload {key}", "workload") == {
        "type": "workload", "kind": "Deployment", "name": "web"}
    assert probe.command("workload kube-system/agent-x1", "workload")["kind"] == "DaemonSet"
    assert probe.command("workload shop/backup-1-abcde", "workload") == {
        "type": "workload", "kind": "CronJob", "name": "backup"}

    # Two pages of two pods, node-scoped; then a watch from the list's resourceVersion.
    pod_lists = api.request_log("pods", watch=False)
    assert [(r["limit"], bool(r["continue"]), r["fieldSelector"]) for r in pod_lists] == [
        ("2", False, "spec.nodeName=node-1"), ("2", True, "spec.nodeName=node-1")]
    wait_for(lambda: api.request_log("pods", watch=True), 5, what="pod watch")
    assert api.request_log("pods", watch=True)[0]["rv"] == list_rv
    assert api.request_log("pods", watch=True)[0]["fieldSelector"] == "spec.nodeName=node-1"
    # The initial list is reported as adds, nothing else.
    assert sorted(e["key"] for e in probe.events(kind="Pod")) == sorted(caches["Pod"])
    assert {e["type"] for e in probe.events()} == {"add"}
    status = probe.status("Pod")
    assert (status["synced"], status["lists"], status["objects"], status["errors"]) == (
        True, 1, 4, 0)


def test_watch_adds_updates_and_deletes(api, kubeconfig, start_probe):
    populate(api)
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", *FAST)
    probe.wait_synced()
    wait_for(lambda: api.watcher_count("pods") == 1, 5, what="pod watch")
    mark = probe.mark()
    api.create(make_pod("shop", "elsewhere", "node-2", "10.244.2.99", {"app": "x"}))
    created = api.create(make_pod("shop", "new", "node-1", "10.244.1.99", {"app": "new"}))
    probe.wait_line(lambda l: l.get("key") == "shop/new" and l["type"] == "add", start=mark)
    updated = api.set_labels("Pod", "shop/new", {"app": "new", "version": "2"})
    probe.wait_line(lambda l: l.get("key") == "shop/new" and l["type"] == "update", start=mark)
    deleted = api.delete("Pod", "shop/new")
    probe.wait_line(lambda l: l.get("key") == "shop/new" and l["type"] == "delete", start=mark)

    events = probe.events(mark, kind="Pod")
    # The node-2 pod never reaches a node-1 agent.
    assert [(e["type"], e["key"], e["rv"]) for e in events] == [
        ("add", "shop/new", created["metadata"]["resourceVersion"]),
        ("update", "shop/new", updated["metadata"]["resourceVersion"]),
        ("delete", "shop/new", updated["metadata"]["resourceVersion"])]  # last stored state
    assert events[0]["object"]["podIPs"] == ["10.244.1.99"]
    assert events[1]["old_rv"] == created["metadata"]["resourceVersion"]
    assert events[1]["object"]["metadata"]["labels"] == {"app": "new", "version": "2"}
    assert int(deleted["metadata"]["resourceVersion"]) > int(updated["metadata"]["resourceVersion"])
    assert "shop/new" not in probe.dump("Pod")["Pod"]

    # Other kinds follow too.
    api.update(make_service("shop", "web", {"app": "web", "tier": "front"}, "10.96.0.10"))
    _, line = probe.wait_line(lambda l: l.get("kind") == "Service" and l["type"] == "update",
                              start=mark)
    assert line["object"]["selector"] == {"app": "web", "tier": "front"}
    api.delete("Namespace", "kube-system")
    probe.wait_line(lambda l: l.get("kind") == "Namespace" and l["type"] == "delete", start=mark)
    status = probe.status("Pod")
    assert (status["lists"], status["events"], status["errors"]) == (1, 3, 0)
    assert status["resourceVersion"] == deleted["metadata"]["resourceVersion"]


def test_dropped_connection_resumes_from_last_resource_version(api, kubeconfig, start_probe):
    populate(api)
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", *FAST)
    probe.wait_synced()
    wait_for(lambda: api.watcher_count() == len(KINDS), 5, what="all watches")
    mark = probe.mark()
    p1 = api.create(make_pod("shop", "p1", "node-1", "10.244.1.51"))
    probe.wait_line(lambda l: l.get("key") == "shop/p1", start=mark)
    last_rv = p1["metadata"]["resourceVersion"]
    watches_before = len(api.request_log("pods", watch=True))

    api.drop_watches()
    p2 = api.create(make_pod("shop", "p2", "node-1", "10.244.1.52"))  # sent after the drop
    api.delete("Pod", "shop/p1")
    probe.wait_line(lambda l: l.get("key") == "shop/p1" and l["type"] == "delete", start=mark)

    resumed = api.request_log("pods", watch=True)[watches_before:]
    assert resumed and resumed[0]["rv"] == last_rv and resumed[0]["status"] == 200
    assert len(api.request_log("pods", watch=False)) == 1  # no relist
    assert [(e["type"], e["key"]) for e in probe.events(mark, kind="Pod")] == [
        ("add", "shop/p1"), ("add", "shop/p2"), ("delete", "shop/p1")]
    assert probe.events(mark, kind="Pod")[1]["rv"] == p2["metadata"]["resourceVersion"]
    status = probe.status("Pod")
    assert status["relistsGone"] == 0 and status["lists"] == 1
    assert status["errors"] >= 1 and status["lastError"]
    wait_for(lambda: probe.status("Pod")["connected"], 5, what="reconnected")
    assert cache_matches_server(probe, api)


def test_bookmarks_advance_the_resume_point(api, kubeconfig, start_probe):
    populate(api)
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", *FAST)
    probe.wait_synced()
    wait_for(lambda: api.watcher_count("pods") == 1, 5, what="pod watch")
    for i in range(5):  # invisible to node-1: the global version moves, the watch sees nothing
        api.create(make_pod("shop", f"far-{i}", "node-2", f"10.244.2.{60 + i}"))
    bookmark_rv = str(api.resource_version)
    api.bookmark()
    wait_for(lambda: probe.status("Pod")["bookmarks"] == 1, 5, what="bookmark")
    assert probe.status("Pod")["resourceVersion"] == bookmark_rv
    watches_before = len(api.request_log("pods", watch=True))
    api.drop_watches()
    wait_for(lambda: len(api.request_log("pods", watch=True)) > watches_before, 5, what="rewatch")
    assert api.request_log("pods", watch=True)[watches_before]["rv"] == bookmark_rv
    assert probe.events(kind="Pod") == [e for e in probe.events(kind="Pod") if e["type"] == "add"]


@pytest.mark.parametrize("as_http_status", [False, True], ids=["error-event", "http-410"])
def test_gone_relists_and_emits_the_difference(api, kubeconfig, start_probe, as_http_status):
    objs = populate(api)
    api.gone_as_http_status = as_http_status
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", *FAST)
    probe.wait_synced()
    wait_for(lambda: api.watcher_count("pods") == 1, 5, what="pod watch")
    mark = probe.mark()
    # While the informer cannot see it: one pod added, one deleted, one changed, then the history
    # is compacted so the informer's resourceVersion is too old.
    api.fail(30)
    gone_key = f"shop/{objs['web']['pods'][0]['metadata']['name']}"
    changed_key = f"shop/{objs['web']['pods'][1]['metadata']['name']}"
    api.create(make_pod("shop", "while-away", "node-1", "10.244.1.77"))
    api.delete("Pod", gone_key)
    changed = api.set_labels("Pod", changed_key, {"app": "web", "changed": "yes"})
    api.compact()
    api.recover()

    wait_for(lambda: probe.status("Pod")["relistsGone"] == 1, 10, what="relist after 410")
    wait_for(lambda: probe.status("Pod")["lists"] == 2, 10, what="second list")
    events = sorted((e["type"], e["key"]) for e in probe.events(mark, kind="Pod"))
    assert events == [("add", "shop/while-away"), ("delete", gone_key), ("update", changed_key)]
    assert probe.dump("Pod")["Pod"][changed_key]["metadata"]["labels"]["changed"] == "yes"
    assert probe.dump("Pod")["Pod"][changed_key]["metadata"]["resourceVersion"] == \
        changed["metadata"]["resourceVersion"]
    assert any(r["status"] == 410 for r in api.request_log("pods", watch=True))
    assert cache_matches_server(probe, api)


def test_api_down_keeps_last_state_and_recovers(api, kubeconfig, start_probe):
    """The API answers 503 for LOUPE_K8S_OUTAGE_S seconds (default 60): the caches keep serving
    the last known state, retries back off (capped at 2 s, jittered) and the informers catch up
    once the API is back."""
    outage = float(os.environ.get("LOUPE_K8S_OUTAGE_S", "60"))
    objs = populate(api)
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1",
                        "--initial-backoff-ms", "100", "--max-backoff-ms", "2000")
    probe.wait_synced()
    wait_for(lambda: api.watcher_count() == len(KINDS), 5, what="all watches")
    before = probe.dump()
    mark = probe.mark()
    outage_start = time.monotonic()
    api.fail(outage)
    during = api.create(make_pod("shop", "during", "node-1", "10.244.1.88"))
    gone_key = f"shop/{objs['web']['pods'][0]['metadata']['name']}"
    api.delete("Pod", gone_key)
    api.delete("Service", "shop/web")

    wait_for(lambda: not probe.status("Pod")["connected"], 5, what="disconnected")
    time.sleep(min(outage / 2, 10))
    assert probe.dump() == before  # the last known state, unchanged
    status = probe.status("Pod")
    assert status["synced"] and not status["connected"]
    assert "503" in status["lastError"] and "apiserver is failing" in status["lastError"]
    assert probe.events(mark) == []

    wait_for(lambda: not api.failing(), outage + 5, interval=0.5, what="end of outage")
    recovered = wait_for(
        lambda: probe.events(mark, kind="Service") and len(probe.events(mark, kind="Pod")) == 2,
        5, what="catch-up events")
    assert recovered
    caught_up = time.monotonic() - outage_start - outage
    assert caught_up < 2.0 + 2.0  # one capped backoff plus slack
    assert sorted((e["type"], e["key"]) for e in probe.events(mark, kind="Pod")) == [
        ("add", "shop/during"), ("delete", gone_key)]
    assert probe.events(mark, kind="Pod")[0]["rv"] == during["metadata"]["resourceVersion"]
    assert [(e["type"], e["key"]) for e in probe.events(mark, kind="Service")] == [
        ("delete", "shop/web")]
    assert cache_matches_server(probe, api)
    status = probe.status("Pod")
    assert status["lists"] == 1 and status["relistsGone"] == 0  # resumed, no relist needed

    # Retries were spaced by the capped, jittered backoff: after the ramp-up every gap lies in
    # [max/2, max] = [1, 2] s (plus scheduling slack), so the API saw a bounded number of calls.
    failed = [r["time"] for r in api.request_log("pods", watch=True)
              if r["status"] == "fail-503"]
    gaps = [b - a for a, b in zip(failed, failed[1:])]
    assert len(failed) >= min(5, outage / 2 - 1)
    assert len(failed) <= outage / 1.0 + 6
    steady = gaps[5:]
    assert steady and all(0.95 <= g <= 2.3 for g in steady), gaps


def test_memory_stays_flat_over_100k_watch_events(start_probe, tmp_path):
    api = ApiServer(history_size=2000).start()
    try:
        kubeconfig = api.write_kubeconfig(str(tmp_path / "kubeconfig"))
        pods = 500
        for i in range(pods):
            api.create(make_pod("load", f"pod-{i}", "node-1", f"10.245.{i // 250}.{i % 250}",
                                {"app": "load", "gen": "0"}))
        probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", "--quiet",
                            "--disable", "node,namespace,service,endpointslice,replicaset,"
                            "deployment,daemonset,statefulset,job,cronjob", *FAST)
        probe.wait_synced()
        wait_for(lambda: api.watcher_count("pods") == 1, 5, what="pod watch")
        batches, per_batch = 10, 10_000
        samples = []
        seq = 0
        started = time.monotonic()
        for batch in range(batches):
            for n in range(per_batch):
                seq += 1
                i = seq % pods
                if n % 100 == 0:  # some churn of identities: delete + recreate (2 events)
                    api.delete("Pod", f"load/pod-{i}")
                    api.create(make_pod("load", f"pod-{i}", "node-1",
                                        f"10.245.{i // 250}.{i % 250}", {"app": "load"}))
                else:
                    api.set_labels("Pod", f"load/pod-{i}", {"app": "load", "gen": str(seq)})
            target = (batch + 1) * per_batch + (batch + 1) * (per_batch // 100)

            def processed():
                c = probe.stats()["counts"]["Pod"]
                return c["add"] + c["update"] + c["delete"] - pods >= target  # minus the list
            wait_for(processed, 60, interval=0.2, what=f"batch {batch} processed")
            samples.append(probe.stats())
        elapsed = time.monotonic() - started
        status = probe.status("Pod")
        counts = samples[-1]["counts"]["Pod"]
        total = counts["add"] + counts["update"] + counts["delete"] - pods
        assert total == batches * per_batch + batches * per_batch // 100
        assert status["objects"] == pods
        assert status["lists"] == 1 and status["errors"] == 0 and status["decodeErrors"] == 0
        rss = [s["rss_bytes"] for s in samples]
        heap = [s["heap_bytes"] for s in samples]
        print(f"\n{total} events in {elapsed:.1f}s ({total / elapsed:.0f}/s end to end, "
              f"bounded by the Python server); rss MiB per 10k batch: "
              f"{[round(r / 2**20, 2) for r in rss]}; heap KiB: {[h // 1024 for h in heap]}")
        # After the first batch (warm-up: buffers and allocator arenas reach their working size)
        # the cache holds the same 500 pods: memory must not grow with the number of events.
        assert rss[-1] - rss[0] <= 512 * 1024, rss
        assert heap[-1] - heap[0] <= 128 * 1024, heap
    finally:
        api.stop()


def test_bad_objects_are_counted_and_skipped(api, kubeconfig, start_probe):
    probe = start_probe("--kubeconfig", kubeconfig, "--node-name", "node-1", *FAST)
    probe.wait_synced()
    wait_for(lambda: api.watcher_count("pods") == 1, 5, what="pod watch")
    bad = make_pod("shop", "bad", "node-1", "10.244.1.5")
    bad["metadata"]["labels"] = {"app": 7}  # labels must be strings
    api.create(bad)
    api.create(make_pod("shop", "good", "node-1", "10.244.1.6"))
    probe.wait_line(lambda l: l.get("key") == "shop/good")
    wait_for(lambda: probe.status("Pod")["events"] == 1, 5, what="event counted")
    assert probe.status("Pod")["decodeErrors"] == 1
    assert set(probe.dump("Pod")["Pod"]) == {"shop/good"}


def test_token_auth_and_rejections(api, tmp_path, start_probe):
    api.create(make_node("node-1", "10.0.0.1"))
    good = api.write_kubeconfig(str(tmp_path / "token"), auth="token")
    probe = start_probe("--kubeconfig", good, "--disable", "namespace", *FAST)
    probe.wait_synced()
    assert set(probe.dump("Node")["Node"]) == {"node-1"}

    bad = api.write_kubeconfig(str(tmp_path / "badtoken"), auth="token", token="wrong")
    rejected = start_probe("--kubeconfig", bad, *FAST)
    wait_for(lambda: rejected.status()["errors"] >= 2, 10, what="401 retries")
    status = rejected.status()
    assert not status["synced"] and "HTTP 401" in status["lastError"]

    # A CA that did not sign the server's certificate: TLS verification fails.
    config = json.loads(open(good).read())
    config["clusters"][0]["cluster"]["certificate-authority"] = api.path("client.crt")
    wrong_ca = tmp_path / "wrongca"
    wrong_ca.write_text(json.dumps(config))
    untrusted = start_probe("--kubeconfig", str(wrong_ca), *FAST)
    wait_for(lambda: untrusted.status()["errors"] >= 1, 10, what="TLS failure")
    assert "certificate" in untrusted.status()["lastError"].lower()
    assert not untrusted.status()["synced"]


def test_probe_rejects_a_broken_kubeconfig(tmp_path, start_probe):
    path = tmp_path / "kubeconfig"
    path.write_text("current-context: x\ncontexts: []\n")
    probe = start_probe("--kubeconfig", str(path))
    _, line = probe.wait_line(lambda l: l["type"] == "error")
    assert line["message"] == "kubeconfig: no entry named 'x' in contexts"
    assert probe.proc.wait(timeout=5) == 1
