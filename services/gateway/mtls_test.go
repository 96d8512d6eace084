package gateway_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/testkit/certtest"
	"github.com/guarantor/guarantor/platform/testkit/grpctest"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/gateway"
)

// TestMutualTLSToServices runs the production shape: the services require a client
// certificate from the internal CA, the gateway presents its own to them and serves TLS
// to its clients, and every process answers plaintext health checks on a listener of
// its own, as the kubelet's probes need.
func TestMutualTLSToServices(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "guarantor internal CA")
	serverCerts := map[string]certtest.KeyPair{"events": ca.Server(t, "127.0.0.1"), "guarantees": ca.Server(t, "127.0.0.1")}
	gatewayServer, gatewayClient := ca.Server(t, "127.0.0.1"), ca.Client(t, "gateway")
	harnessClient := ca.Client(t, "test harness")
	s := startStack(t, stackOptions{
		serviceGRPC: func(service string, c *grpcserver.Config) {
			c.TLSCertFile, c.TLSKeyFile = serverCerts[service].CertFile, serverCerts[service].KeyFile
			c.TLSClientCAFile = ca.File
			c.HealthListen = "127.0.0.1:0"
		},
		serviceDial: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(certtest.ClientTLS(t, ca, &harnessClient)))},
		tune: func(c *gateway.Config) {
			c.BackendCAFile, c.BackendCertFile, c.BackendKeyFile = ca.File, gatewayClient.CertFile, gatewayClient.KeyFile
			c.GRPC.TLSCertFile, c.GRPC.TLSKeyFile = gatewayServer.CertFile, gatewayServer.KeyFile
			c.GRPC.HealthListen = "127.0.0.1:0"
		},
		dial: []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(certtest.ClientTLS(t, ca, nil)))},
	})

	t.Run("calls through the gateway", func(t *testing.T) {
		ctx := s.ctxAs(editor)
		ev := eventsv1.NewEventsServiceClient(s.conn)
		if _, err := ev.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: "fra", Actor: state("FRA", "France")}); err != nil {
			t.Fatalf("CreateActor: %v", err)
		}
		if _, err := ev.GetActor(ctx, &eventsv1.GetActorRequest{Name: "actors/fra"}); err != nil {
			t.Fatalf("GetActor: %v", err)
		}
		gu := guaranteesv1.NewGuaranteesServiceClient(s.conn)
		if _, err := gu.CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: framework()}); err != nil {
			t.Fatalf("CreateFramework: %v", err)
		}
	})

	t.Run("the gateway's health checks of the services", func(t *testing.T) {
		deadline := time.Now().Add(10 * time.Second)
		for _, backend := range []string{"events", "guarantees"} {
			for s.gw.BackendStatus(backend) != healthpb.HealthCheckResponse_SERVING {
				if time.Now().After(deadline) {
					t.Fatalf("backend %s is %s, want SERVING", backend, s.gw.BackendStatus(backend))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
	})

	t.Run("straight to a service", func(t *testing.T) {
		other := certtest.NewCA(t, "another CA")
		foreign := other.Client(t, "intruder")
		tests := []struct {
			name  string
			creds credentials.TransportCredentials
			as    bool // with a signed caller identity
			want  codes.Code
		}{
			{"no client certificate", credentials.NewTLS(certtest.ClientTLS(t, ca, nil)), true, codes.Unavailable},
			{"client certificate from another CA", credentials.NewTLS(certtest.ClientTLS(t, ca, &foreign)), true, codes.Unavailable},
			{"plaintext", insecure.NewCredentials(), true, codes.Unavailable},
			// mTLS admits the connection; the caller identity is still required.
			{"client certificate, no identity", credentials.NewTLS(certtest.ClientTLS(t, ca, &harnessClient)), false, codes.Unauthenticated},
			{"client certificate and identity", credentials.NewTLS(certtest.ClientTLS(t, ca, &harnessClient)), true, codes.OK},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if tt.as {
					ctx = s.events.As(ctx, servicetest.Viewer)
				}
				_, err := eventsv1.NewEventsServiceClient(grpctest.Dial(t, s.events.Server.Addr(), tt.creds)).
					ListActors(ctx, &eventsv1.ListActorsRequest{})
				wantCode(t, err, tt.want)
				_, err = guaranteesv1.NewGuaranteesServiceClient(grpctest.Dial(t, s.guarantees.Server.Addr(), tt.creds)).
					ListFrameworks(ctx, &guaranteesv1.ListFrameworksRequest{})
				wantCode(t, err, tt.want)
			})
		}
	})

	t.Run("plaintext health listeners", func(t *testing.T) {
		checks := []struct {
			name, addr, service string
		}{
			{"events", s.events.Server.GRPC.HealthAddr().String(), eventsv1.EventsService_ServiceDesc.ServiceName},
			{"guarantees", s.guarantees.Server.GRPC.HealthAddr().String(), guaranteesv1.GuaranteesService_ServiceDesc.ServiceName},
			{"gateway", s.gw.GRPC.HealthAddr().String(), ""},
		}
		for _, c := range checks {
			hc := healthpb.NewHealthClient(grpctest.Dial(t, c.addr, insecure.NewCredentials()))
			resp, err := hc.Check(s.ctxAs(""), &healthpb.HealthCheckRequest{Service: c.service})
			if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
				t.Errorf("%s: Check(%q) = %v, %v; want SERVING", c.name, c.service, resp.GetStatus(), err)
			}
		}
	})

	t.Run("HTTPS with the gRPC listener's certificate", func(t *testing.T) {
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: certtest.ClientTLS(t, ca, nil)}, Timeout: 10 * time.Second}
		resp, err := client.Get(s.httpURL + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.TLS == nil {
			t.Fatalf("/healthz = %d (TLS %v), want 200 over TLS", resp.StatusCode, resp.TLS != nil)
		}
	})
}
