"""gRPC echo server and client on grpcio (gRPC C-core, which writes each HTTP/2 frame as several
iovecs of one sendmsg) for the application-view tests, without generated code: the messages are
raw bytes.
  grpc_echo.py serve PORT
      /lab.PyEcho/Unary echoes the request; /lab.PyEcho/ServerStream sends it back `count` times
      (metadata "count", default 3); metadata "code" > 0 ends either call with that status code.
  grpc_echo.py call HOST:PORT Unary|ServerStream SIZE N [CODE [COUNT]]
      N calls with a SIZE-byte message (ServerStream: COUNT replies each); prints {"calls": N, "codes": {name: count}, "bytes": B}."""
import json
import sys
from concurrent import futures

import grpc


def _code(context) -> int:
    return int(dict(context.invocation_metadata()).get("code", "0"))


def unary(request: bytes, context) -> bytes:
    if _code(context):
        context.abort(_status(_code(context)), "requested")
    return request


def server_stream(request: bytes, context):
    for _ in range(int(dict(context.invocation_metadata()).get("count", "3"))):
        yield request
    if _code(context):
        context.abort(_status(_code(context)), "requested")


def _status(code: int) -> grpc.StatusCode:
    return next(s for s in grpc.StatusCode if s.value[0] == code)


def serve(port: str) -> None:
    handler = grpc.method_handlers_generic_handler("lab.PyEcho", {
        "Unary": grpc.unary_unary_rpc_method_handler(unary),
        "ServerStream": grpc.unary_stream_rpc_method_handler(server_stream),
    })
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    print("serving", flush=True)
    server.wait_for_termination()


def call(addr: str, method: str, size: int, n: int, code: int, count: int) -> None:
    codes: dict[str, int] = {}
    received = 0
    with grpc.insecure_channel(addr) as channel:
        metadata = ((("code", str(code)),) if code else ()) + ((("count", str(count)),)
                                                              if count else ())
        message = b"p" * size
        for _ in range(n):
            try:
                if method == "Unary":
                    received += len(channel.unary_unary("/lab.PyEcho/Unary")(
                        message, metadata=metadata, timeout=30))
                else:
                    for reply in channel.unary_stream("/lab.PyEcho/ServerStream")(
                            message, metadata=metadata, timeout=30):
                        received += len(reply)
                name = "OK"
            except grpc.RpcError as e:
                name = e.code().name
            codes[name] = codes.get(name, 0) + 1
    print(json.dumps({"calls": n, "codes": codes, "bytes": received}))


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        call(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]),
             int(sys.argv[6]) if len(sys.argv) > 6 else 0,
             int(sys.argv[7]) if len(sys.argv) > 7 else 0)
