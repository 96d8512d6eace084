package manifest_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/grpcserver"
)

// TestTerminatingPodsKeepAcceptingUntilRemovedFromEndpoints: when a pod is
// deleted (rollout, HPA scale-down, node drain) the kubelet runs the preStop hook, then
// sends SIGTERM, while the EndpointSlice controller, kube-proxy and ingress controllers
// take the pod out of rotation concurrently, seconds later. New connections keep
// arriving at the pod in between. The binaries close their listeners the moment SIGTERM
// arrives (grpcserver.Server.shutdown: health.Shutdown, then grpc.GracefulStop, which
// closes the listeners first; the gateway's HTTP listener likewise), so the only thing
// that can keep them open for that window is a preStop delay. No Guarantor container
// had one, so every gateway pod that terminated refused the clients the Service still
// sent it.
func TestTerminatingPodsKeepAcceptingUntilRemovedFromEndpoints(t *testing.T) {
	// 1. What the binary does at SIGTERM (SignalContext cancels ctx): the main listener
	// refuses new connections at once, while the health port says NOT_SERVING during the
	// drain (an open stream keeps the drain going, as a watch does).
	srv, err := grpcserver.New(grpcserver.Config{HealthListen: "127.0.0.1:0", ShutdownGrace: 3 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, sigterm := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	<-srv.Ready()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	stream, err := healthpb.NewHealthClient(conn).Watch(context.Background(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	sigterm()
	time.Sleep(200 * time.Millisecond)
	hconn, err := grpc.NewClient(srv.HealthAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer hconn.Close()
	hctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	resp, herr := healthpb.NewHealthClient(hconn).Check(hctx, &healthpb.HealthCheckRequest{})
	c, dialErr := net.DialTimeout("tcp", lis.Addr().String(), time.Second)
	if dialErr == nil {
		c.Close()
	}
	t.Logf("200 ms after SIGTERM: health port says %v (err %v); a new connection to the serving port: %v", resp.GetStatus(), herr, dialErr)
	refusesAtOnce := dialErr != nil
	<-done

	// 2. What the manifests do about it.
	for _, tg := range targets(t) {
		if !tg.deployable {
			continue
		}
		t.Run(tg.name, func(t *testing.T) {
			set := build(t, tg)
			for _, w := range set.Workloads() {
				if w.Kind != "Deployment" {
					continue
				}
				for _, c := range w.Pod.Spec.Containers {
					// The gateway is the one door behind a Service/ingress; the services are
					// reached by the gateway's round_robin over headless DNS, which skips a
					// refused address (not claimed here).
					bin, ok := manifest.Binary(c.Image)
					if !ok || bin != "gateway" {
						continue
					}
					hasDelay := c.Lifecycle != nil && c.Lifecycle.PreStop != nil
					if refusesAtOnce && !hasDelay {
						what := "clients arriving through Service gateway (and an ingress/load balancer)"
						t.Errorf("%s/%s: no preStop delay, and %s refuses %s as soon as SIGTERM arrives, "+
							"before the pod has left the Service's endpoints", w.Name, c.Name, strings.TrimSpace(bin), what)
					}
				}
			}
		})
	}
}
