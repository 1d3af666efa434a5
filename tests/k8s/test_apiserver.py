"""The test API server on its own (urllib as the client), so informer failures are not blamed on
it: auth, routing, pagination snapshots, selectors, watch replay, 410, bookmarks, faults."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest

from tests.k8s.apiserver import (ApiServer, create_deployment, make_namespace, make_node, make_pod,
                                 parse_path)
from tests.k8s.conftest import REPO, wait_for


def client(api: ApiServer, token: str | None = None):
    ctx = ssl.create_default_context(cafile=api.path("ca.crt"))
    if token is None:
        ctx.load_cert_chain(api.path("client.crt"), api.path("client.key"))

    def get(path: str, timeout: float = 5):
        req = urllib.request.Request(api.url + path)
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()
    return get


def watch_lines(get, path: str) -> list[dict]:
    status, body = get(path)
    assert status == 200
    return [json.loads(l) for l in body.splitlines() if l]


def test_auth_by_certificate_or_token(api):
    assert client(api)("/api/v1/nodes")[0] == 200
    assert client(api, token=api.token)("/api/v1/nodes")[0] == 200
    status, body = client(api, token="nope")("/api/v1/nodes")
    assert status == 401 and json.loads(body)["reason"] == "Unauthorized"


def test_routes():
    assert parse_path("/api/v1/pods")[0].kind == "Pod"
    assert parse_path("/api/v1/namespaces/shop/pods")[1] == "shop"
    assert parse_path("/api/v1/namespaces")[0].kind == "Namespace"
    assert parse_path("/apis/apps/v1/namespaces/x/replicasets")[0].kind == "ReplicaSet"
    assert parse_path("/apis/discovery.k8s.io/v1/endpointslices")[0].kind == "EndpointSlice"
    assert parse_path("/apis/batch/v1/cronjobs")[0].kind == "CronJob"
    assert parse_path("/apis/apps/v1/pods") is None  # wrong group
    assert parse_path("/api/v1/namespaces/x/nodes") is None  # cluster-scoped
    assert parse_path("/api/v1/pods/name") is None


def test_pagination_serves_a_snapshot_and_expires(api):
    get = client(api)
    for i in range(5):
        api.create(make_pod("ns", f"p{i}", "node-1", f"10.0.0.{i}"))
    status, body = get("/api/v1/pods?limit=2")
    first = json.loads(body)
    assert status == 200 and [p["metadata"]["name"] for p in first["items"]] == ["p0", "p1"]
    rv = first["metadata"]["resourceVersion"]
    api.delete("Pod", "ns/p3")  # after the snapshot: page 2 still shows it
    second = json.loads(get(f"/api/v1/pods?limit=2&continue={first['metadata']['continue']}")[1])
    assert [p["metadata"]["name"] for p in second["items"]] == ["p2", "p3"]
    assert second["metadata"]["resourceVersion"] == rv
    api.compact()
    status, body = get(f"/api/v1/pods?limit=2&continue={second['metadata']['continue']}")
    assert status == 410 and json.loads(body)["reason"] == "Expired"


def test_selectors(api):
    get = client(api)
    api.create(make_pod("a", "x", "node-1", "10.0.0.1", {"app": "web", "tier": "front"}))
    api.create(make_pod("b", "y", "node-2", "10.0.0.2", {"app": "web"}))
    api.create(make_pod("b", "z", "node-1", "10.0.0.3", {"app": "db"}))

    def names(query):
        status, body = get("/api/v1/" + query)
        assert status == 200, body
        return [p["metadata"]["name"] for p in json.loads(body)["items"]]
    assert names("pods?fieldSelector=spec.nodeName%3Dnode-1") == ["x", "z"]
    assert names("pods?fieldSelector=spec.nodeName!%3Dnode-1") == ["y"]
    assert names("pods?labelSelector=app%3Dweb") == ["x", "y"]
    assert names("pods?labelSelector=app%3Dweb,tier") == ["x"]
    assert names("pods?labelSelector=!tier") == ["y", "z"]
    assert names("pods?labelSelector=app!%3Dweb") == ["z"]
    assert names("namespaces/b/pods") == ["y", "z"]
    assert get("/api/v1/pods?fieldSelector=spec.foo%3D1")[0] == 400
    assert get("/api/v1/services?fieldSelector=spec.nodeName%3Dn")[0] == 400
    assert get("/api/v1/pods?labelSelector=app+in+(a)")[0] == 400


def test_watch_replays_history_filters_and_times_out(api):
    get = client(api)
    api.create(make_node("n1", "10.0.0.1"))
    start = api.resource_version
    pod = api.create(make_pod("ns", "p", "node-1", "10.0.0.9", {"app": "a"}))
    api.create(make_pod("ns", "q", "node-2", "10.0.0.8"))
    api.set_labels("Pod", "ns/p", {"app": "b"})
    api.delete("Pod", "ns/p")
    lines = watch_lines(get, f"/api/v1/pods?watch=1&resourceVersion={start}&timeoutSeconds=1"
                             "&fieldSelector=spec.nodeName%3Dnode-1")
    assert [(l["type"], l["object"]["metadata"]["name"]) for l in lines] == [
        ("ADDED", "p"), ("MODIFIED", "p"), ("DELETED", "p")]
    assert lines[0]["object"]["metadata"]["resourceVersion"] == pod["metadata"]["resourceVersion"]
    # A label selector turns a label change into ADDED/DELETED for that watcher.
    lines = watch_lines(get, f"/api/v1/pods?watch=1&resourceVersion={start}&timeoutSeconds=1"
                             "&labelSelector=app%3Db")
    assert [l["type"] for l in lines] == ["ADDED", "DELETED"]
    # resourceVersion 0: the current state as synthetic ADDED events.
    lines = watch_lines(get, "/api/v1/pods?watch=1&resourceVersion=0&timeoutSeconds=1")
    assert [(l["type"], l["object"]["metadata"]["name"]) for l in lines] == [("ADDED", "q")]


def test_stale_versions_get_410(api):
    get = client(api)
    small = ApiServer(history_size=3).start()
    try:
        sget = client(small)
        for i in range(5):
            small.create(make_namespace(f"ns{i}"))
        lines = watch_lines(sget, "/api/v1/namespaces?watch=1&resourceVersion=101&timeoutSeconds=1")
        assert lines == [{"type": "ERROR", "object": {
            "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "too old resource version: 101 (102)", "reason": "Expired", "code": 410}}]
        assert len(watch_lines(
            sget, "/api/v1/namespaces?watch=1&resourceVersion=102&timeoutSeconds=1")) == 3
        small.gone_as_http_status = True
        assert sget("/api/v1/namespaces?watch=1&resourceVersion=101")[0] == 410
    finally:
        small.stop()
    api.create(make_namespace("a"))
    api.compact()
    lines = watch_lines(get, "/api/v1/namespaces?watch=1&resourceVersion=100&timeoutSeconds=1")
    assert lines[0]["object"]["code"] == 410


def test_bookmarks_drops_and_failures(api):
    get = client(api)
    api.create(make_namespace("a"))
    result = {}

    def run():
        result["lines"] = watch_lines(get, "/api/v1/namespaces?watch=1&resourceVersion=101"
                                           "&allowWatchBookmarks=true&timeoutSeconds=5")
    t = threading.Thread(target=run)
    t.start()
    wait_for(lambda: api.watcher_count("namespaces") == 1, 5)
    api.create(make_namespace("b"))
    api.bookmark()
    api.end_watches()
    t.join(5)
    assert [l["type"] for l in result["lines"]] == ["ADDED", "BOOKMARK"]
    assert result["lines"][1]["object"]["metadata"]["resourceVersion"] == "102"

    # A dropped watch: the client sees a broken chunked stream.
    errors = []

    def dropped():
        try:
            get("/api/v1/namespaces?watch=1&resourceVersion=102&timeoutSeconds=5")
        except Exception as e:  # noqa: BLE001 - any transport error is the expected outcome
            errors.append(e)
    t = threading.Thread(target=dropped)
    t.start()
    wait_for(lambda: api.watcher_count("namespaces") == 1, 5)
    api.drop_watches()
    t.join(5)
    assert errors, "the dropped stream ended cleanly"

    api.fail(30)
    status, body = get("/api/v1/namespaces")
    assert status == 503 and json.loads(body)["code"] == 503
    api.fail(30, mode="close")
    with pytest.raises(Exception):
        get("/api/v1/namespaces")
    api.recover()
    assert get("/api/v1/namespaces")[0] == 200


def test_create_deployment_builds_the_owner_chain(api):
    objs = create_deployment(api, "shop", "web", [{"node": "n1", "ip": "10.1.0.1"},
                                                  {"node": "n2", "ip": "10.1.0.2", "name": "w2"}])
    rs = objs["replicaset"]
    assert rs["metadata"]["ownerReferences"][0]["kind"] == "Deployment"
    assert rs["metadata"]["ownerReferences"][0]["uid"] == objs["deployment"]["metadata"]["uid"]
    pod = api.get("Pod", "shop/w2")
    assert pod["metadata"]["ownerReferences"][0]["name"] == rs["metadata"]["name"]
    assert pod["metadata"]["labels"]["pod-template-hash"] == rs["metadata"]["name"].split("-")[-1]
    assert pod["status"]["podIP"] == "10.1.0.2" and pod["spec"]["nodeName"] == "n2"


def test_standalone_mode_and_control_api(tmp_path):
    kubeconfig = tmp_path / "kubeconfig"
    proc = subprocess.Popen([sys.executable, "-m", "tests.k8s.apiserver", "--kubeconfig",
                             str(kubeconfig)], cwd=REPO, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    try:
        ready = json.loads(proc.stdout.readline())
        assert ready["ready"] and ready["kubeconfig"] == str(kubeconfig)
        config = json.loads(kubeconfig.read_text())
        assert config["clusters"][0]["cluster"]["server"] == f"https://127.0.0.1:{ready['port']}"
        control = f"http://127.0.0.1:{ready['control_port']}"

        def post(path, payload):
            req = urllib.request.Request(control + path, data=json.dumps(payload).encode(),
                                         method="POST")
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read())
        post("/deployment", {"namespace": "shop", "name": "web",
                             "pods": [{"node": "n1", "ip": "10.1.0.1", "name": "web-1"}]})
        post("/objects", {"op": "create", "object": make_node("n1", "10.0.0.1")})
        with urllib.request.urlopen(control + "/objects/Pod", timeout=5) as resp:
            assert json.loads(resp.read()) == ["shop/web-1"]
        post("/objects", {"op": "delete", "kind": "Pod", "key": "shop/web-1"})
        with urllib.request.urlopen(control + "/state", timeout=5) as resp:
            assert json.loads(resp.read())["resourceVersion"] == 105
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
