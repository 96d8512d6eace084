// Package guarantees is the guarantees service's entry point: it owns frameworks and the
// security guarantees in them. New assembles the service on the platform (database,
// change log, outbox relay to JetStream, gRPC) plus the projection of the events
// service's stream that references are checked against; the dev stack and the tests
// start it in-process, cmd/guarantees as a binary.
package guarantees

import (
	"context"

	"go.uber.org/zap"

	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/platform/retention"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/tracing"
	"github.com/guarantor/guarantor/services/guarantees/internal/domain"
	"github.com/guarantor/guarantor/services/guarantees/internal/grpcapi"
	"github.com/guarantor/guarantor/services/guarantees/internal/refs"
	"github.com/guarantor/guarantor/services/guarantees/internal/store"
)

// Names of the service's stream and subjects. Every change is published on
// `guarantor.guarantees.v1.<collection>.<kind>`, e.g.
// guarantor.guarantees.v1.guarantees.transitioned.
const (
	Stream        = "GUARANTOR_GUARANTEES"
	SubjectPrefix = "guarantor.guarantees.v1"
	// EventsStream is the events service's stream (events.Stream), the default of
	// --events-stream. Not imported from the events package: the services share
	// contracts, not code.
	EventsStream = "GUARANTOR_EVENTS"
)

// Config is the common service configuration plus the stream the reference projection
// consumes.
type Config struct {
	service.Config
	// EventsStream is the events service's JetStream stream.
	EventsStream string
}

// Defaults are the documented defaults of the service's flags.
var Defaults = Config{
	Config: service.Config{
		GRPC:           grpcserver.Config{Listen: "127.0.0.1:9092", MetricsListen: "127.0.0.1:9192"},
		StoreDSN:       "sqlite://data/guarantees.db",
		NATSURL:        "nats://127.0.0.1:4333",
		Stream:         Stream,
		StreamReplicas: 1,
		Retention:      retention.Default,
		Tracing:        tracing.Defaults,
	},
	EventsStream: EventsStream,
}

// RegisterFlags registers the service's flags; call the result after parsing.
func RegisterFlags(fs *config.FlagSet) func() Config {
	common := service.RegisterFlags(fs, Defaults.Config)
	eventsStream := registerOwnFlags(fs)
	return func() Config { return Config{Config: common(), EventsStream: *eventsStream} }
}

// registerOwnFlags registers the flags only this service has.
func registerOwnFlags(fs *config.FlagSet) *string {
	return fs.String("events-stream", Defaults.EventsStream, "the events service's JetStream stream, consumed to check references to actors and events")
}

// Server is a running guarantees service.
type Server struct {
	*service.Process
	// API is the gRPC implementation, exposed for tests that tune bookmarks.
	API *grpcapi.Server
	// Refs is the consumer of the events stream, exposed for tests.
	Refs *projection.Consumer
}

// New assembles the service. Run it with Run; Close it afterwards.
func New(ctx context.Context, cfg Config, log *zap.Logger) (*Server, error) {
	s := &Server{}
	p, err := service.New(ctx, cfg.Config, service.Spec{
		Name:          "guarantees",
		HealthService: guaranteesv1.GuaranteesService_ServiceDesc.ServiceName,
		Subjects:      []string{SubjectPrefix + ".>"},
		Migrate:       store.Migrate,
		Register: func(p *service.Process) error {
			rs, err := NewStore(p.DB, p)
			if err != nil {
				return err
			}
			metrics, err := projection.NewMetrics(p.GRPC.Registry())
			if err != nil {
				return err
			}
			projected := refs.New(p.DB)
			s.Refs = projected.Consumer(p.JS, cfg.EventsStream, metrics, p.Log)
			s.Refs.Tracer = p.Tracer("github.com/guarantor/guarantor/platform/projection")
			s.API = grpcapi.New(domain.NewService(rs, projected), p.Notifier)
			p.GRPC.RegisterService(&guaranteesv1.GuaranteesService_ServiceDesc, s.API)
			return nil
		},
		Background: func(ctx context.Context, _ *service.Process) error { return s.Refs.Run(ctx) },
	}, log)
	if err != nil {
		return nil, err
	}
	s.Process = p
	return s, nil
}

// NewStore returns the resource store over an opened, migrated database.
func NewStore(db *sqldb.DB, p *service.Process) (*resource.Store, error) {
	cfg := service.StoreConfig(p, "guarantees", SubjectPrefix, domain.Codec.Encode, domain.Codec.Decode)
	return resource.New(db, cfg, store.Frameworks, store.Guarantees)
}

// MainSpec is what cmd/guarantees runs.
var MainSpec = service.MainSpec{
	Name:     "guarantees",
	Defaults: Defaults.Config,
	Subjects: []string{SubjectPrefix + ".>"},
	Migrate:  store.Migrate,
	Flags: func(fs *config.FlagSet) func(context.Context, service.Config, *zap.Logger) (service.Runner, error) {
		eventsStream := registerOwnFlags(fs)
		return func(ctx context.Context, cfg service.Config, log *zap.Logger) (service.Runner, error) {
			return New(ctx, Config{Config: cfg, EventsStream: *eventsStream}, log)
		}
	},
}
