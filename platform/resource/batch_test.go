package resource

import (
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/guarantor/guarantor/platform/apperr"
)

// TestBatchResultGroups: a stored batch answer comes back split into its groups, each
// decoded with its own collection; an answer stored before batches had groups is the
// main (last) group's; a retry of another shape is refused, not answered wrongly.
func TestBatchResultGroups(t *testing.T) {
	texts := &Collection{Name: "strings", New: func() proto.Message { return new(wrapperspb.StringValue) }}
	values := &Collection{Name: "values", New: func() proto.Message { return new(structpb.Value) }}
	groups := []Group{{Collection: texts, Field: "actors"}, {Collection: values, Field: "requests"}}

	var written batchResult
	written.add(wrapperspb.String("a"), Created)
	written.add(wrapperspb.String("b"), Unchanged)
	written.sizes = append(written.sizes, 2)
	written.add(structpb.NewNumberValue(7), Updated)
	written.sizes = append(written.sizes, 1)
	stored := roundTrip(t, &written)
	for name, b := range map[string]*batchResult{"fresh": &written, "stored": stored} {
		res, err := b.decode(groups)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(res) != 2 || len(res[0].Resources) != 2 || len(res[1].Resources) != 1 {
			t.Fatalf("%s: groups %+v, want 2 and 1 items", name, res)
		}
		if s, ok := res[0].Resources[1].(*wrapperspb.StringValue); !ok || s.GetValue() != "b" || res[0].Outcomes[1] != Unchanged {
			t.Errorf("%s: first group's second item %v (%v)", name, res[0].Resources[1], res[0].Outcomes[1])
		}
		if v, ok := res[1].Resources[0].(*structpb.Value); !ok || v.GetNumberValue() != 7 || res[1].Outcomes[0] != Updated {
			t.Errorf("%s: second group %v (%v)", name, res[1].Resources[0], res[1].Outcomes[0])
		}
	}

	// An answer stored before groups: field 1 and 2 only.
	var legacy batchResult
	legacy.add(structpb.NewStringValue("old"), Created)
	res, err := roundTrip(t, &legacy).decode(groups)
	if err != nil {
		t.Fatal(err)
	}
	if len(res[0].Resources) != 0 || len(res[1].Resources) != 1 || res[1].Resources[0].(*structpb.Value).GetStringValue() != "old" {
		t.Errorf("legacy answer decoded as %+v, want everything in the last group", res)
	}

	if _, err := stored.decode(groups[1:]); !apperr.Is(err, apperr.CodeFailedPrecondition) {
		t.Errorf("a retry of another shape: %v, want FAILED_PRECONDITION", err)
	}
}

// roundTrip is b as the idempotency table gives it back.
func roundTrip(t *testing.T, b *batchResult) *batchResult {
	t.Helper()
	data, err := b.marshal()
	if err != nil {
		t.Fatal(err)
	}
	var out batchResult
	if err := out.unmarshal(data); err != nil {
		t.Fatal(err)
	}
	return &out
}
