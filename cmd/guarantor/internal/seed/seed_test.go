package seed

import (
	"bufio"
	"strings"
	"testing"

	"buf.build/go/protovalidate"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

// TestDatasetIsValid checks every line against the contracts' rules and the facts the
// seed must carry, without a server: a broken seed fails here, not at first start.
func TestDatasetIsValid(t *testing.T) {
	v, err := protovalidate.New()
	if err != nil {
		t.Fatal(err)
	}
	r, err := Reader()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	var events []*eventsv1.Event
	var guarantees []*guaranteesv1.Guarantee
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, jsonl.MaxLine)
	line := 0
	for sc.Scan() {
		line++
		m, err := jsonl.Unmarshal(sc.Bytes())
		if err != nil {
			t.Fatalf("line %d: %v", line, err)
		}
		if err := v.Validate(m); err != nil {
			t.Errorf("line %d: %v", line, err)
		}
		switch m := m.(type) {
		case *eventsv1.Actor:
			names[m.GetName()] = true
		case *eventsv1.Event:
			names[m.GetName()] = true
			events = append(events, m)
			if len(m.GetSources()) == 0 {
				t.Errorf("%s cites no source", m.GetName())
			}
		case *guaranteesv1.Framework:
			names[m.GetName()] = true
		case *guaranteesv1.Guarantee:
			guarantees = append(guarantees, m)
			if len(m.GetSources()) == 0 || m.GetSources()[0].GetExcerpt() == "" {
				t.Errorf("%s does not quote its source", m.GetName())
			}
		}
	}
	// Every reference resolves within the dataset.
	for _, e := range events {
		for _, p := range e.GetParticipants() {
			if !names[p.GetActor()] {
				t.Errorf("%s: unknown participant %s", e.GetName(), p.GetActor())
			}
		}
	}
	for _, g := range guarantees {
		refs := append([]string{g.GetFramework(), g.GetBeneficiary(), g.GetGuarantor().GetActor()}, g.GetSourceEvents()...)
		for _, ref := range refs {
			if ref != "" && !names[ref] {
				t.Errorf("%s: unknown reference %s", g.GetName(), ref)
			}
		}
	}
	// The facts the seed case must carry.
	byName := map[string]*eventsv1.Event{}
	for _, e := range events {
		byName[e.GetName()] = e
	}
	paris := byName["events/paris-meeting"]
	counts := map[string]int64{}
	for _, c := range paris.GetCounts() {
		counts[c.GetKind()] = c.GetValue()
	}
	if counts["participants"] != 35 || counts["heads_of_state_and_government"] != 27 {
		t.Errorf("Paris meeting counts = %v", counts)
	}
	if len(paris.GetQualityNotes()) == 0 || !strings.Contains(paris.GetQualityNotes()[0].GetText(), "nearly four years") {
		t.Error("the Paris meeting lacks the data-quality note on its date")
	}
	for name, region := range map[string]string{"events/sbu-strike-kostroma": "Kostroma", "events/sbu-strike-lipetsk": "Lipetsk"} {
		if e := byName[name]; e == nil || !strings.Contains(e.GetLocation().GetAdmin1(), region) {
			t.Errorf("%s does not carry its %s location", name, region)
		}
	}
	leads := map[string][]string{}
	for _, g := range guarantees {
		if g.GetRole() == guaranteesv1.Role_ROLE_LEAD {
			cell := g.GetCapability().String()
			leads[cell] = append(leads[cell], g.GetGuarantor().GetActor())
		}
	}
	if got := leads["CAPABILITY_CEASEFIRE_MONITORING"]; len(got) != 1 || got[0] != "actors/usa" {
		t.Errorf("cease-fire monitoring leads = %v, want the United States", got)
	}
	if got := strings.Join(leads["CAPABILITY_MILITARY_HUBS"], ","); got != "actors/gbr,actors/fra" {
		t.Errorf("military hub leads = %s, want the UK and France", got)
	}
}
