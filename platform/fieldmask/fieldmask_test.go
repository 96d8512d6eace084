package fieldmask

import (
	"errors"
	"reflect"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	"google.golang.org/protobuf/proto"
)

var outputOnly = map[string]bool{"name": true, "etag": true, "revision": true, "create_time": true}

func base() *eventsv1.Event {
	return &eventsv1.Event{
		Name:     "events/a",
		Title:    "old",
		Summary:  "keep",
		Tags:     []string{"x", "y"},
		Location: &eventsv1.Location{Place: "Paris", CountryCode: "FRA"},
		Etag:     "e1",
	}
}

func TestApply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		src   *eventsv1.Event
		paths []string
		want  *eventsv1.Event
	}{
		{"scalar", &eventsv1.Event{Title: "new", Summary: "ignored"}, []string{"title"},
			func() *eventsv1.Event { e := base(); e.Title = "new"; return e }()},
		{"clear by omission", &eventsv1.Event{}, []string{"summary"},
			func() *eventsv1.Event { e := base(); e.Summary = ""; return e }()},
		{"replace list", &eventsv1.Event{Tags: []string{"z"}}, []string{"tags"},
			func() *eventsv1.Event { e := base(); e.Tags = []string{"z"}; return e }()},
		{"nested", &eventsv1.Event{Location: &eventsv1.Location{Place: "Lyon"}}, []string{"location.place"},
			func() *eventsv1.Event { e := base(); e.Location.Place = "Lyon"; return e }()},
		{"whole message", &eventsv1.Event{Location: &eventsv1.Location{Place: "Lyon"}}, []string{"location"},
			func() *eventsv1.Event { e := base(); e.Location = &eventsv1.Location{Place: "Lyon"}; return e }()},
		{"star keeps output only", &eventsv1.Event{Title: "t", Name: "events/zzz", Etag: "forged"}, []string{"*"},
			&eventsv1.Event{Name: "events/a", Title: "t", Etag: "e1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dst := base()
			if err := Apply(dst, tt.src, tt.paths, outputOnly); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(dst, tt.want) {
				t.Errorf("got %v\nwant %v", dst, tt.want)
			}
		})
	}
}

func TestApplyErrors(t *testing.T) {
	t.Parallel()
	for _, paths := range [][]string{nil, {"colour"}, {"etag"}, {"location.colour"}, {"tags.x"}, {"*", "title"}, {"fatalities.nope"}} {
		err := Apply(base(), &eventsv1.Event{}, paths, outputOnly)
		var fe *Error
		if !errors.As(err, &fe) {
			t.Errorf("Apply(%v) err = %v, want *fieldmask.Error", paths, err)
		}
	}
}

func TestApplyDoesNotAlias(t *testing.T) {
	t.Parallel()
	src := &eventsv1.Event{Location: &eventsv1.Location{Place: "Lyon"}}
	dst := base()
	if err := Apply(dst, src, []string{"location"}, outputOnly); err != nil {
		t.Fatal(err)
	}
	src.Location.Place = "changed"
	if dst.Location.Place != "Lyon" {
		t.Error("dst shares memory with src")
	}
}

func TestChanged(t *testing.T) {
	t.Parallel()
	a := base()
	b := base()
	b.Title = "new"
	b.Tags = []string{"x"}
	b.Etag = "e2"
	ignore := map[string]bool{"etag": true}
	if got, want := Changed(a, b, ignore), []string{"tags", "title"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changed = %v, want %v", got, want)
	}
	if got, want := Changed(nil, a, ignore), []string{"location", "name", "summary", "tags", "title"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Changed(nil) = %v, want %v", got, want)
	}
}
