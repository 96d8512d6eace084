package domain

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestTimeFilterBeforeYear1678: an event of 2026 is after 1600-01-01 and before
// 2300-01-01; a List filtered on either bound must return it.
func TestTimeFilterBeforeYear1678(t *testing.T) {
	ctx := context.Background()
	svc, _ := engineService(t, "sqlite")
	e := &eventsv1.Event{
		Type: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, Title: "Paris meeting",
		When: &typev1.When{Time: timestamppb.New(time.Date(2026, 1, 6, 0, 0, 0, 0, time.UTC))},
	}
	if _, err := svc.Create(ctx, adminCall("/CreateEvent"), store.Events, "paris", e); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{`when.time > "1600-01-01"`, `when.time < "2300-01-01"`} {
		res, err := svc.List(ctx, adminPrincipal, store.Events, resource.ListRequest{Filter: f})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if len(res.Items) != 1 {
			t.Errorf("filter %s returned %d events, want the 2026 event", f, len(res.Items))
		}
	}
}

// TestOrderByTimeBeforeYear1678: the default order is when.time desc, so an event of
// 2026 comes before one of 1648. An event time before 1678 is accepted by ValidateEvent
// but indexed as its overflowed Unix-nanosecond value, which sorts it into the 2200s.
func TestOrderByTimeBeforeYear1678(t *testing.T) {
	ctx := context.Background()
	svc, _ := engineService(t, "sqlite")
	for id, year := range map[string]int{"westphalia": 1648, "paris": 2026} {
		e := &eventsv1.Event{
			Type: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, Title: id,
			When: &typev1.When{Time: timestamppb.New(time.Date(year, 10, 24, 0, 0, 0, 0, time.UTC))},
		}
		if _, err := svc.Create(ctx, adminCall("/CreateEvent"), store.Events, id, e); err != nil {
			t.Fatalf("create %s: %v", id, err)
		}
	}
	res, err := svc.List(ctx, adminPrincipal, store.Events, resource.ListRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range res.Items {
		got = append(got, resource.Name(m))
	}
	if len(got) != 2 || got[0] != "events/paris" {
		t.Errorf("when.time desc lists %v, want events/paris (2026) before events/westphalia (1648)", got)
	}
}
