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
			checkQuotesCited(t, m)
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
	checkDomainEvents(t, byName)
	checkDomainGuarantees(t, guarantees)
}

// checkDomainEvents requires the events DOMAIN.md lists for the seed case ("The seed
// case"): who attended the Paris meeting, the statements and quotes of Starmer, Zelensky
// and Macron, Putin's stated position, the joint statement, the sideline meetings and
// what the SBU struck. A quote must be in the source it cites, so that every quote is
// traceable to the article's words.
func checkDomainEvents(t *testing.T, byName map[string]*eventsv1.Event) {
	// The meeting: European nations, Canada, the United States, the EU and NATO.
	attended := map[string]bool{}
	for _, p := range byName["events/paris-meeting"].GetParticipants() {
		attended[p.GetActor()] = true
	}
	for _, a := range []string{"actors/european-nations", "actors/can", "actors/usa", "actors/eu", "actors/nato"} {
		if !attended[a] {
			t.Errorf("events/paris-meeting: %s is not a participant", a)
		}
	}

	tests := []struct {
		name, subType string
		typ           eventsv1.EventType
		// participant: an actor that must take part, in this role.
		participant string
		role        eventsv1.ParticipantRole
		// speaker and quote: a quote that must be on the event (quote "" for none);
		// paraphrase when the article reports it indirectly.
		speaker, quote string
		paraphrase     bool
		// about: words the title or summary must carry (what the event was).
		about string
	}{
		{name: "events/starmer-statement", typ: eventsv1.EventType_EVENT_TYPE_STATEMENT, subType: "statement",
			participant: "actors/keir-starmer", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER,
			speaker: "actors/keir-starmer", quote: "Putin is not showing that he is ready for peace.", about: "binding commitments"},
		{name: "events/starmer-statement", typ: eventsv1.EventType_EVENT_TYPE_STATEMENT, subType: "statement",
			participant: "actors/keir-starmer", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER,
			speaker: "actors/keir-starmer", quote: "excellent progress", about: "cease-fire monitoring"},
		{name: "events/zelensky-news-conference", typ: eventsv1.EventType_EVENT_TYPE_STATEMENT, subType: "statement",
			participant: "actors/volodymyr-zelensky", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER,
			speaker: "actors/volodymyr-zelensky", quote: "on the ground, in the air, and at sea", about: "ratif"},
		{name: "events/macron-statement", typ: eventsv1.EventType_EVENT_TYPE_STATEMENT, subType: "statement",
			participant: "actors/emmanuel-macron", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER,
			speaker: "actors/emmanuel-macron", quote: "significant step", about: "significant step"},
		// Putin's position is reported, not quoted: a paraphrase.
		{name: "events/putin-position", typ: eventsv1.EventType_EVENT_TYPE_STATEMENT, subType: "statement",
			participant: "actors/vladimir-putin", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SPEAKER,
			speaker: "actors/vladimir-putin", quote: "comprehensive settlement", paraphrase: true, about: "NATO troops"},
		{name: "events/joint-statement", typ: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, subType: "joint_statement",
			participant: "actors/ukraine-allies", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_SIGNATORY,
			about: "first line of defen"},
		// The two meetings on the sidelines.
		{name: "events/zelensky-macron-meeting", typ: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, subType: "bilateral_meeting",
			participant: "actors/volodymyr-zelensky", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE, about: "sidelines"},
		{name: "events/military-leaders-meeting", typ: eventsv1.EventType_EVENT_TYPE_DIPLOMACY, subType: "bilateral_meeting",
			participant: "actors/gbr-armed-forces", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_ATTENDEE, about: "sidelines"},
		// The SBU's drone strikes: a military arsenal in Kostroma, an oil depot in Lipetsk.
		{name: "events/sbu-strike-kostroma", typ: eventsv1.EventType_EVENT_TYPE_MILITARY, subType: "air_drone_strike",
			participant: "actors/sbu", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR, about: "military arsenal"},
		{name: "events/sbu-strike-lipetsk", typ: eventsv1.EventType_EVENT_TYPE_MILITARY, subType: "air_drone_strike",
			participant: "actors/sbu", role: eventsv1.ParticipantRole_PARTICIPANT_ROLE_PERPETRATOR, about: "oil depot"},
	}
	for _, tt := range tests {
		e := byName[tt.name]
		if e == nil {
			t.Errorf("%s is missing", tt.name)
			continue
		}
		if e.GetType() != tt.typ || e.GetSubType() != tt.subType {
			t.Errorf("%s is %s/%s, want %s/%s", tt.name, e.GetType(), e.GetSubType(), tt.typ, tt.subType)
		}
		if !hasParticipant(e, tt.participant, tt.role) {
			t.Errorf("%s: %s is not a participant as %s", tt.name, tt.participant, tt.role)
		}
		if !strings.Contains(e.GetTitle()+" "+e.GetSummary(), tt.about) {
			t.Errorf("%s: title and summary do not say %q", tt.name, tt.about)
		}
		if tt.quote == "" {
			continue
		}
		q := findQuote(e, tt.speaker, tt.quote)
		if q == nil {
			t.Errorf("%s: no quote of %s with %q", tt.name, tt.speaker, tt.quote)
			continue
		}
		if q.GetParaphrase() != tt.paraphrase {
			t.Errorf("%s: quote %q paraphrase = %v, want %v", tt.name, q.GetText(), q.GetParaphrase(), tt.paraphrase)
		}
		// A direct quote is the article's words: the source it cites must contain them.
		src := e.GetSources()
		if i := int(q.GetSourceIndex()); i >= len(src) {
			t.Errorf("%s: quote %q cites source %d of %d", tt.name, q.GetText(), i, len(src))
		} else if !tt.paraphrase && !strings.Contains(src[i].GetExcerpt(), q.GetText()) {
			t.Errorf("%s: quote %q is not in the source it cites: %q", tt.name, q.GetText(), src[i].GetExcerpt())
		}
	}
}

// checkQuotesCited: a direct quote is the article's words, so the excerpt it cites must
// hold them; a paraphrase only has to cite a source that exists.
func checkQuotesCited(t *testing.T, e *eventsv1.Event) {
	t.Helper()
	src := e.GetSources()
	for _, q := range e.GetQuotes() {
		i := int(q.GetSourceIndex())
		switch {
		case i >= len(src):
			t.Errorf("%s: quote %q cites source %d of %d", e.GetName(), q.GetText(), i, len(src))
		case !q.GetParaphrase() && !strings.Contains(src[i].GetExcerpt(), q.GetText()):
			t.Errorf("%s: quote %q is not in the excerpt it cites: %q", e.GetName(), q.GetText(), src[i].GetExcerpt())
		}
	}
}

func hasParticipant(e *eventsv1.Event, actor string, role eventsv1.ParticipantRole) bool {
	for _, p := range e.GetParticipants() {
		if p.GetActor() == actor && p.GetRole() == role {
			return true
		}
	}
	return false
}

func findQuote(e *eventsv1.Event, speaker, words string) *eventsv1.Quote {
	for _, q := range e.GetQuotes() {
		if q.GetSpeaker() == speaker && strings.Contains(q.GetText(), words) {
			return q
		}
	}
	return nil
}

// checkDomainGuarantees requires the guarantees DOMAIN.md lists, with the shape the
// article gives each: who commits (or that the guarantor is undisclosed), the domain,
// capability and role, and the status or condition where DOMAIN.md names one.
func checkDomainGuarantees(t *testing.T, guarantees []*guaranteesv1.Guarantee) {
	byName := map[string]*guaranteesv1.Guarantee{}
	for _, g := range guarantees {
		byName[g.GetName()] = g
	}
	const undisclosed = "(undisclosed)"
	tests := []struct {
		name       string
		guarantor  string // an actor, or undisclosed
		domain     guaranteesv1.Domain
		capability guaranteesv1.Capability
		role       guaranteesv1.Role
		status     guaranteesv1.GuaranteeStatus // unspecified: DOMAIN.md names none
		condition  guaranteesv1.ConditionKind   // unspecified: none required
		binding    guaranteesv1.BindingLevel    // unspecified: not checked
		disclosure guaranteesv1.Disclosure      // unspecified: not checked
	}{
		// US-led monitoring and verification of a cease-fire.
		{name: "guarantees/us-ceasefire-monitoring", guarantor: "actors/usa", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_CEASEFIRE_MONITORING, role: guaranteesv1.Role_ROLE_LEAD,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE},
		// UK and French military hubs, conditional on a cease-fire.
		{name: "guarantees/uk-military-hubs", guarantor: "actors/gbr", domain: guaranteesv1.Domain_DOMAIN_LAND,
			capability: guaranteesv1.Capability_CAPABILITY_MILITARY_HUBS, role: guaranteesv1.Role_ROLE_LEAD,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE},
		{name: "guarantees/fr-military-hubs", guarantor: "actors/fra", domain: guaranteesv1.Domain_DOMAIN_LAND,
			capability: guaranteesv1.Capability_CAPABILITY_MILITARY_HUBS, role: guaranteesv1.Role_ROLE_LEAD,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_CEASEFIRE_IN_FORCE},
		// Long-term military support including armaments.
		{name: "guarantees/long-term-military-support", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_ARMAMENTS, role: guaranteesv1.Role_ROLE_CONTRIBUTOR},
		// Binding assistance in the event of further aggression: proposed, triggered by
		// renewed aggression.
		{name: "guarantees/binding-assistance-renewed-aggression", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_MUTUAL_ASSISTANCE, role: guaranteesv1.Role_ROLE_SUPPORTER,
			status:    guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_RENEWED_AGGRESSION,
			binding:   guaranteesv1.BindingLevel_BINDING_LEVEL_LEGALLY_BINDING},
		// Leads identified for land, air and sea, identity undisclosed.
		{name: "guarantees/land-lead", guarantor: undisclosed, domain: guaranteesv1.Domain_DOMAIN_LAND,
			capability: guaranteesv1.Capability_CAPABILITY_MULTINATIONAL_PRESENCE, role: guaranteesv1.Role_ROLE_LEAD,
			disclosure: guaranteesv1.Disclosure_DISCLOSURE_UNDISCLOSED},
		{name: "guarantees/air-lead", guarantor: undisclosed, domain: guaranteesv1.Domain_DOMAIN_AIR,
			capability: guaranteesv1.Capability_CAPABILITY_MULTINATIONAL_PRESENCE, role: guaranteesv1.Role_ROLE_LEAD,
			disclosure: guaranteesv1.Disclosure_DISCLOSURE_UNDISCLOSED},
		{name: "guarantees/sea-lead", guarantor: undisclosed, domain: guaranteesv1.Domain_DOMAIN_SEA,
			capability: guaranteesv1.Capability_CAPABILITY_MULTINATIONAL_PRESENCE, role: guaranteesv1.Role_ROLE_LEAD,
			disclosure: guaranteesv1.Disclosure_DISCLOSURE_UNDISCLOSED},
		// A multinational presence that needs national legislatures' approval.
		{name: "guarantees/multinational-presence", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_MULTINATIONAL_PRESENCE, role: guaranteesv1.Role_ROLE_CONTRIBUTOR,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_LEGISLATIVE_APPROVAL},
		// Support through weapons, technology and intelligence sharing.
		{name: "guarantees/allies-weapons", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_ARMAMENTS, role: guaranteesv1.Role_ROLE_SUPPORTER},
		{name: "guarantees/allies-technology", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_TECHNOLOGY, role: guaranteesv1.Role_ROLE_SUPPORTER},
		{name: "guarantees/allies-intelligence-sharing", guarantor: "actors/ukraine-allies", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_INTELLIGENCE_SHARING, role: guaranteesv1.Role_ROLE_SUPPORTER},
		// Ukraine's armed forces as the first line of defence (once a peace agreement is
		// finalised).
		{name: "guarantees/ukraine-first-line", guarantor: "actors/ukr-armed-forces", domain: guaranteesv1.Domain_DOMAIN_MULTI_DOMAIN,
			capability: guaranteesv1.Capability_CAPABILITY_SELF_DEFENSE, role: guaranteesv1.Role_ROLE_LEAD,
			condition: guaranteesv1.ConditionKind_CONDITION_KIND_PEACE_AGREEMENT_SIGNED},
	}
	for _, tt := range tests {
		g := byName[tt.name]
		if g == nil {
			t.Errorf("%s is missing", tt.name)
			continue
		}
		who := g.GetGuarantor().GetActor()
		if g.GetGuarantor().GetUndisclosed() != nil {
			who = undisclosed
		}
		if who != tt.guarantor {
			t.Errorf("%s: guarantor %q, want %q", tt.name, who, tt.guarantor)
		}
		if g.GetBeneficiary() != "actors/ukr" {
			t.Errorf("%s: beneficiary %q, want actors/ukr", tt.name, g.GetBeneficiary())
		}
		if g.GetDomain() != tt.domain || g.GetCapability() != tt.capability || g.GetRole() != tt.role {
			t.Errorf("%s: %s %s %s, want %s %s %s", tt.name, g.GetDomain(), g.GetCapability(), g.GetRole(), tt.domain, tt.capability, tt.role)
		}
		if g.GetFramework() != "frameworks/paris-declaration" {
			t.Errorf("%s: framework %q, want the Paris declaration", tt.name, g.GetFramework())
		}
		if tt.status != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED && g.GetStatus() != tt.status {
			t.Errorf("%s: status %s, want %s", tt.name, g.GetStatus(), tt.status)
		}
		if tt.binding != guaranteesv1.BindingLevel_BINDING_LEVEL_UNSPECIFIED && g.GetBindingLevel() != tt.binding {
			t.Errorf("%s: binding level %s, want %s", tt.name, g.GetBindingLevel(), tt.binding)
		}
		if tt.disclosure != guaranteesv1.Disclosure_DISCLOSURE_UNSPECIFIED && g.GetQuantity().GetDisclosure() != tt.disclosure {
			t.Errorf("%s: quantity disclosure %s, want %s", tt.name, g.GetQuantity().GetDisclosure(), tt.disclosure)
		}
		if tt.condition != guaranteesv1.ConditionKind_CONDITION_KIND_UNSPECIFIED && !hasCondition(g, tt.condition) {
			t.Errorf("%s: no %s condition", tt.name, tt.condition)
		}
	}
}

func hasCondition(g *guaranteesv1.Guarantee, kind guaranteesv1.ConditionKind) bool {
	for _, c := range g.GetConditions() {
		if c.GetKind() == kind {
			return true
		}
	}
	return false
}
