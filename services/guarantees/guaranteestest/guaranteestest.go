// Package guaranteestest starts a real guarantees service in-process for tests: an
// embedded JetStream server (or one shared with an events service), a database (SQLite
// in a temporary directory, or a fresh PostgreSQL database), the service on 127.0.0.1:0,
// and clients that call it as a given principal. The machinery is the platform's
// servicetest; this package only builds the guarantees service.
package guaranteestest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap/zaptest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/servicetest"
	"github.com/guarantor/guarantor/services/guarantees"
	"github.com/guarantor/guarantor/services/guarantees/internal/refs"
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

// Harness is a running guarantees service with its dependencies.
type Harness = servicetest.Harness[*guarantees.Server, guaranteesv1.GuaranteesServiceClient]

// Options tune Start: a shared NATS server (the events service's, so the projection can
// consume its stream), a database to reuse (a restart), a signing key.
type Options = servicetest.Options

// Start starts the service on the backend; everything stops in Cleanup or at Stop.
func Start(t testing.TB, b Backend, opts ...Options) *Harness {
	t.Helper()
	return servicetest.Start(t, b, servicetest.Service[*guarantees.Server, guaranteesv1.GuaranteesServiceClient]{
		Name:      "guarantees",
		Stream:    guarantees.Stream,
		NewClient: guaranteesv1.NewGuaranteesServiceClient,
		New: func(t testing.TB, cfg service.Config) (*guarantees.Server, *service.Process, error) {
			srv, err := guarantees.New(context.Background(), guarantees.Config{Config: cfg, EventsStream: guarantees.EventsStream}, zaptest.NewLogger(t))
			if err != nil {
				return nil, nil, err
			}
			srv.API.BookmarkEvery = 200 * time.Millisecond
			return srv, srv.Process, nil
		},
	}, opts...)
}

// PublishEvents stands in for the events service when a test needs references without
// running it: it publishes a creation of each named actor or event (`actors/fra`,
// `events/paris` happening at when) on the events stream, as the events service's relay
// would, and waits until h's projection has applied them.
func PublishEvents(h *Harness, when time.Time, names ...string) {
	h.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	nc, err := nats.Connect(h.NATS.URL())
	if err != nil {
		h.T.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		h.T.Fatal(err)
	}
	stream, err := outbox.EnsureStream(ctx, js, outbox.StreamConfig(guarantees.EventsStream, []string{refs.Subjects}, 1))
	if err != nil {
		h.T.Fatal(err)
	}
	// Change sequences follow the stream's, as they do when the relay is the only
	// publisher.
	last := stream.CachedInfo().State.LastSeq
	for _, name := range names {
		ch := &eventsv1.Change{Sequence: int64(last) + 1, ResourceName: name, Kind: typev1.ChangeKind_CHANGE_KIND_CREATED, Time: timestamppb.Now()}
		collection := "actors"
		if strings.HasPrefix(name, "events/") {
			collection = "events"
			ch.Resource = &eventsv1.Change_Event{Event: &eventsv1.Event{Name: name, When: &typev1.When{Time: timestamppb.New(when)}}}
		} else {
			ch.Resource = &eventsv1.Change_Actor{Actor: &eventsv1.Actor{Name: name}}
		}
		data, err := proto.Marshal(ch)
		if err != nil {
			h.T.Fatal(err)
		}
		ack, err := js.Publish(ctx, "guarantor.events.v1."+collection+".created", data)
		if err != nil {
			h.T.Fatal(err)
		}
		last = ack.Sequence
	}
	WaitProjected(ctx, h, last)
}

// WaitProjected waits until h's projection has applied the events stream up to seq.
func WaitProjected(ctx context.Context, h *Harness, seq uint64) {
	h.T.Helper()
	for {
		pos, err := projection.Position(ctx, h.Server.DB, refs.Name)
		if err != nil {
			h.T.Fatal(err)
		}
		if uint64(pos) >= seq {
			return
		}
		select {
		case <-ctx.Done():
			h.T.Fatalf("the projection reached events stream sequence %d, not %d", pos, seq)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
