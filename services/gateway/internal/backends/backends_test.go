package backends

import (
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/principal"
)

func TestIsWrite(t *testing.T) {
	t.Parallel()
	tests := map[string]bool{
		"CreateEvent": true, "UpdateActor": true, "DeleteGuarantee": true, "BatchCreateEvents": true,
		"TransitionGuarantee": true, "RecordRatificationAction": true, "SatisfyCondition": true,
		"GetEvent": false, "ListEvents": false, "Watch": false, "GetCoverage": false, "ListActorCommitments": false,
	}
	for name, want := range tests {
		if got := IsWrite(name); got != want {
			t.Errorf("IsWrite(%s) = %v, want %v", name, got, want)
		}
	}
}

func TestMethodsTable(t *testing.T) {
	t.Parallel()
	m := NewMethods()
	got, ok := m.Lookup("/guarantor.events.v1.EventsService/Watch")
	if !ok || got.Backend != Events || !got.ServerStreaming || got.Write {
		t.Fatalf("events Watch = %+v, %v", got, ok)
	}
	got, ok = m.Lookup("/guarantor.gateway.v1.GatewayService/GetActorDossier")
	if !ok || got.Backend != "" || got.ServerStreaming {
		t.Fatalf("GetActorDossier = %+v, %v", got, ok)
	}
	if _, ok := m.Lookup("/guarantor.events.v1.EventsService/Nope"); ok {
		t.Fatal("unknown method found")
	}
}

func TestSignerReusesTokens(t *testing.T) {
	t.Parallel()
	key := []byte("0123456789abcdef0123456789abcdef")
	s, err := NewSigner(key, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	s.now = func() time.Time { return now }
	p := principal.Principal{ID: "key:a", Role: principal.RoleViewer, Entitlements: []string{"acled"}}
	t1, _ := s.Token(p)
	t2, _ := s.Token(p)
	if t1 != t2 {
		t.Fatal("token not reused")
	}
	got, err := principal.Verify(t1, key, now)
	if err != nil || got.ID != p.ID || !got.Entitled("acled") {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Past half its life a token is renewed, so a service never sees an expired one.
	now = now.Add(31 * time.Second)
	t3, _ := s.Token(p)
	if t3 == t1 {
		t.Fatal("token not renewed past half its lifetime")
	}
	// Another role is another token.
	t4, _ := s.Token(principal.Principal{ID: "key:a", Role: principal.RoleAdmin})
	if t4 == t3 {
		t.Fatal("token shared between roles")
	}
	if _, err := NewSigner([]byte("short"), time.Minute); err == nil {
		t.Fatal("short key accepted")
	}
}
