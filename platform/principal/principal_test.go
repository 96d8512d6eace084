package principal

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var key = []byte(strings.Repeat("k", 32))

func TestSignVerify(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	p := Principal{ID: "key:analyst", Role: RoleEditor, Entitlements: []string{"acled"}}
	tok, err := Sign(p, key, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(tok, key, now.Add(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != p.ID || !got.Entitled("acled") || !got.CanWrite() {
		t.Errorf("got %+v", got)
	}
	// Re-sign nothing, just swap the body for one naming another principal.
	other, _ := Sign(Principal{ID: "key:admin", Role: RoleAdmin}, key, now, time.Minute)
	body, _, _ := strings.Cut(other, ".")
	_, sig, _ := strings.Cut(tok, ".")
	forgedBody := body + "." + sig
	tests := []struct {
		name  string
		token string
		key   []byte
		at    time.Time
		want  error
	}{
		{"other key", tok, []byte(strings.Repeat("x", 32)), now, ErrSignature},
		{"expired", tok, key, now.Add(2 * time.Minute), ErrExpired},
		{"no signature", "abc", key, now, ErrMalformed},
		{"bad base64", "abc.%%%", key, now, ErrMalformed},
		{"tampered body", forgedBody, key, now, ErrSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Verify(tt.token, tt.key, tt.at); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := Sign(p, []byte("short"), now, time.Minute); err == nil {
		t.Error("short key accepted")
	}
}

// FuzzVerify: the principal header comes from whoever calls a service; Verify must never
// panic and never accept a token not signed with the key.
func FuzzVerify(f *testing.F) {
	tok, _ := Sign(Principal{ID: "a", Role: RoleViewer}, key, time.Unix(0, 0), time.Hour)
	f.Add(tok)
	f.Add("x.y")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Verify(s, key, time.Unix(0, 0))
		if err == nil && s != tok && p.ID != "a" {
			t.Fatalf("accepted forged token %q as %+v", s, p)
		}
	})
}
