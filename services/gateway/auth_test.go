package gateway_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/services/gateway"
	"github.com/guarantor/guarantor/services/gateway/internal/backends"
)

// servedMethods lists every method the gateway serves, as gRPC reflection reports its
// services (which also lists the proxied ones), resolved to methods through the
// descriptors compiled in. It cross-checks the list against the gRPC server's own
// registrations plus the proxied services.
func servedMethods(t *testing.T, s *stack) []string {
	t.Helper()
	rc, err := reflectionv1.NewServerReflectionClient(s.conn).ServerReflectionInfo(s.ctxAs(admin))
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{ListServices: "*"}}); err != nil {
		t.Fatal(err)
	}
	resp, err := rc.Recv()
	if err != nil {
		t.Fatalf("reflection: %v", err)
	}
	var viaReflection []string
	for _, svc := range resp.GetListServicesResponse().GetService() {
		viaReflection = append(viaReflection, svc.GetName())
	}
	registered := []string{}
	for name := range s.gw.GRPC.GRPC().GetServiceInfo() {
		registered = append(registered, name)
	}
	for _, p := range backends.Proxied {
		registered = append(registered, string(p.Desc.FullName()))
	}
	slices.Sort(viaReflection)
	slices.Sort(registered)
	if !slices.Equal(viaReflection, registered) {
		t.Fatalf("reflection lists %v, the server serves %v", viaReflection, registered)
	}
	for _, want := range []string{"guarantor.events.v1.EventsService", "guarantor.guarantees.v1.GuaranteesService", "guarantor.gateway.v1.GatewayService", "grpc.health.v1.Health"} {
		if !slices.Contains(viaReflection, want) {
			t.Fatalf("reflection does not list %s: %v", want, viaReflection)
		}
	}
	var methods []string
	for _, svc := range viaReflection {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		if err != nil {
			t.Fatalf("service %s: %v", svc, err)
		}
		ms := d.(protoreflect.ServiceDescriptor).Methods()
		for i := range ms.Len() {
			methods = append(methods, "/"+svc+"/"+string(ms.Get(i).Name()))
		}
	}
	return methods
}

// TestEveryMethodRequiresCredentials enumerates every method the gateway serves and
// proves each refuses a call without credentials, or with a key it does not know, with
// UNAUTHENTICATED; health checks alone answer.
func TestEveryMethodRequiresCredentials(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	methods := servedMethods(t, s)
	if len(methods) < 40 {
		t.Fatalf("only %d methods served: %v", len(methods), methods)
	}
	credentials := map[string]string{
		"none":        "",
		"unknown key": "Bearer gk_not-a-key",
		"not bearer":  "Basic YWRtaW46YWRtaW4=",
		"bad jwt":     "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
	}
	for _, m := range methods {
		t.Run(strings.TrimPrefix(m, "/"), func(t *testing.T) {
			for name, header := range credentials {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				if header != "" {
					ctx = metadata.AppendToOutgoingContext(ctx, "authorization", header)
				}
				err := callEmpty(ctx, s.conn, m)
				cancel()
				if strings.HasPrefix(m, "/grpc.health.v1.Health/") {
					if code := status.Code(err); code != codes.OK {
						t.Fatalf("health with credentials %q: %v", name, err)
					}
					return
				}
				if code := status.Code(err); code != codes.Unauthenticated {
					t.Fatalf("credentials %q: %v, want UNAUTHENTICATED", name, err)
				}
			}
		})
	}
}

// callEmpty calls a method with an empty request of its type and reads one response.
// Every method is called as a stream, which gRPC accepts for any method type.
func callEmpty(ctx context.Context, conn *grpc.ClientConn, fullMethod string) error {
	svc, method, _ := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return err
	}
	md := d.(protoreflect.ServiceDescriptor).Methods().ByName(protoreflect.Name(method))
	in, err := protoregistry.GlobalTypes.FindMessageByName(md.Input().FullName())
	if err != nil {
		return err
	}
	out, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cs, err := conn.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true, ClientStreams: true}, fullMethod)
	if err != nil {
		return err
	}
	// io.EOF from SendMsg means the server has already ended the call (refused it):
	// RecvMsg returns its status.
	if err := cs.SendMsg(in.New().Interface()); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_ = cs.CloseSend()
	return cs.RecvMsg(out.New().Interface())
}

// TestEveryMethodRequiresCredentialsOverHTTP is the same proof for JSON over HTTP.
func TestEveryMethodRequiresCredentialsOverHTTP(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	for _, m := range backends.NewMethods().All() {
		t.Run(strings.TrimPrefix(m.FullMethod, "/"), func(t *testing.T) {
			url := s.httpURL + m.FullMethod
			if m.ServerStreaming {
				_, cerr := streamJSON(t, url, "", "{}", messages(1))
				if cerr == nil || cerr.Code != "unauthenticated" {
					t.Fatalf("stream end = %+v, want unauthenticated", cerr)
				}
				return
			}
			code, body := postJSON(t, url, "", "{}")
			if code != http.StatusUnauthorized || errorCode(t, body) != "unauthenticated" {
				t.Fatalf("HTTP %d %s, want 401 unauthenticated", code, body)
			}
		})
	}
}

// TestViewerWritesRefused: a viewer gets PERMISSION_DENIED on every method that
// changes data, decided from the method names in the descriptors.
func TestViewerWritesRefused(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	var writes []string
	for _, m := range backends.NewMethods().All() {
		if !m.Write {
			continue
		}
		writes = append(writes, m.FullMethod)
		t.Run(strings.TrimPrefix(m.FullMethod, "/"), func(t *testing.T) {
			wantCode(t, callEmpty(s.ctxAs(viewer), s.conn, m.FullMethod), codes.PermissionDenied)
			// The same over HTTP.
			code, body := postJSON(t, s.httpURL+m.FullMethod, s.keys[viewer], "{}")
			if code != http.StatusForbidden || errorCode(t, body) != "permission_denied" {
				t.Fatalf("HTTP %d %s, want 403 permission_denied", code, body)
			}
		})
	}
	want := []string{
		"/guarantor.events.v1.EventsService/CreateEvent", "/guarantor.events.v1.EventsService/BatchCreateActors",
		"/guarantor.guarantees.v1.GuaranteesService/TransitionGuarantee",
		"/guarantor.guarantees.v1.GuaranteesService/RecordRatificationAction",
		"/guarantor.guarantees.v1.GuaranteesService/SatisfyCondition",
	}
	for _, w := range want {
		if !slices.Contains(writes, w) {
			t.Errorf("%s is not treated as a write", w)
		}
	}
	// 8 of the events service, 11 of the guarantees service: a new write method must
	// be looked at here.
	if len(writes) != 19 {
		t.Errorf("%d write methods, want 19: %v", len(writes), writes)
	}
	// Reads stay open to viewers.
	if _, err := eventsv1.NewEventsServiceClient(s.conn).ListEvents(s.ctxAs(viewer), &eventsv1.ListEventsRequest{}); err != nil {
		t.Fatalf("viewer ListEvents: %v", err)
	}
}

// TestRestrictedLicenceVisibility: an ACLED-licensed record reaches only keys entitled
// to ACLED data.
func TestRestrictedLicenceVisibility(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	acled := summit()
	acled.Title = "ACLED-coded strike"
	acled.License = typev1.License_LICENSE_ACLED
	if _, err := ev.CreateEvent(s.ctxAs(admin), &eventsv1.CreateEventRequest{EventId: "acled-row", Event: acled}); err != nil {
		t.Fatal(err)
	}
	if _, err := ev.CreateEvent(s.ctxAs(admin), &eventsv1.CreateEventRequest{EventId: "public-row", Event: summit()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key     string
		visible bool
	}{
		{viewer, false},
		{editor, false},
		{analyst, true},
		{admin, true},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			list, err := ev.ListEvents(s.ctxAs(tt.key), &eventsv1.ListEventsRequest{})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range list.GetEvents() {
				names = append(names, e.GetName())
			}
			if got := slices.Contains(names, "events/acled-row"); got != tt.visible {
				t.Fatalf("ListEvents = %v; ACLED row visible = %v, want %v", names, got, tt.visible)
			}
			if !slices.Contains(names, "events/public-row") {
				t.Fatalf("ListEvents = %v; the public row is missing", names)
			}
			_, err = ev.GetEvent(s.ctxAs(tt.key), &eventsv1.GetEventRequest{Name: "events/acled-row"})
			if (err == nil) != tt.visible {
				t.Fatalf("GetEvent ACLED row: %v, visible want %v", err, tt.visible)
			}
			// Over HTTP too.
			code, body := postJSON(t, rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "GetEvent"), s.keys[tt.key], `{"name":"events/acled-row"}`)
			if (code == http.StatusOK) != tt.visible {
				t.Fatalf("HTTP GetEvent ACLED row: %d %s, visible want %v", code, body, tt.visible)
			}
		})
	}
}

// TestKeysFileReload: keys added, revoked or broken in the keys file take effect without
// a restart, including a Kubernetes Secret volume's symlink swap, picked up from file
// notifications alone (polling is set to an hour).
func TestKeysFileReload(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// layout prepares the directory and returns the path the gateway reads and a
		// function replacing the file's content.
		layout func(t *testing.T, dir string) (path string, replace func([]gateway.KeyEntry))
	}{
		{"rename over", func(t *testing.T, dir string) (string, func([]gateway.KeyEntry)) {
			path := filepath.Join(dir, "keys.json")
			return path, func(es []gateway.KeyEntry) { writeKeys(t, path, es) }
		}},
		{"kubernetes secret symlink swap", func(t *testing.T, dir string) (string, func([]gateway.KeyEntry)) {
			gen := 0
			replace := func(es []gateway.KeyEntry) {
				gen++
				ts := filepath.Join(dir, "..2026_01_06_"+strings.Repeat("x", gen))
				if err := os.Mkdir(ts, 0o700); err != nil {
					t.Fatal(err)
				}
				writeKeys(t, filepath.Join(ts, "keys.json"), es)
				tmp := filepath.Join(dir, "..data_tmp")
				if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
					t.Fatal(err)
				}
			}
			path := filepath.Join(dir, "keys.json")
			return path, func(es []gateway.KeyEntry) {
				replace(es)
				if _, err := os.Lstat(path); os.IsNotExist(err) {
					if err := os.Symlink("..data/keys.json", path); err != nil {
						t.Fatal(err)
					}
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path, replace := tt.layout(t, t.TempDir())
			keyA, hashA, _ := gateway.NewAPIKey()
			keyB, hashB, _ := gateway.NewAPIKey()
			replace([]gateway.KeyEntry{{ID: "a", SHA256: hashA, Role: "viewer"}})
			s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
				c.KeysFile = path
				c.CredentialsPoll = time.Hour
			}})
			call := func(key string) codes.Code {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+key)
				_, err := eventsv1.NewEventsServiceClient(s.conn).ListActors(ctx, &eventsv1.ListActorsRequest{})
				return status.Code(err)
			}
			eventually := func(what string, f func() bool) {
				t.Helper()
				deadline := time.Now().Add(10 * time.Second)
				for !f() {
					if time.Now().After(deadline) {
						t.Fatalf("timed out waiting: %s", what)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			if c := call(keyA); c != codes.OK {
				t.Fatalf("key A: %v", c)
			}
			if c := call(keyB); c != codes.Unauthenticated {
				t.Fatalf("key B before it is added: %v", c)
			}
			replace([]gateway.KeyEntry{{ID: "a", SHA256: hashA, Role: "viewer"}, {ID: "b", SHA256: hashB, Role: "viewer"}})
			eventually("key B accepted", func() bool { return call(keyB) == codes.OK })
			replace([]gateway.KeyEntry{{ID: "b", SHA256: hashB, Role: "viewer"}})
			eventually("key A revoked", func() bool { return call(keyA) == codes.Unauthenticated })
			// A broken file is ignored: the keys in force stay in force.
			replace([]gateway.KeyEntry{{ID: "b", SHA256: "not-hex", Role: "viewer"}})
			time.Sleep(500 * time.Millisecond)
			if c := call(keyB); c != codes.OK {
				t.Fatalf("key B after a broken keys file: %v", c)
			}
		})
	}
}

// TestRateLimit: past its burst a principal is refused with RESOURCE_EXHAUSTED and a
// RetryInfo saying when to come back; other principals are unaffected.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.RatePerSecond = 1
		c.RateBurst = 3
	}})
	ev := eventsv1.NewEventsServiceClient(s.conn)
	var err error
	for i := 0; i < 4 && err == nil; i++ {
		_, err = ev.ListActors(s.ctxAs(viewer), &eventsv1.ListActorsRequest{})
	}
	st := wantCode(t, err, codes.ResourceExhausted)
	var delay time.Duration
	for _, d := range st.Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			delay = ri.GetRetryDelay().AsDuration()
		}
	}
	if delay <= 0 || delay > time.Second {
		t.Fatalf("RetryInfo delay = %v, want within (0, 1s]; status %v", delay, st.Proto())
	}
	if _, err := ev.ListActors(s.ctxAs(editor), &eventsv1.ListActorsRequest{}); err != nil {
		t.Fatalf("another principal: %v", err)
	}
	// Over HTTP the same limit answers 429.
	code, body := postJSON(t, rpcURL(s.httpURL, "guarantor.events.v1.EventsService", "ListActors"), s.keys[viewer], "{}")
	if code != http.StatusTooManyRequests {
		t.Fatalf("HTTP %d %s, want 429", code, body)
	}
}

// TestStreamLimit: a principal may hold only so many streams open.
func TestStreamLimit(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) { c.MaxStreamsPerPrincipal = 1 }})
	gw := gatewayv1.NewGatewayServiceClient(s.conn)
	ctx, cancel := context.WithCancel(s.ctxAs(viewer))
	first, err := gw.Watch(ctx, &gatewayv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := first.Recv(); err != nil {
		t.Fatal(err)
	}
	second, err := gw.Watch(s.ctxAs(viewer), &gatewayv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = second.Recv()
	wantCode(t, err, codes.ResourceExhausted)
	// Another principal has its own allowance.
	other, err := eventsv1.NewEventsServiceClient(s.conn).Watch(s.ctxAs(editor), &eventsv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Recv(); err != nil {
		t.Fatalf("another principal's stream: %v", err)
	}
	cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		third, err := gw.Watch(s.ctxAs(viewer), &gatewayv1.WatchRequest{})
		if err == nil {
			if _, err = third.Recv(); err == nil {
				break
			}
		}
		if status.Code(err) != codes.ResourceExhausted || time.Now().After(deadline) {
			t.Fatalf("after closing the first stream: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestHealthReportsEachBackend: the gateway's health service answers for each backend.
func TestHealthReportsEachBackend(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true}) // guarantees: nobody listens
	hc := healthpb.NewHealthClient(s.conn)
	want := map[string]healthpb.HealthCheckResponse_ServingStatus{
		"":                                    healthpb.HealthCheckResponse_SERVING,
		"guarantor.gateway.v1.GatewayService": healthpb.HealthCheckResponse_SERVING,
		"guarantor.events.v1.EventsService":   healthpb.HealthCheckResponse_SERVING,
		"guarantor.guarantees.v1.GuaranteesService": healthpb.HealthCheckResponse_NOT_SERVING,
	}
	deadline := time.Now().Add(10 * time.Second)
	for svc, w := range want {
		for {
			resp, err := hc.Check(context.Background(), &healthpb.HealthCheckRequest{Service: svc})
			if err == nil && resp.GetStatus() == w {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("health of %q = %v, %v; want %v", svc, resp, err, w)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	resp, err := http.Get(s.httpURL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status   string            `json:"status"`
		Backends map[string]string `json:"backends"`
	}
	decodeJSON(t, body, &h)
	if resp.StatusCode != http.StatusOK || h.Backends["events"] != "SERVING" || h.Backends["guarantees"] != "NOT_SERVING" {
		t.Fatalf("/healthz = %d %+v (%s)", resp.StatusCode, h, body)
	}
}

// TestUnknownMethodsLeaveNoTrace: anyone may name any method, so a method the gateway
// does not serve is refused before it reaches the metrics, whose series it would
// otherwise multiply (one per name, kept for the life of the process).
func TestUnknownMethodsLeaveNoTrace(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true})
	ctx := context.Background()
	for _, m := range []string{"/guarantor.events.v1.EventsService/Nope", "/made.up.Service/Method", "/x/y"} {
		for _, asWho := range []context.Context{ctx, s.ctxAs(admin)} {
			err := s.conn.Invoke(asWho, m, &eventsv1.GetEventRequest{}, &eventsv1.Event{})
			if status.Code(err) != codes.Unimplemented {
				t.Fatalf("%s: %v, want UNIMPLEMENTED", m, err)
			}
		}
	}
	families, err := s.gw.GRPC.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			for _, l := range metric.GetLabel() {
				if v := l.GetValue(); v == "Nope" || v == "made.up.Service" || v == "y" {
					t.Fatalf("%s has a series for the unknown method %q", f.GetName(), v)
				}
			}
		}
	}
}

// TestStreamEndsWhenItsCredentialsChange: a stream is authenticated when it opens and
// may stay open for days, so its credentials are checked again while it runs. When the
// analyst's key loses its ACLED entitlement, or the viewer's key is revoked, their open
// streams (the gateway's own Watch and a proxied service Watch) end with UNAUTHENTICATED;
// the editor's, whose key did not change, goes on.
func TestStreamEndsWhenItsCredentialsChange(t *testing.T) {
	t.Parallel()
	s := startStack(t, stackOptions{noGuarantees: true, tune: func(c *gateway.Config) {
		c.StreamRecheck = 50 * time.Millisecond
	}})
	gw := gatewayv1.NewGatewayServiceClient(s.conn)
	ev := eventsv1.NewEventsServiceClient(s.conn)
	type open struct {
		name string
		recv func() error
	}
	var streams []open
	for _, who := range []string{analyst, viewer, editor} {
		merged, err := gw.Watch(s.ctxAs(who), &gatewayv1.WatchRequest{})
		if err != nil {
			t.Fatal(err)
		}
		proxied, err := ev.Watch(s.ctxAs(who), &eventsv1.WatchRequest{})
		if err != nil {
			t.Fatal(err)
		}
		streams = append(streams,
			open{who + "'s gateway Watch", func() error { _, err := merged.Recv(); return err }},
			open{who + "'s events Watch", func() error { _, err := proxied.Recv(); return err }})
	}
	for _, st := range streams {
		if err := st.recv(); err != nil {
			t.Fatalf("%s: first message: %v", st.name, err)
		}
	}

	writeKeys(t, s.keysFile, []gateway.KeyEntry{
		{ID: "admin-1", SHA256: gateway.HashAPIKey(s.keys[admin]), Role: "admin", Entitlements: []string{"acled"}},
		{ID: "editor-1", SHA256: gateway.HashAPIKey(s.keys[editor]), Role: "editor"},
		{ID: "viewer-1", SHA256: gateway.HashAPIKey(s.keys[viewer]), Role: "viewer", Disabled: true},
		{ID: "analyst-1", SHA256: gateway.HashAPIKey(s.keys[analyst]), Role: "viewer"},
	})
	for _, st := range streams[:4] {
		ended := make(chan error, 1)
		go func() {
			var err error
			for err == nil {
				err = st.recv() // bookmarks until the stream ends
			}
			ended <- err
		}()
		select {
		case err := <-ended:
			if status.Code(err) != codes.Unauthenticated {
				t.Fatalf("%s after its key changed: %v, want UNAUTHENTICATED", st.name, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still open 10 s after its key changed", st.name)
		}
	}
	// The editor's streams still deliver: a change made now reaches both.
	if _, err := ev.CreateActor(s.ctxAs(editor), &eventsv1.CreateActorRequest{ActorId: "after", Actor: state("FRA", "after")}); err != nil {
		t.Fatal(err)
	}
	for _, st := range streams[4:] {
		if err := st.recv(); err != nil {
			t.Fatalf("%s, whose key did not change: %v", st.name, err)
		}
	}
}
