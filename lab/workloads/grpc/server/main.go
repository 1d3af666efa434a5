// grpcserver is the Go gRPC server of the Loupe lab. It serves:
//
//   - grpc.health.v1.Health (overall status "" and "loupe.lab.echo.Echo" are SERVING),
//   - loupe.lab.echo.Echo (see ../echopb/echo.proto): every call ends with the status code the
//     request asks for, after sending the requested number of responses,
//   - server reflection, so generic tools can list the services.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"loupelab/grpc/echopb"
)

type echoServer struct {
	quiet bool
}

func (s *echoServer) logf(format string, args ...interface{}) {
	if !s.quiet {
		log.Printf(format, args...)
	}
}

// finish turns the requested status into the call's error (nil for OK).
func finish(req *echopb.EchoRequest) error {
	if req.GetStatusCode() == 0 {
		return nil
	}
	msg := req.GetStatusMessage()
	if msg == "" {
		msg = fmt.Sprintf("requested status %d", req.GetStatusCode())
	}
	return status.Error(codes.Code(req.GetStatusCode()), msg)
}

func pause(ctx context.Context, req *echopb.EchoRequest) error {
	if req.GetSleepMs() <= 0 {
		return nil
	}
	select {
	case <-time.After(time.Duration(req.GetSleepMs()) * time.Millisecond):
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func count(req *echopb.EchoRequest) int32 {
	if req.GetCount() <= 0 {
		return 1
	}
	return req.GetCount()
}

func (s *echoServer) Unary(ctx context.Context, req *echopb.EchoRequest) (*echopb.EchoResponse, error) {
	s.logf("Unary message=%q code=%d", req.GetMessage(), req.GetStatusCode())
	if err := pause(ctx, req); err != nil {
		return nil, err
	}
	if err := finish(req); err != nil {
		return nil, err
	}
	return &echopb.EchoResponse{Message: req.GetMessage()}, nil
}

func (s *echoServer) ServerStream(req *echopb.EchoRequest, stream echopb.Echo_ServerStreamServer) error {
	s.logf("ServerStream message=%q count=%d code=%d", req.GetMessage(), count(req), req.GetStatusCode())
	for i := int32(0); i < count(req); i++ {
		if err := pause(stream.Context(), req); err != nil {
			return err
		}
		if err := stream.Send(&echopb.EchoResponse{Message: req.GetMessage(), Index: i}); err != nil {
			return err
		}
	}
	return finish(req)
}

func (s *echoServer) ClientStream(stream echopb.Echo_ClientStreamServer) error {
	var last *echopb.EchoRequest
	var n int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		last, n = req, n+1
	}
	s.logf("ClientStream received=%d", n)
	if last == nil {
		return stream.SendAndClose(&echopb.EchoResponse{Index: 0})
	}
	if err := finish(last); err != nil {
		return err
	}
	return stream.SendAndClose(&echopb.EchoResponse{Message: last.GetMessage(), Index: n})
}

func (s *echoServer) BidiStream(stream echopb.Echo_BidiStreamServer) error {
	var index int32
	for {
		req, err := stream.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		s.logf("BidiStream message=%q count=%d code=%d", req.GetMessage(), count(req), req.GetStatusCode())
		if err := pause(stream.Context(), req); err != nil {
			return err
		}
		for i := int32(0); i < count(req); i++ {
			if err := stream.Send(&echopb.EchoResponse{Message: req.GetMessage(), Index: index}); err != nil {
				return err
			}
			index++
		}
		if err := finish(req); err != nil {
			return err
		}
	}
}

func main() {
	addr := flag.String("addr", "", "listen address host:port (overrides -port)")
	port := flag.Int("port", 50051, "listen port on all addresses")
	quiet := flag.Bool("quiet", false, "do not log every call")
	flag.Parse()

	listen := *addr
	if listen == "" {
		listen = net.JoinHostPort("", strconv.Itoa(*port))
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		log.Fatalf("listen %s: %v", listen, err)
	}

	srv := grpc.NewServer()
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("loupe.lab.echo.Echo", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	echopb.RegisterEchoServer(srv, &echoServer{quiet: *quiet})
	reflection.Register(srv)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		hs.Shutdown()
		srv.Stop()
	}()

	log.Printf("grpcserver listening on %s", ln.Addr())
	if err := srv.Serve(ln); err != nil {
		log.Fatalf("serve: %v", err)
	}
}
