package backends

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
)

// countingHealth answers every health check and counts them.
type countingHealth struct {
	healthpb.UnimplementedHealthServer
	calls atomic.Int32
}

func (h *countingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	h.calls.Add(1)
	return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
}

// TestDialBalancesOverReplicas: when a backend's name resolves to several replicas (a
// headless Kubernetes Service does), the gateway's calls go to all of them, not to the
// one a single connection happened to reach.
func TestDialBalancesOverReplicas(t *testing.T) {
	t.Parallel()
	var replicas []*countingHealth
	var addrs []resolver.Address
	for range 3 {
		lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		h := &countingHealth{}
		healthpb.RegisterHealthServer(srv, h)
		go func() { _ = srv.Serve(lis) }()
		t.Cleanup(srv.Stop)
		replicas = append(replicas, h)
		addrs = append(addrs, resolver.Address{Addr: lis.Addr().String()})
	}
	// A resolver standing in for DNS: the backend's name gives the three addresses.
	r := manual.NewBuilderWithScheme("replicas")
	r.InitialState(resolver.State{Addresses: addrs})
	resolver.Register(r)

	conn, err := Dial("replicas:///events", DialConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	check := func() {
		t.Helper()
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(true)); err != nil {
			t.Fatal(err)
		}
	}
	// The balancer connects to every replica at once; until all are connected, calls
	// go to those that are. Without balancing, one replica takes every call forever.
	reached := func() bool {
		for _, h := range replicas {
			if h.calls.Load() == 0 {
				return false
			}
		}
		return true
	}
	for !reached() {
		if ctx.Err() != nil {
			for i, h := range replicas {
				t.Logf("replica %d: %d calls", i, h.calls.Load())
			}
			t.Fatal("some replica took no call in 10s")
		}
		check()
	}
	for _, h := range replicas {
		h.calls.Store(0)
	}
	const calls = 30
	for range calls {
		check()
	}
	for i, h := range replicas {
		if n := int(h.calls.Load()); n < calls/len(replicas)/2 {
			t.Errorf("replica %d took %d of %d calls", i, n, calls)
		}
	}
}
