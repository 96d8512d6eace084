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

func TestActorLevels(t *testing.T) {
	t.Parallel()
	mk := func(name, parent string) item {
		return item{msg: &eventsv1.Actor{Name: name, Parent: parent}}
	}
	levels := actorLevels([]item{mk("actors/unit", "actors/army"), mk("actors/army", "actors/ukr"), mk("actors/ukr", ""), mk("actors/x", "actors/elsewhere")})
	var got [][]string
	for _, l := range levels {
		var names []string
		for _, it := range l {
			names = append(names, resourceName(it.msg))
		}
		got = append(got, names)
	}
	want := "[[actors/ukr actors/x] [actors/army] [actors/unit]]"
	if s := fmtLevels(got); s != want {
		t.Errorf("levels = %s, want %s", s, want)
	}
}

func fmtLevels(l [][]string) string {
	var parts []string
	for _, names := range l {
		parts = append(parts, "["+strings.Join(names, " ")+"]")
	}
	return "[" + strings.Join(parts, " ") + "]"
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
