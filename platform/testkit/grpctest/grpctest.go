// Package grpctest serves a real grpcserver.Server (all platform interceptors)
// on a loopback port for a test and returns a client connection to it, and dials
// servers a test started otherwise.
package grpctest

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/guarantor/guarantor/platform/grpcserver"
)

// Start serves srv on 127.0.0.1:0 (a real TCP port, so peers, keepalive and
// message limits behave as in production) and returns a client connection.
// Register services on srv before calling Start. Cleanup closes the
// connection, then stops the server and fails the test if Serve returned an
// error.
func Start(t testing.TB, srv *grpcserver.Server, dialOpts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("grpctest: listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, lis) }()

	select {
	case <-srv.Ready():
	case err := <-served:
		cancel()
		t.Fatalf("grpctest: server did not start: %v", err)
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("grpctest: server not ready after 10s")
	}

	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, dialOpts...)
	conn, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		cancel()
		if serveErr := <-served; serveErr != nil {
			t.Logf("grpctest: serve: %v", serveErr)
		}
		t.Fatalf("grpctest: dial %s: %v", lis.Addr(), err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-served; err != nil {
			t.Errorf("grpctest: Serve: %v", err)
		}
	})
	return conn
}

// Dial returns a client connection to addr with creds (e.g. TLS to a server that
// requires it), closed in Cleanup.
func Dial(t testing.TB, addr string, creds credentials.TransportCredentials) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatalf("grpctest: dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// Router is a client connection that sends each call to the service that owns it by
// the method's package prefix, standing in for the gateway in front of several
// services: Routes maps a prefix such as "/guarantor.events." to the service's
// connection, and Default takes the rest.
type Router struct {
	Routes  map[string]grpc.ClientConnInterface
	Default grpc.ClientConnInterface
}

func (r Router) pick(method string) grpc.ClientConnInterface {
	for prefix, conn := range r.Routes {
		if strings.HasPrefix(method, prefix) {
			return conn
		}
	}
	return r.Default
}

// Invoke implements grpc.ClientConnInterface.
func (r Router) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return r.pick(method).Invoke(ctx, method, args, reply, opts...)
}

// NewStream implements grpc.ClientConnInterface.
func (r Router) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return r.pick(method).NewStream(ctx, desc, method, opts...)
}
