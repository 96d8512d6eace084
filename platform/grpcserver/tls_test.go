package grpcserver_test

import (
	"context"
	"crypto/tls"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/grpctest"
)

// TestMutualTLSAndHealthListener runs a server as the services run in production: the
// gRPC listener requires a client certificate from the CA, and a plaintext listener
// serves only health checks, from the same status, for the kubelet's probes.
func TestMutualTLSAndHealthListener(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "services CA")
	other := certtest.NewCA(t, "another CA")
	kp := ca.Server(t, "127.0.0.1")
	client, foreign := ca.Client(t, "gateway"), other.Client(t, "gateway")

	srv, cancel, done := runServer(t, grpcserver.Config{
		Listen:          "127.0.0.1:0",
		HealthListen:    "127.0.0.1:0",
		TLSCertFile:     kp.CertFile,
		TLSKeyFile:      kp.KeyFile,
		TLSClientCAFile: ca.File,
		ShutdownGrace:   10 * time.Second,
	})
	addr, healthAddr := srv.Addr().String(), srv.HealthAddr().String()

	t.Run("main listener", func(t *testing.T) {
		tests := []struct {
			name  string
			creds credentials.TransportCredentials
			ok    bool
		}{
			{"certificate from the CA", credentials.NewTLS(certtest.ClientTLS(t, ca, &client)), true},
			{"no certificate", credentials.NewTLS(certtest.ClientTLS(t, ca, nil)), false},
			{"certificate from another CA", credentials.NewTLS(certtest.ClientTLS(t, ca, &foreign)), false},
			{"plaintext", insecure.NewCredentials(), false},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				conn := grpctest.Dial(t, addr, tt.creds)
				_, err := eventsv1.NewEventsServiceClient(conn).GetEvent(ctxT(t), &eventsv1.GetEventRequest{Name: "events/a"})
				if tt.ok && err != nil {
					t.Fatalf("GetEvent: %v", err)
				}
				if !tt.ok && status.Code(err) != codes.Unavailable {
					t.Fatalf("GetEvent = %v, want UNAVAILABLE (no connection)", err)
				}
			})
		}
	})

	t.Run("handshake without a client certificate", func(t *testing.T) {
		// The refusal is the server's TLS alert, not anything at the gRPC level.
		conn, err := tls.Dial("tcp", addr, certtest.ClientTLS(t, ca, nil))
		if err == nil {
			// With TLS 1.3 the client finishes first; the server's verdict comes next.
			defer conn.Close()
			_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
			_, err = conn.Read(make([]byte, 1))
		}
		if err == nil || !strings.Contains(err.Error(), "certificate required") {
			t.Fatalf("error %v, want the server's \"certificate required\" alert", err)
		}
	})

	health := healthpb.NewHealthClient(grpctest.Dial(t, healthAddr, insecure.NewCredentials()))
	check := func(t *testing.T, service string) healthpb.HealthCheckResponse_ServingStatus {
		t.Helper()
		resp, err := health.Check(ctxT(t), &healthpb.HealthCheckRequest{Service: service})
		if err != nil {
			t.Fatalf("Check(%q) on the health listener: %v", service, err)
		}
		return resp.GetStatus()
	}

	t.Run("health listener", func(t *testing.T) {
		for _, service := range []string{"", eventsService} {
			if got := check(t, service); got != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("Check(%q) = %s, want SERVING", service, got)
			}
		}
		conn := grpctest.Dial(t, healthAddr, insecure.NewCredentials())
		_, err := eventsv1.NewEventsServiceClient(conn).GetEvent(ctxT(t), &eventsv1.GetEventRequest{Name: "events/a"})
		if status.Code(err) != codes.Unimplemented {
			t.Errorf("GetEvent on the health listener = %v, want UNIMPLEMENTED", err)
		}
		if _, err := listServices(t, conn); status.Code(err) != codes.Unimplemented {
			t.Errorf("reflection on the health listener = %v, want UNIMPLEMENTED", err)
		}
	})

	t.Run("health listener follows status changes", func(t *testing.T) {
		srv.Health().SetServingStatus(eventsService, healthpb.HealthCheckResponse_NOT_SERVING)
		if got := check(t, eventsService); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("after SetServingStatus(NOT_SERVING): %s", got)
		}
		srv.Health().SetServingStatus(eventsService, healthpb.HealthCheckResponse_SERVING)
		if got := check(t, eventsService); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("after SetServingStatus(SERVING): %s", got)
		}
	})

	t.Run("NOT_SERVING during shutdown", func(t *testing.T) {
		// A watch keeps the drain going, as long-lived streams do in production.
		watchCtx, stopWatch := context.WithCancel(ctxT(t))
		defer stopWatch()
		conn := grpctest.Dial(t, addr, credentials.NewTLS(certtest.ClientTLS(t, ca, &client)))
		stream, err := eventsv1.NewEventsServiceClient(conn).Watch(watchCtx, &eventsv1.WatchRequest{Name: "events/block"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := stream.Recv(); err != nil {
			t.Fatal(err)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for check(t, "") != healthpb.HealthCheckResponse_NOT_SERVING {
			if time.Now().After(deadline) {
				t.Fatal("the health listener never reported NOT_SERVING after shutdown began")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if got := check(t, eventsService); got != healthpb.HealthCheckResponse_NOT_SERVING {
			t.Errorf("Check(%q) during shutdown = %s, want NOT_SERVING", eventsService, got)
		}
		stopWatch()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return after the last stream ended")
		}
		if _, err := health.Check(ctxT(t), &healthpb.HealthCheckRequest{}); status.Code(err) != codes.Unavailable {
			t.Errorf("Check after shutdown = %v, want UNAVAILABLE (listener closed)", err)
		}
	})
}

// TestTLSStartupErrors: a missing or mismatched file stops New, naming the flags and
// the file.
func TestTLSStartupErrors(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "CA")
	a, b := ca.Server(t, "localhost"), ca.Server(t, "localhost")
	missing := filepath.Join(t.TempDir(), "tls.crt")
	tests := []struct {
		name string
		cfg  grpcserver.Config
		want string
	}{
		{"key without certificate", grpcserver.Config{TLSKeyFile: a.KeyFile}, "both a certificate file and a key file"},
		{"client CA without certificate", grpcserver.Config{TLSClientCAFile: ca.File}, "both a certificate file and a key file"},
		{"missing certificate", grpcserver.Config{TLSCertFile: missing, TLSKeyFile: a.KeyFile}, missing},
		{"key of another certificate", grpcserver.Config{TLSCertFile: a.CertFile, TLSKeyFile: b.KeyFile}, "private key does not match public key"},
		{"missing client CA", grpcserver.Config{TLSCertFile: a.CertFile, TLSKeyFile: a.KeyFile, TLSClientCAFile: missing}, missing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := grpcserver.New(tt.cfg, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "--tls-cert-file") {
				t.Fatalf("New = %v, want an error naming the TLS flags and %q", err, tt.want)
			}
		})
	}
}

// TestHealthListenerTaken: a health address that cannot be bound fails Serve, and the
// main listener is released.
func TestHealthListenerTaken(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	srv, err := grpcserver.New(grpcserver.Config{HealthListen: taken.Addr().String()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(context.Background(), lis); err == nil || !strings.Contains(err.Error(), "health checks") {
		t.Fatalf("Serve = %v, want the health listener's error", err)
	}
	if c, err := net.Dial("tcp", lis.Addr().String()); err == nil {
		c.Close()
		t.Error("the main listener is still open")
	}
}
