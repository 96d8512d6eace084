package domain

import (
	"testing"

	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
)

func validEvent() *eventsv1.Event {
	return &eventsv1.Event{
		Type:  eventsv1.EventType_EVENT_TYPE_DIPLOMACY,
		Title: "Paris meeting",
		When:  &typev1.When{Time: timestamppb.Now()},
	}
}

func TestValidateEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		edit   func(e *eventsv1.Event)
		fields []string
	}{
		{"valid", func(*eventsv1.Event) {}, nil},
		{"no type", func(e *eventsv1.Event) { e.Type = 0 }, []string{"event.type"}},
		{"no title", func(e *eventsv1.Event) { e.Title = "" }, []string{"event.title"}},
		{"no time", func(e *eventsv1.Event) { e.When = nil }, []string{"event.when.time"}},
		{"end before start", func(e *eventsv1.Event) {
			e.When.EndTime = timestamppb.New(e.When.Time.AsTime().Add(-1))
		}, []string{"event.when.end_time"}},
		{"quote without its source", func(e *eventsv1.Event) {
			e.Quotes = []*eventsv1.Quote{{Speaker: "actors/gbr", Text: "x", SourceIndex: 1}}
		}, []string{"event.quotes[0].source_index"}},
		{"fatalities out of order", func(e *eventsv1.Event) {
			low, high := int32(5), int32(1)
			e.Fatalities = &eventsv1.Fatalities{Best: 3, Low: &low, High: &high}
		}, []string{"event.fatalities.low", "event.fatalities.high"}},
		{"repeated participant", func(e *eventsv1.Event) {
			p := &eventsv1.Participant{Actor: "actors/fra", Role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_HOST}
			e.Participants = []*eventsv1.Participant{p, p}
		}, []string{"event.participants[1]"}},
		{"two ids in one system", func(e *eventsv1.Event) {
			e.ExternalIds = []*typev1.ExternalId{{System: typev1.ExternalSystem_EXTERNAL_SYSTEM_GDELT, Id: "1"}, {System: typev1.ExternalSystem_EXTERNAL_SYSTEM_GDELT, Id: "2"}}
		}, []string{"event.external_ids[1]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := validEvent()
			tt.edit(e)
			err := ValidateEvent(e, "event.")
			var got []string
			if ae, ok := apperr.As(err); ok {
				for _, v := range ae.Violations {
					got = append(got, v.Field)
				}
			} else if err != nil {
				t.Fatalf("error %v is not an apperr", err)
			}
			if len(got) != len(tt.fields) {
				t.Fatalf("violations %v, want %v", got, tt.fields)
			}
			for i := range got {
				if got[i] != tt.fields[i] {
					t.Errorf("violation %d = %s, want %s", i, got[i], tt.fields[i])
				}
			}
		})
	}
}

func TestValidateActor(t *testing.T) {
	t.Parallel()
	if err := ValidateActor(&eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE, DisplayName: "France", CountryCode: "FRA"}, ""); err != nil {
		t.Errorf("valid actor: %v", err)
	}
	err := ValidateActor(&eventsv1.Actor{Kind: eventsv1.ActorKind_ACTOR_KIND_STATE}, "actor.")
	ae, ok := apperr.As(err)
	if !ok || len(ae.Violations) != 2 {
		t.Fatalf("err = %v, want display_name and country_code violations", err)
	}
}

// FuzzCreateEventRequest: create requests come from any client. Whatever the bytes, the
// two validation layers (proto rules, then domain rules) reject or accept without
// panicking, and the domain rules only ever return typed errors.
func FuzzCreateEventRequest(f *testing.F) {
	seed, _ := proto.Marshal(&eventsv1.CreateEventRequest{EventId: "paris", Event: validEvent()})
	f.Add(seed)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0x02, 0x10, 0x01})
	v, err := protovalidate.New()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var req eventsv1.CreateEventRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		if v.Validate(&req) != nil {
			return
		}
		if err := ValidateEvent(req.GetEvent(), "event."); err != nil {
			if _, ok := apperr.As(err); !ok {
				t.Fatalf("untyped error %v", err)
			}
		}
	})
}
