package pagination

import (
	"errors"
	"reflect"
	"testing"
)

func TestSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   int32
		want int
		err  error
	}{
		{"zero is default", 0, DefaultSize, nil},
		{"small", 7, 7, nil},
		{"max", MaxSize, MaxSize, nil},
		{"above max is capped", MaxSize + 1, MaxSize, nil},
		{"negative", -1, 0, ErrNegativeSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Size(tt.in)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Errorf("Size(%d) = %d, %v; want %d, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

func TestParseOrderBy(t *testing.T) {
	t.Parallel()
	allowed := map[string]string{"when.time": "e.when_time", "create_time": "e.create_time"}
	got, err := ParseOrderBy("when.time desc, create_time", allowed, "")
	if err != nil {
		t.Fatal(err)
	}
	want := []Order{{"when.time", "e.when_time", true}, {"create_time", "e.create_time", false}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if def, _ := ParseOrderBy(" ", allowed, "create_time desc"); len(def) != 1 || !def[0].Desc {
		t.Errorf("default not applied: %+v", def)
	}
	for _, bad := range []string{"title", "when.time sideways", "when.time desc extra", "create_time, create_time", ","} {
		if _, err := ParseOrderBy(bad, allowed, ""); err == nil {
			t.Errorf("ParseOrderBy(%q) accepted", bad)
		}
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	orders := []Order{{Column: "t", Desc: true}}
	sql, args, err := After(orders, "name", []any{int64(5), "events/a"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "((t < ?) OR (t = ? AND name > ?))"; sql != want {
		t.Errorf("sql = %q, want %q", sql, want)
	}
	if !reflect.DeepEqual(args, []any{int64(5), int64(5), "events/a"}) {
		t.Errorf("args = %v", args)
	}
	if _, _, err := After(orders, "name", []any{"x"}); err == nil {
		t.Error("wrong key count accepted")
	}
	if got := OrderSQL(orders, "name"); got != "t DESC, name ASC" {
		t.Errorf("OrderSQL = %q", got)
	}
}

func TestToken(t *testing.T) {
	t.Parallel()
	q := QueryKey("type = DIPLOMACY", "when.time desc", "false")
	tok := Encode(q, []any{int64(1767657600000000000), "events/paris"})
	last, err := Decode(tok, q)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(last, []any{int64(1767657600000000000), "events/paris"}) {
		t.Errorf("round trip = %#v", last)
	}
	other := QueryKey("type = MILITARY", "when.time desc", "false")
	if _, err := Decode(tok, other); !errors.Is(err, ErrQueryChanged) {
		t.Errorf("changed query: err = %v", err)
	}
	for _, bad := range []string{"!!!", "e30", Encode(q, []any{1.5})} {
		if _, err := Decode(bad, q); !errors.Is(err, ErrBadToken) {
			t.Errorf("Decode(%q) err = %v, want ErrBadToken", bad, err)
		}
	}
}

// FuzzDecode: page tokens come from clients; decoding never panics and only yields
// int64, string or bool keys.
func FuzzDecode(f *testing.F) {
	q := QueryKey("x")
	f.Add(Encode(q, []any{int64(1), "a"}))
	f.Add("e30")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		last, err := Decode(s, q)
		if err != nil {
			return
		}
		for _, v := range last {
			switch v.(type) {
			case int64, string, bool:
			default:
				t.Fatalf("key of type %T", v)
			}
		}
	})
}
