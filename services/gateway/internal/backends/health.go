package backends

import (
	"context"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// HealthTarget is one backend whose health the gateway reports.
type HealthTarget struct {
	// Backend is the backend's name ("events").
	Backend string
	// Service is the gRPC service name checked at the backend and reported under the
	// same name by the gateway ("guarantor.events.v1.EventsService").
	Service string
	Conn    *grpc.ClientConn
}

// HealthStatus is the last known status of each backend, by backend name.
type HealthStatus interface {
	Status(backend string) healthpb.HealthCheckResponse_ServingStatus
}

// Health polls each backend's health service and mirrors the result in the gateway's
// own health server, so a probe of the gateway for "guarantor.events.v1.EventsService"
// answers for the events service behind it.
type Health struct {
	Targets  []HealthTarget
	Server   *health.Server
	Interval time.Duration
	Timeout  time.Duration
	Log      *zap.Logger

	status statusMap
}

// NewHealth returns a poller; every target starts NOT_SERVING until its first check.
func NewHealth(server *health.Server, targets []HealthTarget, interval time.Duration, log *zap.Logger) *Health {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if log == nil {
		log = zap.NewNop()
	}
	h := &Health{Targets: targets, Server: server, Interval: interval, Timeout: 2 * time.Second, Log: log, status: newStatusMap()}
	for _, t := range targets {
		h.set(t, healthpb.HealthCheckResponse_NOT_SERVING)
	}
	return h
}

// Status implements HealthStatus.
func (h *Health) Status(backend string) healthpb.HealthCheckResponse_ServingStatus {
	return h.status.get(backend)
}

func (h *Health) set(t HealthTarget, st healthpb.HealthCheckResponse_ServingStatus) {
	if prev := h.status.swap(t.Backend, st); prev != st {
		h.Log.Info("backend health changed", zap.String("backend", t.Backend), zap.String("status", st.String()))
	}
	h.Server.SetServingStatus(t.Service, st)
}

// Run checks every backend now and then every Interval until ctx ends.
func (h *Health) Run(ctx context.Context) {
	tick := time.NewTicker(h.Interval)
	defer tick.Stop()
	for {
		for _, t := range h.Targets {
			h.set(t, h.check(ctx, t))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (h *Health) check(ctx context.Context, t HealthTarget) healthpb.HealthCheckResponse_ServingStatus {
	ctx, cancel := context.WithTimeout(ctx, h.Timeout)
	defer cancel()
	resp, err := healthpb.NewHealthClient(t.Conn).Check(ctx, &healthpb.HealthCheckRequest{Service: t.Service})
	if err != nil {
		return healthpb.HealthCheckResponse_NOT_SERVING
	}
	return resp.GetStatus()
}
