package auth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/principal"
)

func TestParseBearer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, want string
		err                error
	}{
		{"bearer", "Bearer gk_abc", "gk_abc", nil},
		{"case-insensitive scheme", "bearer gk_abc", "gk_abc", nil},
		{"extra spaces", "Bearer   gk_abc", "gk_abc", nil},
		{"empty", "", "", ErrNoCredentials},
		{"basic", "Basic dXNlcjpwYXNz", "", ErrBadCredentials},
		{"no token", "Bearer ", "", ErrBadCredentials},
		{"no space", "Bearergk_abc", "", ErrBadCredentials},
		{"space in token", "Bearer gk abc", "", ErrBadCredentials},
		{"control character", "Bearer gk\x00abc", "", ErrBadCredentials},
		{"non-ASCII", "Bearer gk_é", "", ErrBadCredentials},
		{"too long", "Bearer " + strings.Repeat("a", MaxTokenBytes+1), "", ErrBadCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseBearer(tt.header)
			if got != tt.want || !errors.Is(err, tt.err) {
				t.Fatalf("ParseBearer(%q) = %q, %v; want %q, %v", tt.header, got, err, tt.want, tt.err)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{"Bearer gk_abc", "bearer  x", "", "Basic x", "Bearer eyJ.a.b", "Bearer \xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		tok, err := ParseBearer(header)
		if err != nil {
			if tok != "" {
				t.Fatalf("token %q returned with error %v", tok, err)
			}
			return
		}
		if tok == "" || len(tok) > MaxTokenBytes || strings.ContainsAny(tok, " \t\r\n") {
			t.Fatalf("accepted token %q from %q", tok, header)
		}
		if !strings.HasSuffix(header, tok) {
			t.Fatalf("token %q is not the end of %q", tok, header)
		}
	})
}

func TestParseKeyFile(t *testing.T) {
	t.Parallel()
	hash := HashKey("gk_test")
	tests := []struct {
		name    string
		data    string
		wantN   int
		wantErr string
	}{
		{"json", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","entitlements":["acled"]}]}`, 1, ""},
		{"yaml", "keys:\n  - id: a\n    sha256: " + hash + "\n    role: admin\n", 1, ""},
		{"empty", "", 0, ""},
		{"disabled", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","disabled":true}]}`, 0, ""},
		{"unknown field", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","key":"gk_test"}]}`, 0, "unknown field"},
		{"bad role", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"root"}]}`, 0, "role"},
		{"bad hash", `{"keys":[{"id":"a","sha256":"abc","role":"viewer"}]}`, 0, "sha256"},
		{"duplicate id", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer"},{"id":"a","sha256":"` + HashKey("other") + `","role":"viewer"}]}`, 0, "duplicate"},
		{"duplicate hash", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer"},{"id":"b","sha256":"` + hash + `","role":"viewer"}]}`, 0, "same hash"},
		// A revoked entry's hash counts too, in either order: otherwise the revoked key
		// would work on under the other entry.
		{"duplicate hash, disabled first", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","disabled":true},{"id":"b","sha256":"` + hash + `","role":"admin"}]}`, 0, "same hash"},
		{"duplicate hash, disabled second", `{"keys":[{"id":"b","sha256":"` + hash + `","role":"admin"},{"id":"a","sha256":"` + hash + `","role":"viewer","disabled":true}]}`, 0, "same hash"},
		{"too many entitlements", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","entitlements":["e0","e1","e2","e3","e4","e5","e6","e7","e8","e9","e10","e11","e12","e13","e14","e15","e16","e17","e18","e19","e20","e21","e22","e23","e24","e25","e26","e27","e28","e29","e30","e31","e32"]}]}`, 0, "at most 32"},
		{"bad entitlement", `{"keys":[{"id":"a","sha256":"` + hash + `","role":"viewer","entitlements":["ACLED!"]}]}`, 0, "entitlement"},
		{"bad id", `{"keys":[{"id":"","sha256":"` + hash + `","role":"viewer"}]}`, 0, "id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, err := ParseKeyFile([]byte(tt.data))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), hash) {
					t.Fatalf("error leaks a hash: %v", err)
				}
				return
			}
			if err != nil || len(keys) != tt.wantN {
				t.Fatalf("keys = %v, %v; want %d", keys, err, tt.wantN)
			}
		})
	}
}

func FuzzParseKeyFile(f *testing.F) {
	f.Add([]byte(`{"keys":[{"id":"a","sha256":"` + HashKey("k") + `","role":"viewer"}]}`))
	f.Add([]byte("keys:\n  - id: a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, err := ParseKeyFile(data)
		if err != nil {
			return
		}
		for _, p := range keys {
			if !ValidRole(p.Role) || !strings.HasPrefix(p.ID, "key:") {
				t.Fatalf("accepted principal %+v", p)
			}
		}
	})
}

func TestKeyStoreLookup(t *testing.T) {
	t.Parallel()
	key, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, KeyPrefix) || HashKey(key) != hash {
		t.Fatalf("NewKey = %q, %q", key, hash)
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte("keys:\n  - id: analyst-1\n    sha256: "+hash+"\n    role: viewer\n    entitlements: [acled]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeyStore(path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{Keys: ks}
	p, err := a.Authenticate("Bearer " + key)
	if err != nil || p.ID != "key:analyst-1" || !p.Entitled("acled") || p.CanWrite() {
		t.Fatalf("Authenticate = %+v, %v", p, err)
	}
	if _, err := a.Authenticate("Bearer " + key + "x"); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("wrong key: %v", err)
	}
	if _, err := a.Authenticate("Bearer " + hash); !errors.Is(err, ErrBadCredentials) {
		t.Fatalf("the hash itself must not work as a key: %v", err)
	}
}

// jwtFixture is an issuer with RSA, EC and Ed25519 keys published in a JWKS file.
type jwtFixture struct {
	verifier *JWTVerifier
	keys     map[string]crypto.Signer // kid → private key
}

func b64u(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func newJWTFixture(t testing.TB) *jwtFixture {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecPub, err := ecKey.PublicKey.Bytes() // 0x04 || X || Y
	if err != nil {
		t.Fatal(err)
	}
	jwks := map[string]any{"keys": []map[string]string{
		{"kty": "RSA", "kid": "rsa", "n": b64u(rsaKey.N.Bytes()), "e": b64u(big.NewInt(int64(rsaKey.E)).Bytes())},
		{"kty": "EC", "kid": "ec", "crv": "P-256", "x": b64u(ecPub[1:33]), "y": b64u(ecPub[33:])},
		{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": b64u(edKey.Public().(ed25519.PublicKey))},
	}}
	data, _ := json.Marshal(jwks)
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	v, err := NewJWTVerifier(JWTConfig{JWKSFile: path, Issuer: "https://idp.example", Audience: "guarantor"}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &jwtFixture{verifier: v, keys: map[string]crypto.Signer{"rsa": rsaKey, "ec": ecKey, "ed": edKey}}
}

func TestJWTVerifierNeedsAnAudience(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewJWTVerifier(JWTConfig{JWKSFile: path, Issuer: "https://idp.example"}, zaptest.NewLogger(t)); err == nil || !strings.Contains(err.Error(), "--jwt-audience") {
		t.Fatalf("NewJWTVerifier without an audience: err = %v, want it refused, naming --jwt-audience", err)
	}
}

func (f *jwtFixture) sign(t testing.TB, method jwt.SigningMethod, kid string, c Claims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(f.keys[kid])
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTVerify(t *testing.T) {
	t.Parallel()
	f := newJWTFixture(t)
	now := time.Now()
	good := func() Claims {
		return Claims{
			RegisteredClaims: jwt.RegisteredClaims{
				Subject: "alice", Issuer: "https://idp.example", Audience: jwt.ClaimStrings{"guarantor"},
				ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
			},
			Role: "editor", Entitlements: []string{"acled", "BAD ENT"},
		}
	}
	tests := []struct {
		name   string
		token  func() string
		wantOK bool
	}{
		{"RS256", func() string { return f.sign(t, jwt.SigningMethodRS256, "rsa", good()) }, true},
		{"ES256", func() string { return f.sign(t, jwt.SigningMethodES256, "ec", good()) }, true},
		{"EdDSA", func() string { return f.sign(t, jwt.SigningMethodEdDSA, "ed", good()) }, true},
		{"expired", func() string {
			c := good()
			c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour))
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"no expiry", func() string {
			c := good()
			c.ExpiresAt = nil
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"wrong issuer", func() string {
			c := good()
			c.Issuer = "https://evil.example"
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"wrong audience", func() string {
			c := good()
			c.Audience = jwt.ClaimStrings{"other"}
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"bad role", func() string {
			c := good()
			c.Role = "root"
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"no subject", func() string {
			c := good()
			c.Subject = ""
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"control character in the subject", func() string {
			c := good()
			c.Subject = "alice\x00editor"
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"too many entitlements", func() string {
			c := good()
			c.Entitlements = nil
			for i := range principal.MaxEntitlements + 1 {
				c.Entitlements = append(c.Entitlements, fmt.Sprintf("e%d", i))
			}
			return f.sign(t, jwt.SigningMethodRS256, "rsa", c)
		}, false},
		{"unknown kid", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodRS256, good())
			tok.Header["kid"] = "other"
			s, _ := tok.SignedString(f.keys["rsa"])
			return s
		}, false},
		{"key of another kid", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodES256, good())
			tok.Header["kid"] = "rsa"
			s, _ := tok.SignedString(f.keys["ec"])
			return s
		}, false},
		{"HS256 with the public modulus", func() string {
			tok := jwt.NewWithClaims(jwt.SigningMethodHS256, good())
			tok.Header["kid"] = "rsa"
			s, _ := tok.SignedString(f.keys["rsa"].(*rsa.PrivateKey).N.Bytes())
			return s
		}, false},
		{"alg none", func() string {
			s, _ := jwt.NewWithClaims(jwt.SigningMethodNone, good()).SignedString(jwt.UnsafeAllowNoneSignatureType)
			return s
		}, false},
		{"tampered", func() string {
			s := f.sign(t, jwt.SigningMethodRS256, "rsa", good())
			parts := strings.Split(s, ".")
			c := good()
			c.Role = "admin"
			body, _ := json.Marshal(c)
			return parts[0] + "." + b64u(body) + "." + parts[2]
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := f.verifier.Verify(tt.token())
			if (err == nil) != tt.wantOK {
				t.Fatalf("Verify = %+v, %v; want ok %v", p, err, tt.wantOK)
			}
			if tt.wantOK && (p.ID != "jwt:alice" || p.Role != principal.RoleEditor || len(p.Entitlements) != 1 || p.Entitlements[0] != "acled") {
				t.Fatalf("principal = %+v", p)
			}
		})
	}
	// Through the authenticator, a JWT-shaped token goes to the verifier.
	a := &Authenticator{JWT: f.verifier}
	if _, err := a.Authenticate("Bearer " + f.sign(t, jwt.SigningMethodEdDSA, "ed", good())); err != nil {
		t.Fatal(err)
	}
}

func FuzzJWTVerify(f *testing.F) {
	fx := newJWTFixture(f)
	// RS256 (PKCS #1 v1.5) signatures are deterministic and not malleable.
	valid := fx.sign(f, jwt.SigningMethodRS256, "rsa", Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "a", Issuer: "https://idp.example", Audience: jwt.ClaimStrings{"guarantor"}, ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour)),
	}})
	f.Add(valid)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0.")
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, token string) {
		p, err := fx.verifier.Verify(token)
		if err != nil {
			return
		}
		// Only a token signed by a key of the set verifies; the fuzzer cannot forge one,
		// so anything accepted must be the seed itself.
		if token != valid {
			t.Fatalf("accepted a token that was not signed by the issuer: %q → %+v", token, p)
		}
	})
}

func TestParseJWKSRefusesPrivateAndWeakKeys(t *testing.T) {
	t.Parallel()
	tests := map[string]string{
		"private key":  `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"` + b64u(make([]byte, 32)) + `","d":"x"}]}`,
		"short RSA":    `{"keys":[{"kty":"RSA","n":"` + b64u(make([]byte, 128)) + `","e":"AQAB"}]}`,
		"off-curve EC": `{"keys":[{"kty":"EC","crv":"P-256","x":"` + b64u(make([]byte, 32)) + `","y":"` + b64u(make([]byte, 32)) + `"}]}`,
		"empty":        `{"keys":[]}`,
		"symmetric":    `{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`,
	}
	for name, data := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := ParseJWKS([]byte(data)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestWatchFileChecksOnceWatching: a change made after the caller read the file but
// before the watch existed sent no event; watchFile checks once as soon as it watches,
// without waiting for its poll.
func TestWatchFileChecksOnceWatching(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	checked := make(chan struct{}, 1)
	go watchFile(ctx, path, time.Hour, zaptest.NewLogger(t), func() {
		select {
		case checked <- struct{}{}:
		default:
		}
	})
	select {
	case <-checked:
	case <-time.After(5 * time.Second):
		t.Fatal("no check without an event or a poll")
	}
}
