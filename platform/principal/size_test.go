package principal

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestLargestPrincipalSigns: the largest principal the gateway's credentials can
// produce (a JWT subject of 256 bytes that JSON escapes the most, MaxEntitlements of
// the longest entitlements) signs to a token every service accepts.
func TestLargestPrincipalSigns(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	var ents []string
	for i := range MaxEntitlements {
		e := fmt.Sprintf("e%02d", i)
		ents = append(ents, e+strings.Repeat("x", 63-len(e)))
	}
	p := Principal{ID: "jwt:" + strings.Repeat("\u2028", 256/3) + "<&", Role: RoleViewer, Entitlements: ents}
	tok, err := Sign(p, key, now, time.Minute)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	got, err := Verify(tok, key, now)
	if err != nil {
		t.Fatalf("Verify of a %d-byte token: %v", len(tok), err)
	}
	if got.ID != p.ID || len(got.Entitlements) != MaxEntitlements {
		t.Fatalf("Verify = %+v, want %+v", got, p)
	}
	if _, err := NewVerifier(key).Verify(tok, now); err != nil {
		t.Fatalf("Verifier: %v", err)
	}
	t.Logf("largest token: %d bytes of %d", len(tok), MaxTokenBytes)
}

// TestSignRefusesWhatVerifyWouldRefuse: a principal too large for a token is refused
// by Sign, with the reason, rather than signed into a token every service refuses as
// malformed.
func TestSignRefusesWhatVerifyWouldRefuse(t *testing.T) {
	t.Parallel()
	var ents []string
	for i := range 60 {
		ents = append(ents, fmt.Sprintf("org:example:dataset-%02d:%s", i, strings.Repeat("x", 24)))
	}
	_, err := Sign(Principal{ID: "key:analyst-1", Role: RoleViewer, Entitlements: ents}, key, time.Now(), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("Sign of a principal with 60 long entitlements: err = %v, want the size refused", err)
	}
}
