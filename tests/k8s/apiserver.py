"""A test Kubernetes API server for Loupe's informer tests and the lab's Kubernetes mode.

Serves list and watch (HTTPS, client-certificate or bearer-token auth) for Pods, Services,
EndpointSlices, Nodes, Namespaces, ReplicaSets, Deployments, DaemonSets, StatefulSets, Jobs and
CronJobs, from objects the caller creates. It keeps a global resourceVersion, a bounded event
history (watches from versions older than the history get 410 Gone), serves bookmarks, paginates
lists from snapshots (limit/continue), and can be told to drop watch connections, fail for a while
or compact its history.

In-process (pytest):   api = ApiServer(); api.start(); api.write_kubeconfig(path); api.create(obj)
Standalone (the lab):  python3 -m tests.k8s.apiserver --port 0 --kubeconfig PATH --control-port N
The standalone server prints one JSON line {"ready": true, "port": ..., "control_port": ...} and
takes control requests as plain HTTP on 127.0.0.1:<control-port> (see ControlHandler).
"""
from __future__ import annotations

import argparse
import base64
import collections
import hashlib
import http.server
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass

DEFAULT_TOKEN = "loupe-test-token"


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    api_path: str  # "/api/v1", "/apis/apps/v1"
    namespaced: bool

    @property
    def api_version(self) -> str:
        return self.api_path.removeprefix("/api/").removeprefix("/apis/")


RESOURCES = {r.plural: r for r in [
    Resource("Pod", "pods", "/api/v1", True),
    Resource("Service", "services", "/api/v1", True),
    Resource("Node", "nodes", "/api/v1", False),
    Resource("Namespace", "namespaces", "/api/v1", False),
    Resource("ReplicaSet", "replicasets", "/apis/apps/v1", True),
    Resource("Deployment", "deployments", "/apis/apps/v1", True),
    Resource("DaemonSet", "daemonsets", "/apis/apps/v1", True),
    Resource("StatefulSet", "statefulsets", "/apis/apps/v1", True),
    Resource("Job", "jobs", "/apis/batch/v1", True),
    Resource("CronJob", "cronjobs", "/apis/batch/v1", True),
    Resource("EndpointSlice", "endpointslices", "/apis/discovery.k8s.io/v1", True),
]}
BY_KIND = {r.kind: r for r in RESOURCES.values()}

# Field selectors the real API server supports for these kinds (a subset); others are 400.
FIELD_SELECTORS = {
    "metadata.name": lambda o: o["metadata"].get("name", ""),
    "metadata.namespace": lambda o: o["metadata"].get("namespace", ""),
}
POD_FIELD_SELECTORS = {
    "spec.nodeName": lambda o: o.get("spec", {}).get("nodeName", ""),
    "status.phase": lambda o: o.get("status", {}).get("phase", ""),
}


class BadRequest(Exception):
    pass


def object_key(obj: dict) -> str:
    meta = obj["metadata"]
    ns = meta.get("namespace", "")
    return f"{ns}/{meta['name']}" if ns else meta["name"]


def parse_field_selector(text: str, resource: Resource):
    """Returns a predicate, or raises BadRequest for unsupported fields or syntax."""
    terms = []
    for part in filter(None, text.split(",")):
        for op in ("!=", "==", "="):
            if op in part:
                field, value = part.split(op, 1)
                break
        else:
            raise BadRequest(f"invalid field selector term {part!r}")
        getters = dict(FIELD_SELECTORS)
        if resource.kind == "Pod":
            getters.update(POD_FIELD_SELECTORS)
        if field not in getters:
            raise BadRequest(f'field label not supported: "{field}"')
        terms.append((getters[field], op != "!=", value))
    return lambda o: all((get(o) == value) == equal for get, equal, value in terms)


def parse_label_selector(text: str):
    """Equality-based selectors: a=b, a==b, a!=b, a (exists), !a (absent)."""
    terms = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        if " in " in part or " notin " in part or "(" in part:
            raise BadRequest(f"set-based label selectors are not supported: {part!r}")
        if "!=" in part:
            k, v = part.split("!=", 1)
            terms.append(lambda l, k=k, v=v: l.get(k) != v)
        elif "==" in part or "=" in part:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            terms.append(lambda l, k=k, v=v: l.get(k) == v)
        elif part.startswith("!"):
            terms.append(lambda l, k=part[1:]: k not in l)
        else:
            terms.append(lambda l, k=part: k in l)
    return lambda o: all(t(o["metadata"].get("labels") or {}) for t in terms)


class _Event:
    __slots__ = ("rv", "plural", "type", "obj", "old", "lines")

    def __init__(self, rv, plural, type_, obj, old):
        self.rv, self.plural, self.type, self.obj, self.old = rv, plural, type_, obj, old
        self.lines = {}  # event type as seen by a watcher -> encoded line

    def line(self, type_: str) -> bytes:
        if type_ not in self.lines:
            self.lines[type_] = json.dumps({"type": type_, "object": self.obj},
                                           separators=(",", ":")).encode() + b"\n"
        return self.lines[type_]


_DROP = object()  # watcher queue sentinel: close the connection abruptly
_END = object()   # watcher queue sentinel: end the stream cleanly


class _Watcher:
    def __init__(self, resource, namespace, fsel, lsel, bookmarks):
        self.resource = resource
        self.namespace = namespace
        self.fsel = fsel
        self.lsel = lsel
        self.bookmarks = bookmarks
        self.queue = queue.SimpleQueue()

    def matches(self, obj) -> bool:
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.fsel(obj) and self.lsel(obj)

    def offer(self, ev: _Event):
        if ev.plural != self.resource.plural:
            return
        now, before = self.matches(ev.obj), self.matches(ev.old)
        if ev.type == "DELETED":
            if before or now:
                self.queue.put(ev.line("DELETED"))
        elif now and before:
            self.queue.put(ev.line("MODIFIED"))
        elif now:
            self.queue.put(ev.line("ADDED"))
        elif before:  # no longer selected (e.g. its labels changed): gone for this watcher
            self.queue.put(ev.line("DELETED"))


class ApiServer:
    """The state and the HTTPS front end. All public methods are thread-safe."""

    def __init__(self, history_size: int = 10000, token: str = DEFAULT_TOKEN,
                 bookmark_interval: float | None = None, host: str = "127.0.0.1",
                 port: int = 0):
        self.history_size = history_size
        self.token = token
        self.bookmark_interval = bookmark_interval
        self.host = host
        self.port = port
        self.gone_as_http_status = False  # True: answer stale watches with HTTP 410, not an event
        self._lock = threading.RLock()
        self._rv = 100
        self._objects = {p: {} for p in RESOURCES}
        self._history = collections.deque()
        self._floor = 0  # watches may resume from any resourceVersion >= this
        self._watchers: set[_Watcher] = set()
        self._fail_until = 0.0
        self._fail_mode = "503"
        self._snapshots = collections.OrderedDict()
        self.requests: list[dict] = []
        self._dir = None
        self._httpd = None
        self._threads = []
        self._stopping = threading.Event()

    # ----- lifecycle -----

    def start(self):
        self._dir = tempfile.mkdtemp(prefix="loupe-k8s-apiserver-")
        make_certs(self._dir)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.path("server.crt"), self.path("server.key"))
        ctx.load_verify_locations(self.path("ca.crt"))
        ctx.verify_mode = ssl.CERT_OPTIONAL
        api = self

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 128

        class Handler(_ApiHandler):
            server_api = api

        self._httpd = Server((self.host, self.port), Handler)
        self._httpd.socket = ctx.wrap_socket(self._httpd.socket, server_side=True,
                                             do_handshake_on_connect=False)
        self.port = self._httpd.server_address[1]
        t = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                             daemon=True, name="apiserver")
        t.start()
        self._threads.append(t)
        if self.bookmark_interval:
            b = threading.Thread(target=self._bookmark_loop, daemon=True, name="bookmarks")
            b.start()
            self._threads.append(b)
        return self

    def stop(self):
        self._stopping.set()
        self.drop_watches()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for t in self._threads:
            t.join(timeout=5)
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def path(self, name: str) -> str:
        return os.path.join(self._dir, name)

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def write_kubeconfig(self, path: str, auth: str = "cert", token: str | None = None) -> str:
        """auth "cert": inline client certificate data; "token": bearer token + CA file path."""
        def b64(name):
            with open(self.path(name), "rb") as f:
                return base64.b64encode(f.read()).decode()
        if auth == "cert":
            cluster = {"server": self.url, "certificate-authority-data": b64("ca.crt")}
            user = {"client-certificate-data": b64("client.crt"),
                    "client-key-data": b64("client.key")}
        elif auth == "token":
            cluster = {"server": self.url, "certificate-authority": self.path("ca.crt")}
            user = {"token": token if token is not None else self.token}
        else:
            raise ValueError(auth)
        config = {
            "apiVersion": "v1", "kind": "Config", "current-context": "loupe-test",
            "clusters": [{"name": "loupe-test", "cluster": cluster}],
            "users": [{"name": "loupe-agent", "user": user}],
            "contexts": [{"name": "loupe-test",
                          "context": {"cluster": "loupe-test", "user": "loupe-agent"}}],
        }
        # JSON is YAML: no YAML library needed.
        with open(path, "w") as f:
            json.dump(config, f, indent=1)
        return path

    # ----- objects -----

    @property
    def resource_version(self) -> int:
        with self._lock:
            return self._rv

    def create(self, obj: dict) -> dict:
        resource = BY_KIND[obj["kind"]]
        obj = json.loads(json.dumps(obj))
        meta = obj.setdefault("metadata", {})
        if not resource.namespaced:
            meta.pop("namespace", None)
        elif not meta.get("namespace"):
            meta["namespace"] = "default"
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        obj["apiVersion"] = resource.api_version
        with self._lock:
            store = self._objects[resource.plural]
            key = object_key(obj)
            if key in store:
                raise ValueError(f"{resource.kind} {key} already exists")
            store[key] = obj
            self._commit(resource.plural, "ADDED", obj, None)
            return obj

    def update(self, obj: dict) -> dict:
        """Replaces the stored object (same kind/namespace/name) with `obj`."""
        resource = BY_KIND[obj["kind"]]
        obj = json.loads(json.dumps(obj))
        obj["apiVersion"] = resource.api_version
        with self._lock:
            return self._replace(resource, obj)

    def _replace(self, resource: Resource, obj: dict) -> dict:
        store = self._objects[resource.plural]
        key = object_key(obj)
        old = store.get(key)
        if old is None:
            raise KeyError(f"{resource.kind} {key} not found")
        obj["metadata"]["uid"] = old["metadata"]["uid"]
        obj["metadata"]["creationTimestamp"] = old["metadata"]["creationTimestamp"]
        store[key] = obj
        self._commit(resource.plural, "MODIFIED", obj, old)
        return obj

    def apply(self, obj: dict) -> dict:
        resource = BY_KIND[obj["kind"]]
        meta = obj["metadata"]
        key = meta["name"]
        if resource.namespaced:
            key = f"{meta.get('namespace') or 'default'}/{key}"
        with self._lock:
            if key in self._objects[resource.plural]:
                return self.update(obj)
            return self.create(obj)

    def set_labels(self, kind: str, key: str, labels: dict) -> dict:
        """Replaces an object's labels (a cheap update: used for event churn)."""
        resource = BY_KIND[kind]
        with self._lock:
            old = self._objects[resource.plural][key]
            new = dict(old)
            new["metadata"] = dict(old["metadata"], labels=dict(labels))
            return self._replace(resource, new)

    def delete(self, kind: str, key: str) -> dict:
        resource = BY_KIND[kind]
        with self._lock:
            old = self._objects[resource.plural].pop(key)
            final = dict(old)
            final["metadata"] = dict(old["metadata"])
            self._commit(resource.plural, "DELETED", final, old)
            return final

    def get(self, kind: str, key: str) -> dict | None:
        with self._lock:
            obj = self._objects[BY_KIND[kind].plural].get(key)
            return json.loads(json.dumps(obj)) if obj is not None else None

    def keys(self, kind: str) -> list[str]:
        with self._lock:
            return sorted(self._objects[BY_KIND[kind].plural])

    def _commit(self, plural, type_, obj, old):
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        ev = _Event(self._rv, plural, type_, obj, old)
        if len(self._history) >= self.history_size:
            self._floor = self._history.popleft().rv
        self._history.append(ev)
        for w in self._watchers:
            w.offer(ev)

    # ----- faults and control -----

    def drop_watches(self):
        """Closes every open watch connection abruptly (no terminating chunk)."""
        with self._lock:
            for w in self._watchers:
                w.queue.put(_DROP)

    def end_watches(self):
        """Ends every open watch cleanly, as a server-side timeout does."""
        with self._lock:
            for w in self._watchers:
                w.queue.put(_END)

    def fail(self, seconds: float, mode: str = "503"):
        """For `seconds`, answers every API request with 503 (mode "503") or closes the
        connection without an answer (mode "close"); open watches are dropped."""
        assert mode in ("503", "close")
        with self._lock:
            self._fail_until = time.monotonic() + seconds
            self._fail_mode = mode
        self.drop_watches()

    def recover(self):
        with self._lock:
            self._fail_until = 0.0

    def failing(self) -> bool:
        return time.monotonic() < self._fail_until

    def compact(self):
        """Forgets the event history: watches from any older resourceVersion get 410."""
        with self._lock:
            self._history.clear()
            self._floor = self._rv
            self._snapshots.clear()

    def bookmark(self):
        """Sends a BOOKMARK with the current resourceVersion to every watch that asked for them."""
        with self._lock:
            for w in self._watchers:
                if w.bookmarks:
                    w.queue.put(json.dumps({"type": "BOOKMARK", "object": {
                        "kind": w.resource.kind, "apiVersion": w.resource.api_version,
                        "metadata": {"resourceVersion": str(self._rv)}}}).encode() + b"\n")

    def watcher_count(self, plural: str | None = None) -> int:
        with self._lock:
            return sum(1 for w in self._watchers if plural is None or w.resource.plural == plural)

    def request_log(self, plural: str | None = None, watch: bool | None = None) -> list[dict]:
        with self._lock:
            return [r for r in self.requests
                    if (plural is None or r["plural"] == plural)
                    and (watch is None or r["watch"] == watch)]

    def _bookmark_loop(self):
        while not self._stopping.wait(self.bookmark_interval):
            self.bookmark()

    # ----- request handling (called by _ApiHandler) -----

    def _log(self, entry: dict):
        with self._lock:
            self.requests.append(entry)
            if len(self.requests) > 100000:
                del self.requests[:50000]

    def handle_list(self, resource, namespace, params):
        fsel = parse_field_selector(params.get("fieldSelector", ""), resource)
        lsel = parse_label_selector(params.get("labelSelector", ""))
        limit = int(params.get("limit", "0") or 0)
        token = params.get("continue", "")
        with self._lock:
            if token:
                snap = self._snapshots.get(token)
                if snap is None:
                    return 410, status_body(410, "Expired",
                                            "The provided continue parameter is too old")
                rv, items, start = snap
            else:
                rv = self._rv
                items = [o for _, o in sorted(self._objects[resource.plural].items())
                         if (not namespace or o["metadata"].get("namespace") == namespace)
                         and fsel(o) and lsel(o)]
                start = 0
            end = start + limit if limit > 0 else len(items)
            page = items[start:end]
            meta = {"resourceVersion": str(rv)}
            if end < len(items):
                next_token = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
                self._snapshots[next_token] = (rv, items, end)
                while len(self._snapshots) > 64:
                    self._snapshots.popitem(last=False)
                meta["continue"] = next_token
                meta["remainingItemCount"] = len(items) - end
            body = {"kind": resource.kind + "List", "apiVersion": resource.api_version,
                    "metadata": meta, "items": page}
            return 200, json.dumps(body, separators=(",", ":")).encode()

    def open_watch(self, resource, namespace, params):
        """Returns (watcher, None) or (None, (status, body)) / (None, "gone")."""
        fsel = parse_field_selector(params.get("fieldSelector", ""), resource)
        lsel = parse_label_selector(params.get("labelSelector", ""))
        rv_text = params.get("resourceVersion", "")
        bookmarks = params.get("allowWatchBookmarks", "") in ("1", "true")
        try:
            since = int(rv_text) if rv_text else 0
        except ValueError:
            raise BadRequest(f"invalid resourceVersion {rv_text!r}")
        w = _Watcher(resource, namespace, fsel, lsel, bookmarks)
        with self._lock:
            if since == 0:
                # Like the real server: synthetic ADDED for everything, then live events.
                for _, o in sorted(self._objects[resource.plural].items()):
                    if w.matches(o):
                        w.queue.put(json.dumps({"type": "ADDED", "object": o}).encode() + b"\n")
            elif since < self._floor:
                return None, "gone"
            else:
                for ev in self._history:
                    if ev.rv > since:
                        w.offer(ev)
            self._watchers.add(w)
        return w, None

    def close_watch(self, w):
        with self._lock:
            self._watchers.discard(w)

    def gone_message(self, since) -> str:
        return f"too old resource version: {since} ({self._floor})"


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": message, "reason": reason, "code": code}).encode()


def parse_path(path: str):
    """Returns (resource, namespace) or None."""
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api" and parts[1] == "v1":
        prefix, rest = "/api/v1", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        prefix, rest = f"/apis/{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    namespace = ""
    if len(rest) == 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if len(rest) != 1:
        return None
    resource = RESOURCES.get(rest[0])
    if resource is None or resource.api_path != prefix:
        return None
    if namespace and not resource.namespaced:
        return None
    return resource, namespace


class _ApiHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api: ApiServer = None

    def setup(self):
        super().setup()
        self.request.settimeout(10)
        try:
            self.request.do_handshake()
        except (ssl.SSLError, OSError):
            self.close_connection = True
            self.rfile = None
        self.request.settimeout(None)

    def handle(self):
        if self.rfile is None:
            return
        try:
            super().handle()
        except (ssl.SSLError, OSError):
            pass

    def finish(self):
        try:
            super().finish()
        except (ssl.SSLError, OSError, AttributeError):
            pass

    def log_message(self, *args):
        pass

    def _send(self, code: int, body: bytes, content_type="application/json"):
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _authorized(self) -> bool:
        try:
            if self.request.getpeercert():
                return True
        except (ValueError, ssl.SSLError):
            pass
        auth = self.headers.get("Authorization", "")
        return auth == f"Bearer {self.server_api.token}"

    def _abort(self):
        self.close_connection = True
        try:
            self.request.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def do_GET(self):
        api = self.server_api
        url = urllib.parse.urlsplit(self.path)
        params = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        watch = params.get("watch", "") in ("1", "true")
        target = parse_path(url.path)
        entry = {"plural": target[0].plural if target else url.path, "watch": watch,
                 "rv": params.get("resourceVersion", ""), "continue": params.get("continue", ""),
                 "limit": params.get("limit", ""), "fieldSelector": params.get("fieldSelector", ""),
                 "labelSelector": params.get("labelSelector", ""), "time": time.monotonic()}
        if api.failing():
            entry["status"] = "fail-" + api._fail_mode
            api._log(entry)
            if api._fail_mode == "close":
                return self._abort()
            return self._send(503, status_body(503, "ServiceUnavailable", "apiserver is failing"))
        if not self._authorized():
            entry["status"] = 401
            api._log(entry)
            return self._send(401, status_body(401, "Unauthorized", "Unauthorized"))
        if target is None:
            entry["status"] = 404
            api._log(entry)
            return self._send(404, status_body(404, "NotFound", f"no route for {url.path}"))
        resource, namespace = target
        try:
            if not watch:
                code, body = api.handle_list(resource, namespace, params)
                entry["status"] = code
                api._log(entry)
                return self._send(code, body)
            w, problem = api.open_watch(resource, namespace, params)
        except BadRequest as e:
            entry["status"] = 400
            api._log(entry)
            return self._send(400, status_body(400, "BadRequest", str(e)))
        if problem == "gone":
            entry["status"] = 410
            api._log(entry)
            message = api.gone_message(params.get("resourceVersion"))
            if api.gone_as_http_status:
                return self._send(410, status_body(410, "Expired", message))
            return self._stream_gone(message)
        entry["status"] = 200
        api._log(entry)
        try:
            self._stream(w, float(params.get("timeoutSeconds", "0") or 0))
        finally:
            api.close_watch(w)

    def _start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, data: bytes):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _stream_gone(self, message: str):
        self._start_stream()
        self._chunk(json.dumps({"type": "ERROR", "object": json.loads(
            status_body(410, "Expired", message))}).encode() + b"\n")
        self.wfile.write(b"0\r\n\r\n")

    def _stream(self, w: _Watcher, timeout: float):
        self._start_stream()
        deadline = time.monotonic() + timeout if timeout > 0 else None
        try:
            while True:
                wait = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
                if wait <= 0:
                    self.wfile.write(b"0\r\n\r\n")
                    return
                try:
                    item = w.queue.get(timeout=wait)
                except queue.Empty:
                    if self.server_api._stopping.is_set():
                        return self._abort()
                    continue
                batch = []
                while True:
                    if item is _DROP:
                        if batch:
                            self._chunk(b"".join(batch))
                        return self._abort()
                    if item is _END:
                        if batch:
                            self._chunk(b"".join(batch))
                        self.wfile.write(b"0\r\n\r\n")
                        return
                    batch.append(item)
                    if len(batch) >= 256:
                        break
                    try:
                        item = w.queue.get_nowait()
                    except queue.Empty:
                        break
                self._chunk(b"".join(batch))
        except (OSError, ssl.SSLError):
            self.close_connection = True


# ----- certificates -----

def make_certs(directory: str):
    """CA, server (127.0.0.1/localhost) and client certificates, with the openssl CLI."""
    def run(*args):
        subprocess.run(["openssl", *args], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
        "-subj", "/CN=loupe-test-ca")
    with open(os.path.join(directory, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    with open(os.path.join(directory, "client.ext"), "w") as f:
        f.write("extendedKeyUsage=clientAuth\n")
    for name, cn in (("server", "127.0.0.1"), ("client", "loupe-agent")):
        run("req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
            f"/CN={cn}/O=system:nodes")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")


# ----- object helpers (the lab's Kubernetes mode builds its cluster with these) -----

def _hash(text: str, n: int = 10) -> str:
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(alphabet[b % len(alphabet)] for b in digest[:n])


def owner_ref(obj: dict, controller: bool = True) -> dict:
    return {"apiVersion": BY_KIND[obj["kind"]].api_version, "kind": obj["kind"],
            "name": obj["metadata"]["name"], "uid": obj["metadata"]["uid"],
            "controller": controller, "blockOwnerDeletion": True}


def make_namespace(name: str, labels: dict | None = None) -> dict:
    return {"kind": "Namespace", "metadata": {
        "name": name, "labels": {"kubernetes.io/metadata.name": name, **(labels or {})}},
        "status": {"phase": "Active"}}


def make_node(name: str, internal_ip: str, labels: dict | None = None) -> dict:
    return {"kind": "Node", "metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", **(labels or {})}},
        "status": {"addresses": [{"type": "InternalIP", "address": internal_ip},
                                 {"type": "Hostname", "address": name}]}}


def make_workload(kind: str, namespace: str, name: str, labels: dict | None = None,
                  owner: dict | None = None) -> dict:
    """Deployment, ReplicaSet, DaemonSet, StatefulSet, Job or CronJob with a pod template (which
    informers should drop) and an optional controller owner."""
    labels = labels or {"app": name}
    meta = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    template = {"metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "app", "image": "example/app:1"}]}}
    spec = {"selector": {"matchLabels": dict(labels)}, "template": template}
    if kind == "CronJob":
        spec = {"schedule": "*/5 * * * *", "jobTemplate": {"spec": {"template": template}}}
    elif kind == "Job":
        spec = {"template": template}
    return {"kind": kind, "metadata": meta, "spec": spec}


def make_pod(namespace: str, name: str, node: str, pod_ip: str, labels: dict | None = None,
             owner: dict | None = None, host_ip: str = "", containers=None,
             phase: str = "Running", service_account: str = "default",
             host_network: bool = False, annotations: dict | None = None) -> dict:
    """A scheduled, running pod. `containers`: list of (name, container_id) pairs; default one
    container "app" with a containerd id derived from the pod name."""
    if containers is None:
        containers = [("app", "containerd://" + hashlib.sha256(
            f"{namespace}/{name}".encode()).hexdigest())]
    meta = {"name": name, "namespace": namespace, "labels": dict(labels or {})}
    if annotations:
        meta["annotations"] = dict(annotations)
    if owner is not None:
        meta["ownerReferences"] = [owner_ref(owner)]
    return {
        "kind": "Pod", "metadata": meta,
        "spec": {"nodeName": node, "serviceAccountName": service_account,
                 "hostNetwork": host_network,
                 "containers": [{"name": c, "image": "example/app:1"} for c, _ in containers]},
        "status": {"phase": phase, "hostIP": host_ip, "podIP": pod_ip,
                   "podIPs": [{"ip": pod_ip}] if pod_ip else [],
                   "startTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                   "containerStatuses": [{"name": c, "containerID": cid, "ready": True}
                                         for c, cid in containers]},
    }


def make_service(namespace: str, name: str, selector: dict, cluster_ip: str,
                 ports=(("http", 80, "TCP"),), type_: str = "ClusterIP") -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": namespace},
            "spec": {"type": type_, "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "selector": dict(selector),
                     "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}}


def make_endpointslice(namespace: str, service: str, endpoints, ports=(("http", 80, "TCP"),),
                       name: str | None = None) -> dict:
    """`endpoints`: list of (ip, pod_name, node_name)."""
    return {"kind": "EndpointSlice", "addressType": "IPv4",
            "metadata": {"name": name or f"{service}-{_hash(service, 5)}", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": service}},
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}, "nodeName": node,
                           "targetRef": {"kind": "Pod", "namespace": namespace, "name": pod}}
                          for ip, pod, node in endpoints],
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports]}


def create_deployment(api: ApiServer, namespace: str, name: str, pods, labels=None) -> dict:
    """Creates a Deployment, its ReplicaSet (<name>-<hash>) and pods owned by the ReplicaSet.
    `pods`: list of dicts with node, ip and optionally name, host_ip. Returns the created
    objects: {"deployment": ..., "replicaset": ..., "pods": [...]}."""
    labels = labels or {"app": name}
    deployment = api.create(make_workload("Deployment", namespace, name, labels))
    template_hash = _hash(namespace + "/" + name)
    rs_labels = {**labels, "pod-template-hash": template_hash}
    replicaset = api.create(make_workload("ReplicaSet", namespace, f"{name}-{template_hash}",
                                          rs_labels, owner=deployment))
    created = []
    for i, p in enumerate(pods):
        pod_name = p.get("name") or f"{replicaset['metadata']['name']}-{_hash(f'{name}{i}', 5)}"
        created.append(api.create(make_pod(namespace, pod_name, p["node"], p["ip"], rs_labels,
                                           owner=replicaset, host_ip=p.get("host_ip", ""))))
    return {"deployment": deployment, "replicaset": replicaset, "pods": created}


# ----- standalone mode -----

class ControlHandler(http.server.BaseHTTPRequestHandler):
    """Plain-HTTP control API (127.0.0.1 only):
    POST /objects {"op": "create"|"update"|"apply", "object": {...}}
    POST /objects {"op": "delete", "kind": K, "key": "ns/name"}
    POST /deployment {"namespace", "name", "pods": [{"node", "ip", "name"?}], "labels"?}
    POST /drop, /end, /compact, /bookmark, /recover;  POST /fail {"seconds", "mode"?}
    GET /objects/<Kind> → sorted keys;  GET /requests → request log;  GET /state → rv, watchers
    """
    api: ApiServer = None

    def log_message(self, *args):
        pass

    def _reply(self, code, payload):
        body = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        api = self.api
        if self.path.startswith("/objects/"):
            return self._reply(200, api.keys(self.path.split("/")[2]))
        if self.path == "/requests":
            return self._reply(200, api.request_log())
        if self.path == "/state":
            return self._reply(200, {"resourceVersion": api.resource_version,
                                     "watchers": api.watcher_count()})
        self._reply(404, {"error": "unknown path"})

    def do_POST(self):
        api = self.api
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        try:
            if self.path == "/objects":
                op = body.get("op", "apply")
                if op == "delete":
                    return self._reply(200, api.delete(body["kind"], body["key"]))
                return self._reply(200, getattr(api, op)(body["object"]))
            if self.path == "/deployment":
                return self._reply(200, create_deployment(api, body["namespace"], body["name"],
                                                          body["pods"], body.get("labels")))
            if self.path == "/fail":
                api.fail(float(body["seconds"]), body.get("mode", "503"))
                return self._reply(200, {})
            actions = {"/drop": api.drop_watches, "/end": api.end_watches,
                       "/compact": api.compact, "/bookmark": api.bookmark,
                       "/recover": api.recover}
            if self.path in actions:
                actions[self.path]()
                return self._reply(200, {})
        except (KeyError, ValueError, AttributeError) as e:
            return self._reply(400, {"error": str(e)})
        self._reply(404, {"error": "unknown path"})


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--kubeconfig", required=True, help="where to write a kubeconfig")
    parser.add_argument("--auth", choices=["cert", "token"], default="cert")
    parser.add_argument("--control-port", type=int, default=0)
    parser.add_argument("--history", type=int, default=10000)
    parser.add_argument("--bookmark-interval", type=float, default=None)
    args = parser.parse_args(argv)
    api = ApiServer(history_size=args.history, bookmark_interval=args.bookmark_interval,
                    host=args.host, port=args.port).start()
    api.write_kubeconfig(args.kubeconfig, auth=args.auth)

    class Control(ControlHandler):
        pass
    Control.api = api
    control = http.server.ThreadingHTTPServer(("127.0.0.1", args.control_port), Control)
    control.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    print(json.dumps({"ready": True, "port": api.port, "control_port": control.server_address[1],
                      "kubeconfig": args.kubeconfig}), flush=True)
    try:
        control.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        control.server_close()
        api.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
