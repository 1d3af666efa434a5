"""python3 http.server (ThreadingHTTPServer, HTTP/1.1 keep-alive) for the application-view tests:
GET / -> "python ok", /status/<code> -> that status with "status <code>\\n", POST /echo echoes the
body, /count -> responses finished so far (not counting /count itself). Usage: server.py PORT"""
import http.server
import sys
import threading

finished = 0
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; without TCP_NODELAY the second waits for the
    # client's delayed ACK (40 ms per request).
    disable_nagle_algorithm = True

    def log_message(self, *args):
        pass

    def reply(self, status: int, body: bytes, count: bool = True) -> None:
        global finished
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()
        if count:
            with lock:
                finished += 1

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/count":
            self.reply(200, f"{finished}\n".encode(), count=False)
        elif path == "/":
            self.reply(200, b"python ok\n")
        elif path.startswith("/status/"):
            code = path[len("/status/"):]
            status = int(code) if code.isdigit() else 400
            self.reply(status, f"status {status}\n".encode())
        else:
            self.reply(404, b"not found\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.split("?")[0] == "/echo":
            self.reply(200, body)
        else:
            self.reply(404, b"not found\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # Load generators (wrk) reset their connections when they stop: not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            super().handle_error(request, client_address)


if __name__ == "__main__":
    server = Server(("0.0.0.0", int(sys.argv[1])), Handler)
    print(f"python listening on {sys.argv[1]}", flush=True)
    server.serve_forever()
