// JDK com.sun.net.httpserver server for the application-view tests: GET / -> "java ok",
// /status/<code> -> that status with "status <code>\n", POST /echo echoes the body, /count ->
// responses finished so far (not counting /count itself). Usage: java Server.java PORT
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;

public class Server {
  private static final AtomicLong finished = new AtomicLong();

  public static void main(String[] args) throws IOException {
    // Headers and body go out in two writes; without TCP_NODELAY the second waits for the
    // client's delayed ACK (40 ms per request). Read when the server is created.
    System.setProperty("sun.net.httpserver.nodelay", "true");
    int port = Integer.parseInt(args[0]);
    HttpServer server = HttpServer.create(new InetSocketAddress("0.0.0.0", port), 128);
    server.createContext("/", Server::handle);
    server.setExecutor(Executors.newFixedThreadPool(4));
    server.start();
    System.out.println("java listening on " + port);
  }

  private static void handle(HttpExchange ex) throws IOException {
    byte[] request = ex.getRequestBody().readAllBytes();
    String path = ex.getRequestURI().getPath();
    int status = 404;
    byte[] body = "not found\n".getBytes(StandardCharsets.UTF_8);
    boolean counted = true;
    if (path.equals("/count")) {
      status = 200;
      body = (finished.get() + "\n").getBytes(StandardCharsets.UTF_8);
      counted = false;
    } else if (path.equals("/")) {
      status = 200;
      body = "java ok\n".getBytes(StandardCharsets.UTF_8);
    } else if (path.startsWith("/status/")) {
      try {
        status = Integer.parseInt(path.substring("/status/".length()));
      } catch (NumberFormatException e) {
        status = 400;
      }
      body = ("status " + status + "\n").getBytes(StandardCharsets.UTF_8);
    } else if (path.equals("/echo") && ex.getRequestMethod().equals("POST")) {
      status = 200;
      body = request;
    }
    ex.getResponseHeaders().set("Content-Type", "text/plain");
    if (status == 204 || status == 304) {
      ex.sendResponseHeaders(status, -1);
    } else {
      ex.sendResponseHeaders(status, body.length);
      try (OutputStream out = ex.getResponseBody()) {
        out.write(body);
      }
    }
    ex.close();
    if (counted) finished.incrementAndGet();
  }
}
