// Package auth authenticates the gateway's clients: bearer API keys, stored hashed in a
// keys file that is reloaded when it changes, and optionally JWTs verified against a
// JWKS file. It turns credentials into a principal.Principal; what the principal may do
// is decided by the gateway from its role.
package auth

import (
	"errors"
	"strings"
)

// MaxTokenBytes bounds a bearer token; longer ones are refused before any work.
const MaxTokenBytes = 4096

// ErrNoCredentials and ErrBadCredentials are what authentication fails with. They are
// deliberately vague: a client learns nothing about which keys exist.
var (
	ErrNoCredentials  = errors.New("missing credentials: send the header authorization: Bearer <API key or JWT>")
	ErrBadCredentials = errors.New("invalid credentials")
)

// ParseBearer extracts the token from an Authorization header value
// ("Bearer <token>", scheme case-insensitive, RFC 6750). The token must be 1 to
// MaxTokenBytes visible ASCII characters.
func ParseBearer(header string) (string, error) {
	if header == "" {
		return "", ErrNoCredentials
	}
	scheme, token, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", ErrBadCredentials
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || len(token) > MaxTokenBytes {
		return "", ErrBadCredentials
	}
	for i := 0; i < len(token); i++ {
		// RFC 6750 b64token characters are a subset of this; anything else (spaces,
		// control characters, non-ASCII) is refused rather than hashed.
		if c := token[i]; c <= ' ' || c > '~' {
			return "", ErrBadCredentials
		}
	}
	return token, nil
}

// looksLikeJWT reports whether a token has a JWT's shape (three base64url parts); API
// keys never contain dots.
func looksLikeJWT(token string) bool {
	return strings.Count(token, ".") == 2 && strings.HasPrefix(token, "eyJ")
}
