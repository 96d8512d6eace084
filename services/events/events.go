// Package events is the events service's entry point: it owns events and the actors in
// them. New assembles the service on the platform (database, change log, outbox relay to
// JetStream, gRPC); the dev stack and the tests start it in-process, cmd/events as a
// binary.
package events

import (
	"context"

	"go.uber.org/zap"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/tracing"
	"github.com/guarantor/guarantor/services/events/internal/domain"
	"github.com/guarantor/guarantor/services/events/internal/grpcapi"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// Names of the service's stream and subjects. Every change is published on
// `guarantor.events.v1.<collection>.<kind>`, e.g. guarantor.events.v1.events.created.
const (
	Stream        = "GUARANTOR_EVENTS"
	SubjectPrefix = "guarantor.events.v1"
)

// Defaults are the documented defaults of the service's flags.
var Defaults = service.Config{
	GRPC:           grpcserver.Config{Listen: "127.0.0.1:9091", MetricsListen: "127.0.0.1:9191"},
	StoreDSN:       "sqlite://data/events.db",
	NATSURL:        "nats://127.0.0.1:4333",
	Stream:         Stream,
	StreamReplicas: 1,
	Retention:      retention.Default,
	Tracing:        tracing.Defaults,
}

// RegisterFlags registers the service's flags; call the result after parsing.
func RegisterFlags(fs *config.FlagSet) func() service.Config {
	return service.RegisterFlags(fs, Defaults)
}

// Server is a running events service.
type Server struct {
	*service.Process
	// API is the gRPC implementation, exposed for tests that tune bookmarks.
	API *grpcapi.Server
}

// New assembles the service. Run it with Run; Close it afterwards.
func New(ctx context.Context, cfg service.Config, log *zap.Logger) (*Server, error) {
	s := &Server{}
	p, err := service.New(ctx, cfg, service.Spec{
		Name:          "events",
		HealthService: eventsv1.EventsService_ServiceDesc.ServiceName,
		Subjects:      []string{SubjectPrefix + ".>"},
		Migrate:       store.Migrate,
		Register: func(p *service.Process) error {
			rs, err := NewStore(p.DB, p)
			if err != nil {
				return err
			}
			s.API = grpcapi.New(domain.NewService(rs), p.Notifier)
			p.GRPC.RegisterService(&eventsv1.EventsService_ServiceDesc, s.API)
			return nil
		},
	}, log)
	if err != nil {
		return nil, err
	}
	s.Process = p
	return s, nil
}

// NewStore returns the resource store over an opened, migrated database.
func NewStore(db *sqldb.DB, p *service.Process) (*resource.Store, error) {
	cfg := service.StoreConfig(p, "events", SubjectPrefix, domain.Codec.Encode, domain.Codec.Decode)
	return resource.New(db, cfg, store.Events, store.Actors)
}

// MainSpec is what cmd/events runs.
var MainSpec = service.MainSpec{
	Name:     "events",
	Defaults: Defaults,
	Subjects: []string{SubjectPrefix + ".>"},
	Migrate:  store.Migrate,
	New: func(ctx context.Context, cfg service.Config, log *zap.Logger) (service.Runner, error) {
		return New(ctx, cfg, log)
	},
}
