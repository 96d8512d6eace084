package gateway_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
	"github.com/guarantor/guarantor/services/gateway"
)

// authConf is the NATS authorization the Kubernetes manifests deploy.
const authConf = "../../deploy/k8s/base/nats/auth.conf"

// natsUsers makes an nkey per key slot (two per component, "events" and "events-2";
// one admin), puts the public keys where auth.conf reads them (the environment, as the
// NATS StatefulSet does) and returns a server configuration that includes auth.conf as
// deployed, with the seeds by slot.
func natsUsers(t *testing.T) (conf string, seeds map[string]string) {
	t.Helper()
	dir := t.TempDir()
	body, err := os.ReadFile(authConf)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), body, 0o600); err != nil {
		t.Fatal(err)
	}
	conf = filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(conf, []byte("include auth.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	seeds = map[string]string{}
	for name, env := range map[string]string{
		"events": "GUARANTOR_EVENTS_NKEY", "guarantees": "GUARANTOR_GUARANTEES_NKEY",
		"gateway": "GUARANTOR_GATEWAY_NKEY", "admin": "GUARANTOR_NATS_ADMIN_NKEY",
		"events-2": "GUARANTOR_EVENTS_NKEY_2", "guarantees-2": "GUARANTOR_GUARANTEES_NKEY_2",
		"gateway-2": "GUARANTOR_GATEWAY_NKEY_2",
	} {
		u := natstest.NewUser(t)
		t.Setenv(env, u.Public)
		seeds[name] = u.Seed
	}
	return conf, seeds
}

// connectAs connects to s's NATS as a component, collecting the permission violations
// the server reports to it.
func connectAs(t *testing.T, url, seed, inbox string) (*nats.Conn, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var violations []string
	opts := []nats.Option{nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
		mu.Lock()
		violations = append(violations, err.Error())
		mu.Unlock()
	})}
	if inbox != "" {
		opts = append(opts, nats.CustomInboxPrefix(inbox))
	}
	if seed != "" {
		opt, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, opt)
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), violations...)
	}
}

// TestNATSPermissions runs the whole suite on NATS with the authorization the
// Kubernetes manifests deploy (deploy/k8s/base/nats/auth.conf), each component with its
// own nkey: every path that touches NATS works (stream creation, publishing, the
// guarantees projection's durable consumer, the gateway's watches, a redrive), and what
// a component has no business doing is refused.
func TestNATSPermissions(t *testing.T) {
	conf, seeds := natsUsers(t) // t.Setenv: not parallel
	s := startStack(t, stackOptions{natsConfig: conf, natsKeys: seeds})
	ctx := s.ctxAs(admin)

	// The gateway's watch reads both streams; the events service publishes; the
	// guarantees service reads the events stream (the guarantee names an actor it must
	// know) and publishes its own.
	w, _ := openWatch(t, ctx, s.conn, &gatewayv1.WatchRequest{})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	for id, a := range map[string]*eventsv1.Actor{"fra": state("FRA", "France"), "ukr": state("UKR", "Ukraine")} {
		if _, err := ev.CreateActor(ctx, &eventsv1.CreateActorRequest{ActorId: id, Actor: a}); err != nil {
			t.Fatal(err)
		}
	}
	gu := guaranteesv1.NewGuaranteesServiceClient(s.conn)
	if _, err := gu.CreateFramework(ctx, &guaranteesv1.CreateFrameworkRequest{FrameworkId: "paris", Framework: framework()}); err != nil {
		t.Fatal(err)
	}
	createGuarantee(t, ctx, gu, "fra-hub", "frameworks/paris", "actors/fra", "actors/ukr")
	got, err := collect(t, w, 4)
	if err != nil {
		t.Fatal(err)
	}
	wantInOrder(t, got, map[string][]int64{"events": {1, 2}, "guarantees": {1, 2}})

	url := s.nats.URL()
	tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("anonymous clients are refused", func(t *testing.T) {
		if nc, err := nats.Connect(url); err == nil {
			nc.Close()
			t.Fatal("an anonymous client connected")
		} else if !strings.Contains(err.Error(), "Authorization Violation") {
			t.Fatalf("err = %v, want an authorization violation", err)
		}
	})

	// Each forbidden act, as the component that tries it.
	refused := []struct {
		name, as, inbox string
		try             func(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) error
	}{
		{"the gateway publishes a change", "gateway", "_INBOX.gateway", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.Publish(ctx, "guarantor.events.v1.events.created", []byte("forged"))
			return err
		}},
		{"the gateway deletes a stream", "gateway", "_INBOX.gateway", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, "GUARANTOR_EVENTS")
		}},
		{"events publishes a guarantees change", "events", "_INBOX.events", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.Publish(ctx, "guarantor.guarantees.v1.guarantees.created", []byte("forged"))
			return err
		}},
		{"events purges the guarantees stream", "events", "_INBOX.events", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			s, err := js.Stream(ctx, "GUARANTOR_GUARANTEES")
			if err != nil {
				return err
			}
			return s.Purge(ctx)
		}},
		{"events deletes its own stream", "events", "_INBOX.events", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			return js.DeleteStream(ctx, "GUARANTOR_EVENTS")
		}},
		{"guarantees reads the events stream through another consumer", "guarantees", "_INBOX.guarantees", func(ctx context.Context, _ *nats.Conn, js jetstream.JetStream) error {
			_, err := js.OrderedConsumer(ctx, "GUARANTOR_EVENTS", jetstream.OrderedConsumerConfig{})
			return err
		}},
		{"the gateway reads another's replies", "gateway", "", func(_ context.Context, nc *nats.Conn, _ jetstream.JetStream) error {
			sub, err := nc.SubscribeSync("_INBOX.events.>")
			if err != nil {
				return err
			}
			defer func() { _ = sub.Unsubscribe() }()
			if err := nc.FlushTimeout(5 * time.Second); err != nil {
				return err
			}
			// A refused subscription is reported asynchronously.
			time.Sleep(200 * time.Millisecond)
			return nc.LastError()
		}},
	}
	// A component's second key slot (for rotating its key) is refused the same.
	for _, slot := range []string{"", "-2"} {
		for _, tt := range refused {
			t.Run(tt.name+" (key "+tt.as+slot+")", func(t *testing.T) {
				nc, violations := connectAs(t, url, seeds[tt.as+slot], tt.inbox)
				js, err := jetstream.New(nc)
				if err != nil {
					t.Fatal(err)
				}
				// A refused request gets no answer: it fails when its context ends.
				cctx, cancel := context.WithTimeout(tctx, 2*time.Second)
				defer cancel()
				err = tt.try(cctx, nc, js)
				if err == nil {
					t.Fatal("allowed")
				}
				if v := violations(); len(v) == 0 || !strings.Contains(strings.Join(v, "\n"), "Permissions Violation") {
					t.Errorf("err = %v, server reported %q; want a permissions violation", err, v)
				}
			})
		}
	}

	// ... and may do what the first may: a component moved to its second key goes on
	// working (the running services showed it for the first slot above).
	t.Run("second key slots", func(t *testing.T) {
		_, gwjs := natstest.Connect(t, url, natsx.Credentials{NkeyFile: seeds["gateway-2"], Inbox: "_INBOX.gateway"})
		c, err := gwjs.OrderedConsumer(tctx, "GUARANTOR_EVENTS", jetstream.OrderedConsumerConfig{})
		if err != nil {
			t.Fatalf("gateway-2 reads the events stream: %v", err)
		}
		if _, err := c.Next(jetstream.FetchMaxWait(5 * time.Second)); err != nil {
			t.Fatalf("gateway-2 reads a change: %v", err)
		}
		_, gujs := natstest.Connect(t, url, natsx.Credentials{NkeyFile: seeds["guarantees-2"], Inbox: "_INBOX.guarantees"})
		refs, err := gujs.Consumer(tctx, "GUARANTOR_EVENTS", "guarantees-refs")
		if err != nil {
			t.Fatalf("guarantees-2 finds its durable consumer: %v", err)
		}
		if _, err := refs.Info(tctx); err != nil {
			t.Fatalf("guarantees-2 reads its consumer: %v", err)
		}
		if _, err := gujs.Stream(tctx, "GUARANTOR_GUARANTEES"); err != nil {
			t.Fatalf("guarantees-2 reads its stream: %v", err)
		}
		// events-2 publishes in the redrive below.
	})

	t.Run("purge and redrive", func(t *testing.T) {
		// The documented repair: an operator purges the stream (as admin), the service
		// stopped, and the service's redrive publishes the log again as the service.
		s.events.Stop()
		admin, _ := connectAs(t, url, seeds["admin"], "")
		ajs, err := jetstream.New(admin)
		if err != nil {
			t.Fatal(err)
		}
		st, err := ajs.Stream(tctx, "GUARANTOR_EVENTS")
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Purge(tctx); err != nil {
			t.Fatal(err)
		}
		db, err := sqldb.Open(tctx, s.events.DSN, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		// As the events service's second key: a redrive publishes and keeps the stream
		// as the service does.
		_, js := natstest.Connect(t, url, natsx.Credentials{NkeyFile: seeds["events-2"], Inbox: "_INBOX.events"})
		n, err := outbox.Redrive(tctx, db, js, "GUARANTOR_EVENTS", nil)
		if err != nil || n != 2 {
			t.Fatalf("redrive as events (its second key): %d changes, %v; want 2", n, err)
		}
		info, err := st.Info(tctx)
		if err != nil || info.State.Msgs != 2 {
			t.Fatalf("stream after the redrive: %+v, %v", info, err)
		}
	})
	if errors.Is(tctx.Err(), context.DeadlineExceeded) {
		t.Fatal("timed out")
	}
}

// TestNATSFlagsReachTheConfig: the gateway's NATS credential flags end up in its
// configuration, and its replies come on its own inbox.
func TestNATSFlagsReachTheConfig(t *testing.T) {
	t.Parallel()
	fs := config.NewFlagSet("gateway", config.DefaultEnvPrefix)
	cfgFn := gateway.RegisterFlags(fs)
	if err := fs.ParseWithEnv([]string{"--nats-nkey-file=/nats/nkey.seed", "--nats-ca-file=/tls/ca.crt"}, func(string) (string, bool) { return "", false }); err != nil {
		t.Fatal(err)
	}
	if got := cfgFn().NATSAuth; got != (natsx.Credentials{NkeyFile: "/nats/nkey.seed", CAFile: "/tls/ca.crt"}) {
		t.Errorf("NATS credentials %+v", got)
	}
}
