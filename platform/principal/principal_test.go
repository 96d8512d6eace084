package principal

import (
	"errors"
	"fmt"
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
	v := NewVerifier(key)
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Verify(s, key, time.Unix(0, 0))
		if err == nil && s != tok && p.ID != "a" {
			t.Fatalf("accepted forged token %q as %+v", s, p)
		}
		// The Verifier, asked twice (the second time from its memory), agrees.
		for range 2 {
			vp, verr := v.Verify(s, time.Unix(0, 0))
			if !errors.Is(verr, err) || vp.ID != p.ID {
				t.Fatalf("Verifier says %+v, %v for %q; Verify says %+v, %v", vp, verr, s, p, err)
			}
		}
	})
}

// TestVerifier: a Verifier answers as Verify does, token after token, including for a
// token it accepted before and that has since expired, and never for one it refused.
func TestVerifier(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	p := Principal{ID: "key:analyst", Role: RoleEditor, Entitlements: []string{"acled"}}
	tok, err := Sign(p, key, now, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := Sign(Principal{ID: "key:other", Role: RoleViewer}, []byte(strings.Repeat("x", 32)), now, time.Minute)
	v := NewVerifier(key)
	steps := []struct {
		name   string
		token  string
		at     time.Time
		wantID string
		want   error
	}{
		{"first use", tok, now, "key:analyst", nil},
		{"again, remembered", tok, now.Add(30 * time.Second), "key:analyst", nil},
		{"remembered, then expired", tok, now.Add(2 * time.Minute), "", ErrExpired},
		{"expired, and not brought back", tok, now.Add(2 * time.Minute), "", ErrExpired},
		{"another key's token", other, now, "", ErrSignature},
		{"refused again", other, now, "", ErrSignature},
		{"malformed", "abc", now, "", ErrMalformed},
		{"too long", strings.Repeat("a", MaxTokenBytes) + "." + "b", now, "", ErrMalformed},
	}
	for _, st := range steps {
		got, err := v.Verify(st.token, st.at)
		if !errors.Is(err, st.want) || got.ID != st.wantID {
			t.Errorf("%s: Verify = %+v, %v; want ID %q, err %v", st.name, got, err, st.wantID, st.want)
		}
		ref, refErr := Verify(st.token, key, st.at)
		if !errors.Is(err, refErr) || got.ID != ref.ID {
			t.Errorf("%s: Verifier says %+v, %v; Verify says %+v, %v", st.name, got, err, ref, refErr)
		}
	}
	if _, ok := v.accepted[other]; ok {
		t.Error("a refused token was remembered")
	}
	if _, ok := v.accepted[tok]; ok {
		t.Error("an expired token is still remembered")
	}

	// The memory is bounded.
	for i := range maxAccepted + 10 {
		tok, _ := Sign(Principal{ID: fmt.Sprint("key:", i), Role: RoleViewer}, key, now, time.Minute)
		if _, err := v.Verify(tok, now); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(v.accepted); n > maxAccepted {
		t.Errorf("remembers %d tokens, bound %d", n, maxAccepted)
	}
}

// TestVerifierWithTwoKeys: during a rotation a service accepts tokens signed with the
// current key and with the one being rotated in, and still nothing else.
func TestVerifierWithTwoKeys(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	next := []byte(strings.Repeat("n", 32))
	v := NewVerifier(key, next)
	for _, tc := range []struct {
		name string
		key  []byte
		want error
	}{
		{"the current key", key, nil},
		{"the key rotated in", next, nil},
		{"a third key", []byte(strings.Repeat("x", 32)), ErrSignature},
	} {
		tok, err := Sign(Principal{ID: "key:" + tc.name, Role: RoleViewer}, tc.key, now, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		for _, attempt := range []string{"first", "remembered"} {
			got, err := v.Verify(tok, now)
			if !errors.Is(err, tc.want) || (err == nil && got.ID != "key:"+tc.name) {
				t.Errorf("%s, %s: Verify = %+v, %v; want err %v", tc.name, attempt, got, err, tc.want)
			}
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	now := time.Now()
	tok, _ := Sign(Principal{ID: "key:analyst", Role: RoleEditor, Entitlements: []string{"acled"}}, key, now, time.Minute)
	b.Run("Verify", func(b *testing.B) {
		for b.Loop() {
			if _, err := Verify(tok, key, now); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Verifier", func(b *testing.B) {
		v := NewVerifier(key)
		for b.Loop() {
			if _, err := v.Verify(tok, now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
