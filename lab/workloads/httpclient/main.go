// httpclient is the Go net/http client of the Loupe lab: it sends N requests to one URL with C
// concurrent workers and prints one JSON line with the count of each response status.
//
//	httpclient -url http://198.18.0.2/ [-n 10] [-c 1] [-method GET] [-body TEXT] [-h2c]
//	           [-keepalive=true] [-timeout 10s]
//
// Exit status is 0 iff every request got a response (any status). -expect CODE makes it 0 iff
// every response had that status.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

type summary struct {
	Requests  int            `json:"requests"`
	Responses int            `json:"responses"`
	Errors    int            `json:"errors"`
	Statuses  map[string]int `json:"statuses"`
	Bytes     int64          `json:"bytes"`
	Proto     string         `json:"proto,omitempty"`
	LastError string         `json:"last_error,omitempty"`
}

func main() {
	url := flag.String("url", "", "request URL")
	n := flag.Int("n", 1, "number of requests")
	c := flag.Int("c", 1, "concurrent workers")
	method := flag.String("method", "GET", "HTTP method")
	body := flag.String("body", "", "request body")
	contentType := flag.String("content-type", "text/plain", "Content-Type of the body")
	useH2C := flag.Bool("h2c", false, "use cleartext HTTP/2 with prior knowledge")
	keepalive := flag.Bool("keepalive", true, "reuse connections")
	timeout := flag.Duration("timeout", 10*time.Second, "timeout per request")
	expect := flag.Int("expect", 0, "if set, exit 0 only if every response has this status")
	flag.Parse()
	if *url == "" || *n < 1 || *c < 1 {
		fmt.Fprintln(os.Stderr, "usage: httpclient -url URL [-n N] [-c C] [-method M] [-body B] [-h2c]")
		os.Exit(2)
	}

	var transport http.RoundTripper
	if *useH2C {
		transport = &http2.Transport{
			AllowHTTP: true,
			DialTLS: func(network, addr string, _ *tls.Config) (net.Conn, error) {
				return net.Dial(network, addr)
			},
		}
	} else {
		transport = &http.Transport{DisableKeepAlives: !*keepalive, MaxIdleConnsPerHost: *c}
	}
	client := &http.Client{Transport: transport, Timeout: *timeout}

	jobs := make(chan struct{})
	var mu sync.Mutex
	s := summary{Statuses: map[string]int{}}
	var wg sync.WaitGroup
	for w := 0; w < *c; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				var rd io.Reader
				if *body != "" {
					rd = strings.NewReader(*body)
				}
				req, err := http.NewRequestWithContext(context.Background(), *method, *url, rd)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				if *body != "" {
					req.Header.Set("Content-Type", *contentType)
				}
				resp, err := client.Do(req)
				var read int64
				if err == nil {
					read, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				mu.Lock()
				s.Requests++
				if err != nil {
					s.Errors++
					s.LastError = err.Error()
				}
				if resp != nil {
					s.Responses++
					s.Statuses[strconv.Itoa(resp.StatusCode)]++
					s.Proto = resp.Proto
					s.Bytes += read
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < *n; i++ {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()

	out, _ := json.Marshal(s)
	fmt.Println(string(out))
	if s.Errors > 0 {
		os.Exit(1)
	}
	if *expect != 0 && s.Statuses[strconv.Itoa(*expect)] != s.Requests {
		os.Exit(1)
	}
}
