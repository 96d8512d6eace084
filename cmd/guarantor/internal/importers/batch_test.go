package importers

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
)

// fakeServer answers batch calls like the services: all or nothing, refusing a batch
// when any of its items is bad, in the ways the services have of saying so.
type fakeServer struct {
	bad   map[string]string // item -> how the server refuses it: "violation", "message", "anonymous"
	calls int
}

func (f *fakeServer) send(_ context.Context, items []string) ([]typev1.BatchOutcome, error) {
	f.calls++
	for i, it := range items {
		switch f.bad[it] {
		case "violation":
			st, _ := status.New(codes.InvalidArgument, "invalid request").WithDetails(&errdetails.BadRequest{
				FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: fmt.Sprintf("requests[%d].event.title", i), Description: "is required"}},
			})
			return nil, st.Err()
		case "message":
			return nil, status.Errorf(codes.AlreadyExists, "requests[%d]: events/%s already exists", i, it)
		case "anonymous":
			return nil, status.Error(codes.FailedPrecondition, "unknown actor: participants[0] names actors/x, which does not exist")
		case "down":
			return nil, status.Error(codes.Unavailable, "connection refused")
		}
	}
	out := make([]typev1.BatchOutcome, len(items))
	for i := range out {
		out[i] = typev1.BatchOutcome_BATCH_OUTCOME_CREATED
	}
	return out, nil
}

func TestWriteBatch(t *testing.T) {
	t.Parallel()
	items := make([]string, 40)
	for i := range items {
		items[i] = fmt.Sprintf("i%d", i)
	}
	tests := []struct {
		name    string
		bad     map[string]string
		want    map[string]string // item -> reason substring
		wantErr bool
	}{
		{name: "all good", bad: nil},
		{name: "blamed by field violation", bad: map[string]string{"i3": "violation"}, want: map[string]string{"i3": "event.title: is required"}},
		{name: "blamed by message", bad: map[string]string{"i7": "message", "i30": "message"}, want: map[string]string{"i7": "already exists", "i30": "already exists"}},
		{name: "not blamed: found by halving", bad: map[string]string{"i0": "anonymous", "i25": "anonymous", "i39": "anonymous"},
			want: map[string]string{"i0": "unknown actor", "i25": "unknown actor", "i39": "unknown actor"}},
		{name: "server down ends the import", bad: map[string]string{"i5": "down"}, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := &fakeServer{bad: tc.bad}
			res, err := WriteBatch(context.Background(), items, srv.send)
			if tc.wantErr {
				if status.Code(err) != codes.Unavailable {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				want, bad := tc.want[items[i]]
				switch {
				case bad && !strings.Contains(r.Reason, want):
					t.Errorf("%s: reason %q, want %q", items[i], r.Reason, want)
				case !bad && (r.Reason != "" || r.Outcome != typev1.BatchOutcome_BATCH_OUTCOME_CREATED):
					t.Errorf("%s: %+v, want created", items[i], r)
				}
			}
			if len(tc.bad) == 0 && srv.calls != 1 {
				t.Errorf("%d calls for a good batch", srv.calls)
			}
		})
	}
}

// More than maxBatchItems items go in several calls.
func TestWriteBatchSplitsAtTheServerLimit(t *testing.T) {
	t.Parallel()
	items := make([]string, maxBatchItems+5)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	var sizes []int
	res, err := WriteBatch(context.Background(), items, func(_ context.Context, batch []string) ([]typev1.BatchOutcome, error) {
		sizes = append(sizes, len(batch))
		return make([]typev1.BatchOutcome, len(batch)), nil
	})
	if err != nil || len(res) != len(items) || fmt.Sprint(sizes) != fmt.Sprintf("[%d 5]", maxBatchItems) {
		t.Errorf("sizes %v, err %v", sizes, err)
	}
}

func TestCodes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		fn   func(string) (string, bool)
		in   string
		want string
		ok   bool
	}{
		{ISO3, "ukr", "UKR", true},
		{ISO3, "EUR", "", false}, // CAMEO's Europe, not a country
		{ISO3, "UK", "", false},
		{ISO3FromNumeric, "804", "UKR", true},
		{ISO3FromNumeric, "4", "AFG", true},
		{ISO3FromNumeric, "0", "", false},
		{ISO3FromNumeric, "abc", "", false},
		{ISO3FromFIPS, "UP", "UKR", true},
		{ISO3FromFIPS, "RS", "RUS", true},
		{ISO3FromFIPS, "UK", "GBR", true},
		{ISO3FromFIPS, "GM", "DEU", true},
		{ISO3FromFIPS, "KV", "XKX", true},
		{ISO3FromFIPS, "ZZ", "", false},
	} {
		got, ok := tc.fn(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%q -> %q %v, want %q %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	// Every FIPS code maps to a country x/text knows.
	for fips := range fipsToISO2 {
		if iso, ok := ISO3FromFIPS(fips); !ok || len(iso) != 3 {
			t.Errorf("FIPS %s -> %q %v", fips, iso, ok)
		}
	}
	if CountryName("GBR") != "United Kingdom" {
		t.Errorf("CountryName(GBR) = %q", CountryName("GBR"))
	}
}

func TestSlugAndSnakeCase(t *testing.T) {
	t.Parallel()
	long := "Military Forces of Russia (2000-) Prison Guards and Some Other Very Long Qualifier Text"
	for _, tc := range []struct{ in, want string }{
		{"Military Forces of Russia (2000-)", "acled-military-forces-of-russia-2000"},
		{"Protesters (Ukraine)", "acled-protesters-ukraine"},
	} {
		if got := Slug("acled", tc.in); got != tc.want {
			t.Errorf("Slug(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{long, long + " 2", "Forces armées de Côte d'Ivoire", "Forces armees de Cote d'Ivoire", "???", ""} {
		id := Slug("acled", in)
		if !ValidID(id) {
			t.Errorf("Slug(%q) = %q, not an id", in, id)
		}
	}
	if Slug("acled", long) == Slug("acled", long+" 2") {
		t.Error("two long names share a slug")
	}
	if Slug("acled", "Forces armées de Côte d'Ivoire") == Slug("acled", "Forces armees de Cote d'Ivoire") {
		t.Error("accented and plain names share a slug")
	}
	for _, tc := range []struct{ in, want string }{
		{"Air/drone strike", "air_drone_strike"},
		{"Make statement, not specified below", "make_statement_not_specified_below"},
		{"2nd attempt", "n2nd_attempt"},
		{"///", ""},
	} {
		if got := SnakeCase(tc.in); got != tc.want {
			t.Errorf("SnakeCase(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	if s, cut := Truncate("abcdef", 4); s != "abc…" || !cut {
		t.Errorf("Truncate = %q %v", s, cut)
	}
	if TitleCase("UNITED KINGDOM") != "United Kingdom" || TitleCase("McDonald") != "McDonald" {
		t.Error("TitleCase")
	}
}

func TestSummaryString(t *testing.T) {
	t.Parallel()
	var s Summary
	s.Read, s.Created, s.Unchanged, s.Rejected, s.Filtered, s.ActorsCreated, s.ActorsExisting = 10, 3, 4, 2, 1, 2, 5
	if got := s.String(); got != "read 10, created 3, updated 0, unchanged 4, rejected 2, filtered 1; actors: created 2, existing 5" {
		t.Errorf("String = %q", got)
	}
	s = Summary{DryRun: true}
	s.Read, s.Rejected = 5, 1
	if got := s.String(); got != "read 5, created 0, updated 0, unchanged 0, rejected 1 (dry run: 4 valid, nothing written)" {
		t.Errorf("String = %q", got)
	}
}
