// Package principal carries the authenticated caller from the gateway to the services.
//
// The gateway authenticates clients (API keys, JWTs) and forwards who they are in the
// metadata header `x-guarantor-principal` as a token signed with HMAC-SHA256 under a key
// shared only by the gateway and the services. A caller who reaches a service directly
// cannot forge it without the key, so the change log's principal and the licence
// visibility rules can be trusted. Tokens are short-lived to bound replay.
package principal

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// Header is the gRPC metadata key carrying the signed principal.
const Header = "x-guarantor-principal"

// Roles, from least to most privileged.
const (
	RoleViewer = "viewer"
	RoleEditor = "editor"
	RoleAdmin  = "admin"
)

// MinKeyBytes is the shortest signing key accepted.
const MinKeyBytes = 32

// Principal is an authenticated caller.
type Principal struct {
	// ID identifies the caller in the change log, e.g. "key:analyst-1" or "system:seed".
	ID string `json:"id"`
	// Role is viewer, editor or admin.
	Role string `json:"role"`
	// Entitlements unlock restricted data, e.g. "acled".
	Entitlements []string `json:"ent,omitempty"`
}

// Entitled reports whether p holds the entitlement.
func (p Principal) Entitled(e string) bool { return slices.Contains(p.Entitlements, e) }

// CanWrite reports whether p's role may change data.
func (p Principal) CanWrite() bool { return p.Role == RoleEditor || p.Role == RoleAdmin }

type ctxKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, ctxKey{}, p)
}

// FromContext returns the principal in ctx.
func FromContext(ctx context.Context) (Principal, bool) {
	p, ok := ctx.Value(ctxKey{}).(Principal)
	return p, ok
}

type claims struct {
	Principal
	Exp int64 `json:"exp"`
}

// Errors returned by Verify.
var (
	ErrMalformed = errors.New("principal token is malformed")
	ErrSignature = errors.New("principal token signature does not verify")
	ErrExpired   = errors.New("principal token has expired")
)

// Sign makes a token for p valid until now+ttl.
func Sign(p Principal, key []byte, now time.Time, ttl time.Duration) (string, error) {
	if len(key) < MinKeyBytes {
		return "", fmt.Errorf("principal: signing key is %d bytes, need at least %d", len(key), MinKeyBytes)
	}
	// Without HTML escaping a byte of the ID takes at most two in the JSON (U+2028 and
	// U+2029 are still escaped), which bounds the token (MaxEntitlements).
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(claims{Principal: p, Exp: now.Add(ttl).Unix()}); err != nil {
		return "", err
	}
	payload := base64.RawURLEncoding.EncodeToString(bytes.TrimSuffix(body.Bytes(), []byte("\n")))
	token := payload + "." + base64.RawURLEncoding.EncodeToString(mac(key, payload))
	if len(token) > MaxTokenBytes {
		// Verify would refuse it: say so here, where the cause is known.
		return "", fmt.Errorf("principal: the token of %s would be %d bytes, over the %d a service accepts", p.ID, len(token), MaxTokenBytes)
	}
	return token, nil
}

// Verify checks a token and returns its principal.
func Verify(token string, key []byte, now time.Time) (Principal, error) {
	c, err := verify(token, [][]byte{key})
	if err != nil {
		return Principal{}, err
	}
	if now.Unix() > c.Exp {
		return Principal{}, ErrExpired
	}
	return c.Principal, nil
}

// verify checks a token's form and its signature by any of keys, and decodes it,
// leaving its expiry to the caller.
func verify(token string, keys [][]byte) (claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || len(token) > MaxTokenBytes {
		return claims{}, ErrMalformed
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil {
		return claims{}, ErrMalformed
	}
	signed := false
	for _, key := range keys {
		if hmac.Equal(got, mac(key, payload)) {
			signed = true
			break
		}
	}
	if !signed {
		return claims{}, ErrSignature
	}
	body, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return claims{}, ErrMalformed
	}
	var c claims
	if err := json.Unmarshal(body, &c); err != nil || c.ID == "" {
		return claims{}, ErrMalformed
	}
	return c, nil
}

// MaxTokenBytes bounds a token: anything longer is refused unread.
const MaxTokenBytes = 4096

// MaxEntitlements is the most entitlements a principal may hold. Credentials that
// carry more are refused where they are read, so that every principal fits in a token:
// 32 of the longest entitlements (63 bytes) and an ID of 260 bytes sign to about
// 3.6 KiB (TestLargestPrincipalSigns).
const MaxEntitlements = 32

// Verifier is Verify with a memory of the tokens it accepted, for a key or several (a
// key being rotated in: docs/operations.md, "Rotate API keys"). The gateway
// signs one token per principal and reuses it for half its lifetime, so a service sees
// the same few tokens call after call; checking the signature and decoding the JSON
// again each time was a sixth of a point read's CPU. Only tokens that verified are
// remembered, each with its expiry, which is checked on every use. Safe for
// concurrent use.
type Verifier struct {
	keys [][]byte

	mu       sync.RWMutex
	accepted map[string]claims
}

// maxAccepted bounds a Verifier's memory; past it, it starts afresh.
const maxAccepted = 10000

// NewVerifier returns a Verifier for tokens signed with any of keys.
func NewVerifier(keys ...[]byte) *Verifier {
	return &Verifier{keys: keys, accepted: map[string]claims{}}
}

// Verify is Verify(token, key, now) for each of the Verifier's keys. The returned principal's Entitlements are shared
// between the calls that present the same token: read them, never modify them.
func (v *Verifier) Verify(token string, now time.Time) (Principal, error) {
	v.mu.RLock()
	c, ok := v.accepted[token]
	v.mu.RUnlock()
	if !ok {
		var err error
		if c, err = verify(token, v.keys); err != nil {
			return Principal{}, err
		}
	}
	if now.Unix() > c.Exp {
		if ok {
			v.mu.Lock()
			delete(v.accepted, token)
			v.mu.Unlock()
		}
		return Principal{}, ErrExpired
	}
	if !ok {
		v.mu.Lock()
		if len(v.accepted) >= maxAccepted {
			clear(v.accepted)
		}
		v.accepted[token] = c
		v.mu.Unlock()
	}
	return c.Principal, nil
}

func mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(payload))
	return h.Sum(nil)
}

// LoadKey reads a signing key file (raw bytes; surrounding whitespace ignored).
func LoadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("principal: read key: %w", err)
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < MinKeyBytes {
		return nil, fmt.Errorf("principal: key in %s is %d bytes, need at least %d", path, len(key), MinKeyBytes)
	}
	return key, nil
}
