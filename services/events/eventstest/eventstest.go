// Package eventstest starts a real events service in-process for tests: an embedded
// JetStream server, a database (SQLite in a temporary directory, or a fresh PostgreSQL
// database), the service on 127.0.0.1:0, and clients that call it as a given principal.
// The machinery is the platform's servicetest; this package only builds the events
// service.
package eventstest

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/events"
)

// Backend names a store implementation.
type Backend = servicetest.Backend

// The store implementations every contract test runs against.
const (
	SQLite   = servicetest.SQLite
	Postgres = servicetest.Postgres
)

// Backends lists them.
var Backends = servicetest.Backends

// Editor, Viewer and Admin are ready-made principals.
var (
	Editor = servicetest.Editor
	Viewer = servicetest.Viewer
	Admin  = servicetest.Admin
)

// Harness is a running events service with its dependencies.
type Harness = servicetest.Harness[*events.Server, eventsv1.EventsServiceClient]

// Options tune Start: a shared NATS server, a database to reuse, a signing key.
type Options = servicetest.Options

// Start starts the service on the backend; everything stops in Cleanup or at Stop.
func Start(t testing.TB, b Backend, opts ...Options) *Harness {
	t.Helper()
	return servicetest.Start(t, b, servicetest.Service[*events.Server, eventsv1.EventsServiceClient]{
		Name:      "events",
		Stream:    events.Stream,
		NewClient: eventsv1.NewEventsServiceClient,
		New: func(t testing.TB, cfg service.Config) (*events.Server, *service.Process, error) {
			srv, err := events.New(context.Background(), cfg, zaptest.NewLogger(t))
			if err != nil {
				return nil, nil, err
			}
			srv.API.BookmarkEvery = 200 * time.Millisecond
			return srv, srv.Process, nil
		},
	}, opts...)
}
