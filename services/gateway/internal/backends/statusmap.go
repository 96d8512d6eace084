package backends

import (
	"sync"

	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// statusMap is the last status seen per backend, read by /healthz and the dossier.
type statusMap struct {
	mu sync.Mutex
	m  map[string]healthpb.HealthCheckResponse_ServingStatus
}

func newStatusMap() statusMap {
	return statusMap{m: map[string]healthpb.HealthCheckResponse_ServingStatus{}}
}

func (s *statusMap) get(k string) healthpb.HealthCheckResponse_ServingStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.m[k]
	if !ok {
		return healthpb.HealthCheckResponse_SERVICE_UNKNOWN
	}
	return st
}

func (s *statusMap) swap(k string, st healthpb.HealthCheckResponse_ServingStatus) healthpb.HealthCheckResponse_ServingStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	prev := s.m[k]
	s.m[k] = st
	return prev
}
