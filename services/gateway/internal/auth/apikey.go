package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
)

// KeyPrefix starts every API key the gateway makes, so a leaked key is recognisable
// (secret scanners) and never mistaken for a JWT.
const KeyPrefix = "gk_"

// NewKey returns a new random API key (256 bits of entropy) and the hash to put in
// the keys file. Only the hash is stored; the key is shown once.
func NewKey() (key, hash string, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", "", err
	}
	key = KeyPrefix + base64.RawURLEncoding.EncodeToString(b)
	return key, HashKey(key), nil
}

// HashKey is the hex SHA-256 of a key, as stored in the keys file. A plain hash is
// enough: the keys are random 256-bit values, not passwords, so there is nothing to
// guess that a slow hash would protect.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}
