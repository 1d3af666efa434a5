"""A test OTLP receiver: gRPC (grpcio) and HTTP/protobuf (http.server) on loopback, built from
the Python stubs generated out of the official OpenTelemetry protos (OTLP_PROTO_PY).

It stores every request it accepts, and can be told to answer slowly or with errors, or be
stopped and started again on the same ports.
"""

import os
import sys
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.environ.get("OTLP_PROTO_PY", ""))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from ports import free_port  # noqa: E402

import grpc  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import (  # noqa: E402
    metrics_service_pb2,
    metrics_service_pb2_grpc,
)
from opentelemetry.proto.collector.trace.v1 import (  # noqa: E402
    trace_service_pb2,
    trace_service_pb2_grpc,
)


class Behaviour:
    """How the receiver answers: delay in seconds, then an error (HTTP status / gRPC code name)
    or success."""

    def __init__(self):
        self.delay = 0.0
        self.http_error = 0
        self.grpc_error = None


class Receiver:
    def __init__(self):
        self.grpc_port = free_port()
        self.http_port = free_port()
        self.behaviour = Behaviour()
        self.lock = threading.Lock()
        self.traces = []  # (arrival time, ExportTraceServiceRequest, metadata dict)
        self.metrics = []
        self.attempts = 0
        self._grpc = None
        self._http = None
        self._http_thread = None

    # Endpoints as the driver takes them.
    @property
    def grpc_endpoint(self):
        return f"http://127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self):
        return f"http://127.0.0.1:{self.http_port}"

    def _admit(self):
        """Applies the behaviour; False when this request is to be answered with an error."""
        with self.lock:
            self.attempts += 1
        if self.behaviour.delay:
            time.sleep(self.behaviour.delay)
        return not (self.behaviour.http_error or self.behaviour.grpc_error)

    def _store(self, kind, request, metadata):
        with self.lock:
            (self.traces if kind == "traces" else self.metrics).append(
                (time.time(), request, metadata))

    def _answer(self, kind, request, metadata):
        if not self._admit():
            return False
        self._store(kind, request, metadata)
        return True

    def start(self):
        receiver = self

        class TraceService(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request, context):
                ok = receiver._answer("traces", request, dict(context.invocation_metadata()))
                if not ok:
                    context.abort(getattr(grpc.StatusCode, receiver.behaviour.grpc_error or
                                          "UNAVAILABLE"), "test receiver error")
                return trace_service_pb2.ExportTraceServiceResponse()

        class MetricsService(metrics_service_pb2_grpc.MetricsServiceServicer):
            def Export(self, request, context):
                ok = receiver._answer("metrics", request, dict(context.invocation_metadata()))
                if not ok:
                    context.abort(getattr(grpc.StatusCode, receiver.behaviour.grpc_error or
                                          "UNAVAILABLE"), "test receiver error")
                return metrics_service_pb2.ExportMetricsServiceResponse()

        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(TraceService(), server)
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(MetricsService(), server)
        server.add_insecure_port(f"127.0.0.1:{self.grpc_port}")
        server.start()
        self._grpc = server

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                if self.path == "/v1/traces":
                    request = trace_service_pb2.ExportTraceServiceRequest()
                    response = trace_service_pb2.ExportTraceServiceResponse()
                    kind = "traces"
                elif self.path == "/v1/metrics":
                    request = metrics_service_pb2.ExportMetricsServiceRequest()
                    response = metrics_service_pb2.ExportMetricsServiceResponse()
                    kind = "metrics"
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                if self.headers.get("Content-Type") != "application/x-protobuf":
                    self.send_response(415)
                    self.end_headers()
                    return
                try:
                    if not receiver._admit():
                        self.send_response(receiver.behaviour.http_error or 503)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    request.ParseFromString(body)
                    receiver._store(kind, request, {k.lower(): v for k, v in self.headers.items()})
                    payload = response.SerializeToString()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-protobuf")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting (timeout): as a real collector sees it

        ThreadingHTTPServer.allow_reuse_address = True
        self._http = ThreadingHTTPServer(("127.0.0.1", self.http_port), Handler)
        self._http.daemon_threads = True
        self._http_thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._http_thread.start()
        return self

    def stop(self):
        if self._grpc is not None:
            self._grpc.stop(0).wait()
            self._grpc = None
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    # Views of what arrived.
    def spans(self):
        """Every received span as (resource attributes dict, scope, span)."""
        out = []
        with self.lock:
            requests = list(self.traces)
        for _, request, _ in requests:
            for rs in request.resource_spans:
                resource = {kv.key: any_value(kv.value) for kv in rs.resource.attributes}
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((resource, ss.scope, span))
        return out

    def span_arrivals(self):
        out = []
        with self.lock:
            requests = list(self.traces)
        for arrival, request, _ in requests:
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        out.append((arrival, span))
        return out


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    return getattr(v, kind)


def attributes(kvs):
    return {kv.key: any_value(kv.value) for kv in kvs}
