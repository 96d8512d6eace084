package apitype_test

import (
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/resource"
)

func TestChangeEncoding(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 1, 6, 12, 0, 0, 0, time.UTC)
	newEvents := func() proto.Message { return &eventsv1.Change{} }
	newGuarantees := func() proto.Message { return &guaranteesv1.Change{} }
	codecs := map[string]struct {
		encode resource.Encoder
		decode resource.Decoder
	}{
		"events":     {apitype.Codec[*eventsv1.Change]{}.Encode, apitype.Codec[*eventsv1.Change]{}.Decode},
		"guarantees": {apitype.Codec[*guaranteesv1.Change]{}.Encode, apitype.Codec[*guaranteesv1.Change]{}.Decode},
	}
	g := &guaranteesv1.Guarantee{Name: "guarantees/g", Title: "hubs"}
	tests := []struct {
		name      string
		service   string
		newChange func() proto.Message
		change    *resource.Change
		want      proto.Message
	}{
		{"an event's creation", "events", newEvents,
			&resource.Change{Seq: 7, ID: "events-7", Time: at, Kind: resource.KindCreated, Name: "events/e", Resource: &eventsv1.Event{Name: "events/e"},
				Changed: []string{"name", "title"}, Principal: "key:editor", RequestID: "r1"},
			&eventsv1.Change{Sequence: 7, Id: "events-7", ResourceName: "events/e", Kind: typev1.ChangeKind_CHANGE_KIND_CREATED,
				Resource: &eventsv1.Change_Event{Event: &eventsv1.Event{Name: "events/e"}}, Principal: "key:editor", RequestId: "r1"}},
		{"a transition with its reason and evidence", "guarantees", newGuarantees,
			&resource.Change{Seq: 9, ID: "guarantees-9", Time: at, Kind: "transitioned", Name: "guarantees/g", Resource: g,
				Note: resource.Note{Reason: "pledged", Evidence: "events/e"}},
			&guaranteesv1.Change{Sequence: 9, Id: "guarantees-9", ResourceName: "guarantees/g", Kind: typev1.ChangeKind_CHANGE_KIND_TRANSITIONED,
				Resource: &guaranteesv1.Change_Guarantee{Guarantee: g}, Reason: "pledged", EvidenceEvent: "events/e"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := codecs[tt.service].encode(tt.change)
			if err != nil {
				t.Fatal(err)
			}
			got := tt.newChange()
			if err := proto.Unmarshal(b, got); err != nil {
				t.Fatal(err)
			}
			r := got.ProtoReflect()
			ts := r.Get(r.Descriptor().Fields().ByName("time")).Message().Interface()
			// time and changed_fields are checked apart from the rest.
			r.Clear(r.Descriptor().Fields().ByName("time"))
			mask := r.Get(r.Descriptor().Fields().ByName("changed_fields")).Message().Interface()
			r.Clear(r.Descriptor().Fields().ByName("changed_fields"))
			if !proto.Equal(got, tt.want) {
				t.Errorf("encoded %v, want %v", got, tt.want)
			}
			if !proto.Equal(ts, timestampOf(at)) || len(tt.change.Changed) != len(maskPaths(mask)) {
				t.Errorf("time %v, mask %v", ts, mask)
			}
			m, err := codecs[tt.service].decode(b)
			if err != nil || !proto.Equal(m, tt.change.Resource) {
				t.Errorf("decoded %v, %v; want %v", m, err, tt.change.Resource)
			}
		})
	}
	if _, err := codecs["events"].encode(&resource.Change{Resource: &guaranteesv1.Framework{}}); err == nil {
		t.Error("an events Change carried a framework")
	}
	if _, err := codecs["events"].decode(nil); err == nil {
		t.Error("a change without a resource decoded")
	}
	var codec apitype.Codec[*guaranteesv1.Change]
	b, err := codec.Encode(&resource.Change{Seq: 1, Name: "guarantees/g", Kind: resource.KindCreated, Resource: &guaranteesv1.Guarantee{Name: "guarantees/g"}})
	if err != nil {
		t.Fatal(err)
	}
	if ch, err := codec.DecodeChange(b); err != nil || ch.GetGuarantee().GetName() != "guarantees/g" || ch.GetSequence() != 1 {
		t.Errorf("DecodeChange = %v, %v", ch, err)
	}
	if r, err := codec.Decode(b); err != nil || resource.Name(r) != "guarantees/g" {
		t.Errorf("Decode = %v, %v", r, err)
	}
}

func timestampOf(t time.Time) proto.Message { return timestamppb.New(t) }

func maskPaths(m proto.Message) []string { return m.(*fieldmaskpb.FieldMask).GetPaths() }
