// gohttp is the Go net/http server of the Loupe lab.
//
// Routes (all answers are deterministic so tests can assert exact bodies):
//
//	GET  /                  200 "gohttp ok\n"
//	ANY  /status/{code}     responds with that status code and body "status {code}\n"
//	POST /echo              200 with the request body echoed back (same Content-Type)
//	GET  /sleep?ms=N        sleeps N milliseconds, then 200 "slept N\n"
//	GET  /bytes?n=N         200 with N bytes of 'x' (Content-Length set)
//	GET  /healthz           200 "ok\n"
//
// With -h2c the same port also accepts cleartext HTTP/2 (prior knowledge and Upgrade: h2c).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/h2c"
)

func main() {
	addr := flag.String("addr", "", "listen address host:port (overrides -port)")
	port := flag.Int("port", 8080, "listen port on all addresses")
	enableH2C := flag.Bool("h2c", false, "also serve cleartext HTTP/2 (h2c) on the same port")
	quiet := flag.Bool("quiet", false, "do not log every request")
	flag.Parse()

	listen := *addr
	if listen == "" {
		listen = net.JoinHostPort("", strconv.Itoa(*port))
	}

	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		writeText(w, http.StatusOK, "gohttp ok\n")
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil || code < 100 || code > 999 {
			writeText(w, http.StatusBadRequest, "bad status code\n")
			return
		}
		io.Copy(io.Discard, r.Body)
		writeText(w, code, fmt.Sprintf("status %d\n", code))
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeText(w, http.StatusBadRequest, "read error\n")
			return
		}
		ct := r.Header.Get("Content-Type")
		if ct == "" {
			ct = "application/octet-stream"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body)
	})
	mux.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 {
			writeText(w, http.StatusBadRequest, "ms must be a non-negative integer\n")
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		writeText(w, http.StatusOK, fmt.Sprintf("slept %d\n", ms))
	})
	mux.HandleFunc("/bytes", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("n"))
		if err != nil || n < 0 || n > 64<<20 {
			writeText(w, http.StatusBadRequest, "n must be in [0, 64MiB]\n")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Content-Length", strconv.Itoa(n))
		w.WriteHeader(http.StatusOK)
		w.Write(bytes.Repeat([]byte{'x'}, n))
	})

	var handler http.Handler = mux
	if !*quiet {
		handler = logRequests(handler)
	}
	if *enableH2C {
		handler = h2c.NewHandler(handler, &http2.Server{})
	}

	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatalf("listen %s: %v", listen, err)
	}
	log.Printf("gohttp listening on %s (h2c=%v)", ln.Addr(), *enableH2C)
	srv := &http.Server{Handler: handler}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		srv.Close()
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		log.Fatalf("serve: %v", err)
	}
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(code)
	io.WriteString(w, body)
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		start := time.Now()
		next.ServeHTTP(rec, r)
		log.Printf("%s %s %s %s -> %d (%s)", r.RemoteAddr, r.Proto, r.Method, r.URL.RequestURI(), rec.code,
			time.Since(start))
	})
}
