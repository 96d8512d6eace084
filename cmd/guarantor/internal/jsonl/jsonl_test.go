package jsonl

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
)

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, m := range []proto.Message{
		&eventsv1.Actor{Name: "actors/fra", DisplayName: "France", Kind: eventsv1.ActorKind_ACTOR_KIND_STATE},
		&guaranteesv1.Guarantee{Name: "guarantees/g", Guarantor: &guaranteesv1.Party{Party: &guaranteesv1.Party_Undisclosed{Undisclosed: &guaranteesv1.Undisclosed{}}}},
	} {
		line, err := Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(line), "\n") {
			t.Errorf("line has a newline: %s", line)
		}
		got, err := Unmarshal(line)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(got, m) {
			t.Errorf("round trip: got %v, want %v", got, m)
		}
	}
}

func TestActorOrder(t *testing.T) {
	t.Parallel()
	mk := func(name, parent string) item {
		return item{msg: &eventsv1.Actor{Name: name, Parent: parent}}
	}
	names := func(items []item) string {
		var out []string
		for _, it := range items {
			out = append(out, strings.TrimPrefix(resourceName(it.msg), "actors/"))
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name  string
		items []item
		want  string
	}{
		// An export lists parents first: the order is kept as it is, so that the
		// importing store creates them in the same order and a re-export matches.
		{"file order kept", []item{mk("actors/a", ""), mk("actors/b", "actors/a"), mk("actors/c", "")}, "a b c"},
		// A child before its parent waits for it; a parent outside the file is not waited for.
		{"children after parents", []item{mk("actors/unit", "actors/army"), mk("actors/army", "actors/ukr"), mk("actors/ukr", ""), mk("actors/x", "actors/elsewhere")}, "ukr army unit x"},
		{"a cycle ends", []item{mk("actors/p", "actors/q"), mk("actors/q", "actors/p")}, "q p"},
	}
	for _, tc := range tests {
		if got := names(actorOrder(tc.items)); got != tc.want {
			t.Errorf("%s: order %q, want %q", tc.name, got, tc.want)
		}
	}
}

// FuzzUnmarshal: import files come from anywhere; a line either parses into one of our
// messages or is an error, never a panic.
func FuzzUnmarshal(f *testing.F) {
	line, _ := Marshal(&eventsv1.Actor{Name: "actors/fra"})
	f.Add(line)
	f.Add([]byte(`{"@type":"type.googleapis.com/guarantor.events.v1.Event","when":{"time":"x"}}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Unmarshal(b)
		if err == nil && m == nil {
			t.Fatal("no message and no error")
		}
	})
}
