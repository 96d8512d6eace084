package watch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/natsx"
	"github.com/guarantor/guarantor/platform/principal"
)

func TestTokenRoundTrip(t *testing.T) {
	t.Parallel()
	tests := [][]uint64{{0, 0}, {1, 0}, {0, 7}, {123456789, 1}, {1 << 62, 1 << 40}}
	for _, pos := range tests {
		tok := EncodeToken(pos)
		got, err := DecodeToken(tok, len(pos))
		if err != nil || !slices.Equal(got, pos) {
			t.Fatalf("DecodeToken(EncodeToken(%v)) = %v, %v", pos, got, err)
		}
	}
	bad := []string{"", "!!!", "AA", EncodeToken([]uint64{1, 2, 3}), "AQICAQE" /* ids not increasing */, "AQEA" /* zero seq */, "AQE0As0A" /* padded varint */, strings.Repeat("A", 600)}
	for _, tok := range bad {
		if _, err := DecodeToken(tok, 2); err == nil {
			t.Errorf("DecodeToken(%q) accepted", tok)
		}
	}
}

// TestTokenIncarnations: a token names the incarnation of each stream it holds a
// position in (version 2) whenever one is known, and only then; version 1 tokens still
// decode, with no incarnation.
func TestTokenIncarnations(t *testing.T) {
	t.Parallel()
	created := time.Date(2026, 11, 29, 7, 30, 0, 123, time.UTC)
	tests := []struct {
		pos     []uint64
		inc     []int64
		wantInc []int64 // what decodes: nil for a version 1 token
	}{
		{[]uint64{5, 9}, []int64{natsx.Incarnation(created), 7}, []int64{natsx.Incarnation(created), 7}},
		{[]uint64{5, 0}, []int64{natsx.Incarnation(created), 7}, []int64{natsx.Incarnation(created), 0}}, // no position, no incarnation
		{[]uint64{5, 9}, []int64{0, 7}, []int64{0, 7}},
		{[]uint64{5, 9}, []int64{-1, 1 << 62}, []int64{-1, 1 << 62}},
		{[]uint64{5, 9}, nil, nil},
		{[]uint64{5, 9}, []int64{0, 0}, nil},
		{[]uint64{0, 0}, []int64{3, 4}, nil},
	}
	for _, tt := range tests {
		p := position{seq: tt.pos, inc: tt.inc}
		tok := string(appendToken(nil, p))
		if len(tok) != tokenLen(p) {
			t.Fatalf("token of %v in %v is %d long, tokenLen says %d", tt.pos, tt.inc, len(tok), tokenLen(p))
		}
		got, err := decodeToken(tok, 2)
		pos, inc := got.seq, got.inc
		if err != nil || !slices.Equal(pos, tt.pos) || !slices.Equal(inc, tt.wantInc) || (inc == nil) != (tt.wantInc == nil) {
			t.Fatalf("token of %v in %v decodes to %v in %v (%v), want %v", tt.pos, tt.inc, pos, inc, err, tt.wantInc)
		}
		if plain, err := DecodeToken(tok, 2); err != nil || !slices.Equal(plain, tt.pos) {
			t.Fatalf("DecodeToken(%q) = %v, %v; want %v", tok, plain, err, tt.pos)
		}
	}
	if natsx.Incarnation(time.Time{}) != 0 {
		t.Fatal("an unknown creation time has an incarnation")
	}
	// A version 1 token made before incarnations existed ("AQEF": stream 1 at 5).
	if p, err := decodeToken("AQEF", 2); err != nil || !slices.Equal(p.seq, []uint64{5, 0}) || p.inc != nil || p.change != nil {
		t.Fatalf("version 1 token decodes to %+v (%v)", p, err)
	}
	// Version 2 without any incarnation is not a token the gateway makes ("AgEFAA":
	// stream 1 at 5 in incarnation 0), nor is version 2 cut short of one ("AgEF").
	for _, tok := range []string{"AgEFAA", "AgEF", "AwEF"} {
		if _, err := decodeToken(tok, 2); err == nil {
			t.Errorf("decodeToken(%q) accepted", tok)
		}
	}
}

func FuzzDecodeToken(f *testing.F) {
	f.Add(EncodeToken([]uint64{5, 9}))
	f.Add(EncodeToken([]uint64{0, 0}))
	f.Add(string(appendToken(nil, position{seq: []uint64{5, 9}, inc: []int64{1764401400000000123, 0}})))
	f.Add(string(appendToken(nil, position{seq: []uint64{5, 9}, inc: []int64{1764401400000000123, 0}, change: []int64{3, 9}})))
	f.Add(string(appendToken(nil, position{seq: []uint64{5, 0}, change: []int64{3, 0}})))
	f.Add("AQICAQE")
	f.Add("AQE0As0A")
	f.Add("AgEFAA")
	f.Fuzz(func(t *testing.T, tok string) {
		p, err := decodeToken(tok, 2)
		if err != nil {
			return
		}
		// A token decodes only if it is exactly what the gateway makes of its position.
		if again := string(appendToken(nil, p)); again != tok {
			t.Fatalf("token %q decodes to %+v, which encodes as %q", tok, p, again)
		}
		for _, c := range p.change {
			if c < 0 {
				t.Fatalf("token %q decodes to a negative change: %+v", tok, p)
			}
		}
	})
}

func TestGlob(t *testing.T) {
	t.Parallel()
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"events/paris-*", "events/paris-2026", true},
		{"events/paris-*", "events/london", false},
		{"*", "guarantees/x", true},
		{"*/x", "guarantees/x", true},
		{"actors/???", "actors/fra", true},
		{"actors/???", "actors/fr", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"", "", true},
		{"", "a", false},
	}
	for _, tt := range tests {
		if got := Glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("Glob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func FuzzGlob(f *testing.F) {
	f.Add("events/*", "events/paris")
	f.Add("a*b?c", "axxbyc")
	f.Add("events/*", "events/a*b") // a star in the name is just a character
	f.Fuzz(func(t *testing.T, pattern, name string) {
		if len(pattern) > 40 || len(name) > 40 {
			return
		}
		// Reference: the same glob as a regular expression.
		var re strings.Builder
		re.WriteString("^")
		for _, r := range pattern {
			switch r {
			case '*':
				re.WriteString("(?s:.*)")
			case '?':
				re.WriteString("(?s:.)")
			default:
				re.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		re.WriteString("$")
		want := regexp.MustCompile(re.String()).MatchString(name)
		if got := Glob(pattern, name); got != want {
			t.Fatalf("Glob(%q, %q) = %v, regexp says %v", pattern, name, got, want)
		}
	})
}

func TestMatcher(t *testing.T) {
	t.Parallel()
	c := changeInfo{service: "guarantees", collection: "guarantees", name: "guarantees/fra-hub", kind: "TRANSITIONED", principal: "key:editor-1"}
	tests := []struct {
		name        string
		collections []string
		pattern     string
		filter      string
		want        bool
		wantErr     bool
	}{
		{"everything", nil, "", "", true, false},
		{"collection", []string{"guarantees"}, "", "", true, false},
		{"other collection", []string{"events"}, "", "", false, false},
		{"pattern", nil, "guarantees/fra-*", "", true, false},
		{"kind short", nil, "", "kind = TRANSITIONED", true, false},
		{"kind long", nil, "", "kind = CHANGE_KIND_TRANSITIONED", true, false},
		{"kind other", nil, "", "kind = CREATED", false, false},
		{"and or not", nil, "", `service = "guarantees" AND (kind = CREATED OR kind = TRANSITIONED) AND NOT principal = "key:x"`, true, false},
		{"prefix", nil, "", `name:"guarantees/fra*"`, true, false},
		{"not equal", nil, "", `principal != "key:editor-1"`, false, false},
		{"unknown field", nil, "", `license = ACLED`, false, true},
		{"bad operator", nil, "", `name < "z"`, false, true},
		{"bad kind", nil, "", `kind = BOOM`, false, true},
		{"unspecified kind", nil, "", `kind = UNSPECIFIED`, false, true},
		{"syntax", nil, "", `name = `, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := newMatcher(tt.collections, tt.pattern, tt.filter)
			if (err != nil) != tt.wantErr {
				t.Fatalf("newMatcher: %v, want error %v", err, tt.wantErr)
			}
			if err == nil && m.match(c) != tt.want {
				t.Fatalf("match = %v, want %v", !tt.want, tt.want)
			}
		})
	}
}

func TestVisible(t *testing.T) {
	t.Parallel()
	plain := principal.Principal{ID: "key:v", Role: principal.RoleViewer}
	entitled := principal.Principal{ID: "key:a", Role: principal.RoleViewer, Entitlements: []string{"acled"}}
	tests := []struct {
		name string
		p    principal.Principal
		l    license
		want bool
	}{
		{"public", plain, license{typev1.License_LICENSE_PUBLIC, ""}, true},
		{"unset", plain, license{}, true},
		{"acled unentitled", plain, license{typev1.License_LICENSE_ACLED, ""}, false},
		{"acled entitled", entitled, license{typev1.License_LICENSE_ACLED, "acled"}, true},
		{"required by the service", plain, license{typev1.License_LICENSE_PUBLIC, "acled"}, false},
	}
	for _, tt := range tests {
		if got := visible(tt.p, tt.l); got != tt.want {
			t.Errorf("%s: visible = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestChangeOfAnUnknownResourceIsWithheld: a change whose resource the gateway cannot
// read (none set, or a type a newer service added, which lands in unknown fields) goes
// to nobody, not even a principal holding every entitlement: its licence is unknown.
func TestChangeOfAnUnknownResourceIsWithheld(t *testing.T) {
	t.Parallel()
	everything := principal.Principal{ID: "key:a", Role: principal.RoleAdmin, Entitlements: []string{"acled"}}
	for _, st := range Streams {
		var data []byte
		var err error
		if st.Service == "events" {
			data, err = proto.Marshal(&eventsv1.Change{Sequence: 1, ResourceName: "widgets/w", Kind: typev1.ChangeKind_CHANGE_KIND_CREATED})
		} else {
			data, err = proto.Marshal(&guaranteesv1.Change{Sequence: 1, ResourceName: "widgets/w", Kind: typev1.ChangeKind_CHANGE_KIND_CREATED})
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := st.decode(data)
		if err != nil {
			t.Fatal(err)
		}
		if visible(everything, d.lic) {
			t.Errorf("%s: a change with no resource is visible to %+v", st.Service, everything)
		}
	}
}

// TestHubRingBounds: the ring drops its oldest entries when full by count or by bytes,
// whichever comes first, always keeps the newest, and what it dropped is no longer
// covered (a watcher there catches up from a private consumer).
func TestHubRingBounds(t *testing.T) {
	h := &hub{
		s:     &Service{cfg: Config{HubBuffer: 4, HubBufferBytes: 100}.withDefaults()},
		ring:  make([]entry, 4),
		wake:  make(chan struct{}),
		ready: true,
	}
	held := func() []uint64 {
		got, _, _, _ := h.entriesAfter(h.floor, h.epoch, make([]entry, 0, 16))
		var seqs []uint64
		for _, e := range got {
			seqs = append(seqs, e.seq)
		}
		return seqs
	}
	steps := []struct {
		seq, size int
		want      []uint64
		floor     uint64
	}{
		{1, 30, []uint64{1}, 0},
		{2, 30, []uint64{1, 2}, 0},
		{3, 30, []uint64{1, 2, 3}, 0},
		{4, 30, []uint64{2, 3, 4}, 1},   // 120 bytes would pass 100
		{5, 5, []uint64{2, 3, 4, 5}, 1}, // 95 bytes, four entries
		{6, 5, []uint64{3, 4, 5, 6}, 2}, // the count bound
		{7, 500, []uint64{7}, 6},        // larger than the bound: kept alone
		{8, 10, []uint64{8}, 7},         // and dropped by the next
		{9, 10, []uint64{8, 9}, 7},
	}
	for _, st := range steps {
		h.append(entry{seq: uint64(st.seq), size: st.size})
		if got := held(); !slices.Equal(got, st.want) || h.floor != st.floor {
			t.Fatalf("after %d (%d bytes): ring holds %v with floor %d, want %v with floor %d", st.seq, st.size, got, h.floor, st.want, st.floor)
		}
		total := 0
		for _, e := range st.want {
			total += steps[e-1].size
		}
		if h.bytes != total {
			t.Fatalf("after %d: bytes = %d, want %d", st.seq, h.bytes, total)
		}
	}
	if h.covers(6) || !h.covers(7) {
		t.Fatalf("covers(6) = %v, covers(7) = %v; want false, true", h.covers(6), h.covers(7))
	}
}

// TestResponseEncoding: a change encoded once and followed by a watcher's token is the
// WatchResponse the client decodes, for each stream and kind; fields a newer service
// added to its change (unknown here) reach the client too.
func TestResponseEncoding(t *testing.T) {
	t.Parallel()
	newer := protowire.AppendString(protowire.AppendTag(nil, 1000, protowire.BytesType), "from a newer service")
	events := &eventsv1.Change{Sequence: 7, ResourceName: "events/paris", Kind: typev1.ChangeKind_CHANGE_KIND_UPDATED,
		Resource: &eventsv1.Change_Event{Event: &eventsv1.Event{Name: "events/paris", Title: "Paris summit"}}}
	guarantees := &guaranteesv1.Change{Sequence: 3, ResourceName: "guarantees/hubs", Kind: typev1.ChangeKind_CHANGE_KIND_DELETED}
	pos := []uint64{41, 9}
	tests := []struct {
		name   string
		stream int
		change proto.Message
		kind   typev1.ChangeKind
		want   *gatewayv1.WatchResponse
	}{
		{"events", 0, events, events.GetKind(), &gatewayv1.WatchResponse{Type: typev1.WatchEventType_WATCH_EVENT_TYPE_MODIFIED,
			Change: &gatewayv1.WatchResponse_EventsChange{EventsChange: events}, ResumeToken: EncodeToken(pos)}},
		{"guarantees", 1, guarantees, guarantees.GetKind(), &gatewayv1.WatchResponse{Type: typev1.WatchEventType_WATCH_EVENT_TYPE_DELETED,
			Change: &gatewayv1.WatchResponse_GuaranteesChange{GuaranteesChange: guarantees}, ResumeToken: EncodeToken(pos)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, err := proto.Marshal(tt.change)
			if err != nil {
				t.Fatal(err)
			}
			d, err := Streams[tt.stream].decode(append(data, newer...))
			if err != nil || d.kind != tt.kind {
				t.Fatalf("decode: %v, kind %v", err, d.kind)
			}
			wire := append(encodeChange(d.kind, Streams[tt.stream].field, append(data, newer...)), tokenBytes(position{seq: pos})...)
			got := &gatewayv1.WatchResponse{}
			if err := proto.Unmarshal(wire, got); err != nil {
				t.Fatal(err)
			}
			var unknown []byte
			switch c := got.GetChange().(type) {
			case *gatewayv1.WatchResponse_EventsChange:
				unknown = c.EventsChange.ProtoReflect().GetUnknown()
			case *gatewayv1.WatchResponse_GuaranteesChange:
				unknown = c.GuaranteesChange.ProtoReflect().GetUnknown()
			}
			if !bytes.Equal(unknown, newer) {
				t.Fatalf("the newer service's field arrived as %x, want %x", unknown, newer)
			}
			// proto.Equal compares unknown fields too: with them checked, compare the rest.
			if c := got.GetEventsChange(); c != nil {
				c.ProtoReflect().SetUnknown(nil)
			}
			if c := got.GetGuaranteesChange(); c != nil {
				c.ProtoReflect().SetUnknown(nil)
			}
			if !proto.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestTokenBytes: the token field appended to every change is the token, and costs one
// allocation.
func TestTokenBytes(t *testing.T) {
	for _, pos := range [][]uint64{{0, 0}, {1, 0}, {0, 300}, {1 << 40, 127}, {128, 1 << 63}} {
		m := &gatewayv1.WatchResponse{}
		if err := proto.Unmarshal(tokenBytes(position{seq: pos}), m); err != nil || m.GetResumeToken() != EncodeToken(pos) {
			t.Fatalf("tokenBytes(%v) decodes to %q (%v), want %q", pos, m.GetResumeToken(), err, EncodeToken(pos))
		}
	}
	pos := position{seq: []uint64{1 << 40, 127}, inc: []int64{1764401400000000123, 1764401400000000456}, change: []int64{1 << 40, 3}}
	if n := testing.AllocsPerRun(100, func() { tokenBytes(pos) }); n > 1 {
		t.Fatalf("tokenBytes allocates %v times, want 1", n)
	}
	m := &gatewayv1.WatchResponse{}
	if err := proto.Unmarshal(tokenBytes(pos), m); err != nil || m.GetResumeToken() != string(appendToken(nil, pos)) {
		t.Fatalf("tokenBytes(%v) decodes to %q (%v)", pos, m.GetResumeToken(), err)
	}
}

// eventChange is a created event's change number seq as a hub holds it, encoded for a
// watch response.
func eventChange(t testing.TB, seq int64) []byte {
	t.Helper()
	data, err := proto.Marshal(&eventsv1.Change{Sequence: seq, ResourceName: "events/e"})
	if err != nil {
		t.Fatal(err)
	}
	return encodeChange(typev1.ChangeKind_CHANGE_KIND_CREATED, Streams[0].field, data)
}

// TestSendBatches: with max_batch, what is waiting goes out together, never more than
// max_batch per message, without the changes a watcher does not get, each message with
// the position after its last item; without it, one change per message.
func TestSendBatches(t *testing.T) {
	t.Parallel()
	// Ten events, of which the watcher does not get the fourth and the tenth.
	var items []item
	for seq := range uint64(10) {
		it := item{stream: 0, seq: seq + 1, passed: int64(seq + 1)}
		if seq != 3 && seq != 9 {
			it.change = eventChange(t, int64(seq+1))
		}
		items = append(items, it)
	}
	tests := []struct {
		maxBatch int
		want     [][]int64 // changes per message
		tokens   []uint64  // events position per message
	}{
		{0, [][]int64{{1}, {2}, {3}, {5}, {6}, {7}, {8}, {9}}, []uint64{1, 2, 3, 5, 6, 7, 8, 9}},
		{1, [][]int64{{1}, {2}, {3}, {5}, {6}, {7}, {8}, {9}}, []uint64{1, 2, 3, 5, 6, 7, 8, 9}},
		{4, [][]int64{{1, 2, 3, 5}, {6, 7, 8, 9}}, []uint64{5, 9}},
		{100, [][]int64{{1, 2, 3, 5, 6, 7, 8, 9}}, []uint64{10}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.maxBatch), func(t *testing.T) {
			t.Parallel()
			s := New(nil, Config{}, nil, nil)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			buf := newWatchBuffer(len(items), 1<<20)
			for _, it := range items {
				if !buf.push(ctx, it, time.Second) {
					t.Fatal("no room in a buffer sized for every item")
				}
			}
			sent := make(chan *gatewayv1.WatchResponse)
			done := make(chan error, 1)
			go func() {
				done <- s.send(ctx, &serverStream{ctx: ctx, sent: sent}, position{seq: make([]uint64, 2), change: make([]int64, 2)}, tt.maxBatch, buf, nil)
			}()
			if m := <-sent; m.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
				t.Fatalf("first message %v, want the opening bookmark", m)
			}
			for i, want := range tt.want {
				m := <-sent
				var seqs []int64
				if tt.maxBatch == 0 {
					seqs = append(seqs, m.GetEventsChange().GetSequence())
				}
				for _, c := range m.GetChanges() {
					if c.GetType() != typev1.WatchEventType_WATCH_EVENT_TYPE_ADDED {
						t.Fatalf("batched change of type %v, want ADDED", c.GetType())
					}
					seqs = append(seqs, c.GetEventsChange().GetSequence())
				}
				if !slices.Equal(seqs, want) {
					t.Fatalf("message %d carries %v, want %v", i, seqs, want)
				}
				tok := string(appendToken(nil, position{seq: []uint64{tt.tokens[i], 0}, change: []int64{int64(tt.tokens[i]), 0}}))
				if m.GetResumeToken() != tok {
					t.Fatalf("message %d has token %q, want %q", i, m.GetResumeToken(), tok)
				}
			}
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Fatalf("send returned %v", err)
			}
			if held := buf.held.Load(); held != 0 {
				t.Fatalf("the buffer still counts %d bytes after every item was sent", held)
			}
		})
	}
}

// TestSendEndsWatch: how a reader's reason to end a watch treats the changes it had
// already buffered. A gap ends the watch after them (they precede it, and the error names
// the first change the client has not had), batched or not; an overflow or a rebuilt
// stream ends it at once, whatever is buffered.
func TestSendEndsWatch(t *testing.T) {
	t.Parallel()
	change := eventChange(t, 1)
	tests := []struct {
		name     string
		reason   error
		maxBatch int
		code     codes.Code
		message  string
		changes  int
	}{
		{"gap", gapError{service: "events", passed: 3, next: 5}, 0, codes.OutOfRange, "no longer holds changes 4 to 4", 3},
		{"gap, batched", gapError{service: "events", passed: 3, next: 5}, 2, codes.OutOfRange, "no longer holds changes 4 to 4", 3},
		{"overflow", errOverflow, 0, codes.ResourceExhausted, "reads more slowly", 0},
		{"rebuilt", rebuiltError{service: "events"}, 0, codes.OutOfRange, "was rebuilt", 0},
		{"closed", errClosed, 0, codes.Unavailable, "shutting down", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := New(nil, Config{}, nil, nil)
			// As a reader leaves it: its changes buffered, its reason given, the watch's
			// context cancelled.
			ctx, cancel := context.WithCancel(context.Background())
			wb := newWatchBuffer(8, 1<<20)
			for seq := range uint64(3) {
				if !wb.push(ctx, item{stream: 0, seq: seq + 1, change: change}, time.Second) {
					t.Fatal("no room in a buffer sized for every item")
				}
			}
			ended := make(chan error, 1)
			ended <- tt.reason
			cancel()
			sent := make(chan *gatewayv1.WatchResponse, 16)
			err := s.send(ctx, &serverStream{ctx: context.Background(), sent: sent}, position{seq: make([]uint64, 2), change: make([]int64, 2)}, tt.maxBatch, wb, ended)
			close(sent)
			// Mapped as the gateway's server maps what a handler returns.
			if st, _ := status.FromError(grpcserver.ToStatus(nil, err)); st.Code() != tt.code || !strings.Contains(st.Message(), tt.message) {
				t.Fatalf("send ended with %v, want %v saying %q", err, tt.code, tt.message)
			}
			n := 0
			for m := range sent {
				if m.GetType() == typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
					continue
				}
				n += max(len(m.GetChanges()), 1)
				if tt.maxBatch > 0 && len(m.GetChanges()) > tt.maxBatch {
					t.Errorf("a message carries %d changes, want at most %d", len(m.GetChanges()), tt.maxBatch)
				}
			}
			if n != tt.changes {
				t.Fatalf("%d buffered changes sent before the end, want %d", n, tt.changes)
			}
		})
	}
}

// TestBatchLinger: in a batched watch a change waits, up to BatchLinger, for others to
// share its message, and a full batch goes at once.
func TestBatchLinger(t *testing.T) {
	t.Parallel()
	change := eventChange(t, 1)
	s := New(nil, Config{BatchLinger: time.Hour}, nil, nil)
	wb := newWatchBuffer(4, 1<<20)
	buf := wb.items
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan *gatewayv1.WatchResponse)
	done := make(chan error, 1)
	go func() {
		done <- s.send(ctx, &serverStream{ctx: ctx, sent: sent}, position{seq: make([]uint64, 2), change: make([]int64, 2)}, 2, wb, nil)
	}()
	<-sent // the opening bookmark
	buf <- item{stream: 0, seq: 1, change: change}
	time.Sleep(50 * time.Millisecond) // the first change is waiting in the batch by now
	buf <- item{stream: 0, seq: 2, change: change}
	select {
	case m := <-sent:
		if n := len(m.GetChanges()); n != 2 {
			t.Fatalf("the first message carries %d changes, want both", n)
		}
	case <-time.After(waitFor):
		t.Fatal("a full batch was not sent at once")
	}
	cancel()
	<-done
}

// TestBatchBytesFitTheSendLimit: a batch never outgrows the largest message the gateway's
// server may send, whatever --watch-batch-bytes says; the token keeps its room.
func TestBatchBytesFitTheSendLimit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                string
		batchBytes, maxSend int
		want                int
	}{
		{"defaults, no send limit", 0, 0, 1 << 20},
		{"default under a large limit", 0, 16 << 20, 1 << 20},
		{"above the limit", 32 << 20, 16 << 20, 16<<20 - batchRoom},
		{"default above a small limit", 0, 64 << 10, 64<<10 - batchRoom},
		{"a limit smaller than the room", 0, 100, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Config{BatchBytes: tt.batchBytes, MaxSendBytes: tt.maxSend}.withDefaults().BatchBytes
			if got != tt.want {
				t.Errorf("BatchBytes = %d, want %d", got, tt.want)
			}
		})
	}
}
