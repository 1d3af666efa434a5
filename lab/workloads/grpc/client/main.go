// grpcclient is the Go gRPC client of the Loupe lab.
//
//	grpcclient health  -addr HOST:PORT [-service NAME]        exit 0 iff the status is SERVING
//	grpcclient unary   -addr HOST:PORT [-n N] [-message M] [-code C] [-sleep-ms MS]
//	grpcclient sstream -addr HOST:PORT [-n N] [-count K] [-code C]   server streaming
//	grpcclient cstream -addr HOST:PORT [-n N] [-count K] [-code C]   client streaming
//	grpcclient bidi    -addr HOST:PORT [-n N] [-count K] [-code C]   bidirectional streaming
//
// All calls of one invocation share one connection. The client prints one JSON line with the
// number of calls, responses and the final status code of each call (by name), and exits 0 iff
// every call ended with the expected code (-expect, default: the requested -code).
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"loupelab/grpc/echopb"
)

type summary struct {
	Method    string         `json:"method"`
	Calls     int            `json:"calls"`
	Responses int            `json:"responses"`
	Codes     map[string]int `json:"codes"`
	Status    string         `json:"status,omitempty"`
	Error     string         `json:"error,omitempty"`
}

func usage() {
	fmt.Fprintf(os.Stderr, "usage: grpcclient {health|unary|sstream|cstream|bidi} -addr HOST:PORT [flags]\n")
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd := os.Args[1]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	addr := fs.String("addr", "", "server address host:port")
	service := fs.String("service", "", "health: service name to check")
	n := fs.Int("n", 1, "number of calls")
	message := fs.String("message", "hello", "message to echo")
	code := fs.Int("code", 0, "gRPC status code the server should end each call with")
	expect := fs.Int("expect", -1, "expected final status code (default: -code)")
	count := fs.Int("count", 3, "messages per stream")
	sleepMs := fs.Int("sleep-ms", 0, "server-side delay per request")
	timeout := fs.Duration("timeout", 10*time.Second, "deadline per call (and for connecting)")
	fs.Parse(os.Args[2:])
	if *addr == "" {
		usage()
	}
	if *expect < 0 {
		*expect = *code
	}

	dialCtx, cancel := context.WithTimeout(context.Background(), *timeout)
	conn, err := grpc.DialContext(dialCtx, *addr, grpc.WithInsecure(), grpc.WithBlock())
	cancel()
	if err != nil {
		emit(summary{Method: cmd, Error: "connect: " + err.Error()})
		os.Exit(1)
	}
	defer conn.Close()

	if cmd == "health" {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: *service})
		s := summary{Method: "/grpc.health.v1.Health/Check", Calls: 1, Codes: map[string]int{}}
		s.Codes[status.Code(err).String()]++
		if err != nil {
			s.Error = err.Error()
			emit(s)
			os.Exit(1)
		}
		s.Responses, s.Status = 1, resp.GetStatus().String()
		emit(s)
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			os.Exit(1)
		}
		return
	}

	client := echopb.NewEchoClient(conn)
	req := &echopb.EchoRequest{Message: *message, StatusCode: int32(*code), Count: int32(*count),
		SleepMs: int32(*sleepMs)}
	var call func(ctx context.Context) (int, error)
	var method string
	switch cmd {
	case "unary":
		method = "/loupe.lab.echo.Echo/Unary"
		call = func(ctx context.Context) (int, error) {
			_, err := client.Unary(ctx, req)
			if err != nil {
				return 0, err
			}
			return 1, nil
		}
	case "sstream":
		method = "/loupe.lab.echo.Echo/ServerStream"
		call = func(ctx context.Context) (int, error) {
			stream, err := client.ServerStream(ctx, req)
			if err != nil {
				return 0, err
			}
			return drain(stream.Recv)
		}
	case "cstream":
		method = "/loupe.lab.echo.Echo/ClientStream"
		call = func(ctx context.Context) (int, error) {
			stream, err := client.ClientStream(ctx)
			if err != nil {
				return 0, err
			}
			for i := 0; i < *count; i++ {
				if err := stream.Send(req); err != nil {
					break // the real error comes from CloseAndRecv
				}
			}
			if _, err := stream.CloseAndRecv(); err != nil {
				return 0, err
			}
			return 1, nil
		}
	case "bidi":
		method = "/loupe.lab.echo.Echo/BidiStream"
		call = func(ctx context.Context) (int, error) {
			stream, err := client.BidiStream(ctx)
			if err != nil {
				return 0, err
			}
			// Each request asks for one response; only the last one carries the status code,
			// so the stream carries -count responses and then ends with -code.
			for i := 0; i < *count; i++ {
				one := *req
				one.Count = 1
				if i < *count-1 {
					one.StatusCode = 0
				}
				if err := stream.Send(&one); err != nil {
					break
				}
			}
			stream.CloseSend()
			return drain(stream.Recv)
		}
	default:
		usage()
	}

	s := summary{Method: method, Codes: map[string]int{}}
	allExpected := true
	for i := 0; i < *n; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		got, err := call(ctx)
		cancel()
		c := status.Code(err)
		s.Calls++
		s.Responses += got
		s.Codes[c.String()]++
		if c != codes.Code(*expect) {
			allExpected = false
			if err != nil {
				s.Error = err.Error()
			} else {
				s.Error = fmt.Sprintf("call ended with OK, expected %s", codes.Code(*expect))
			}
		}
	}
	emit(s)
	if !allExpected {
		os.Exit(1)
	}
}

func drain(recv func() (*echopb.EchoResponse, error)) (int, error) {
	got := 0
	for {
		_, err := recv()
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got++
	}
}

func emit(s summary) {
	out, _ := json.Marshal(s)
	fmt.Println(string(out))
}
