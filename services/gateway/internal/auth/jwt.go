package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/golang-jwt/jwt/v5"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/principal"
)

// JWTConfig configures JWT verification.
type JWTConfig struct {
	// JWKSFile holds the JSON Web Key Set of the trusted issuer (public keys only).
	JWKSFile string
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audience, when set, must be in the token's "aud".
	Audience string
}

// Claims are the claims the gateway reads from a JWT besides the registered ones:
// "role" (viewer, editor or admin; viewer when absent) and "entitlements".
type Claims struct {
	jwt.RegisteredClaims
	Role         string   `json:"role,omitempty"`
	Entitlements []string `json:"entitlements,omitempty"`
}

// validMethods are the asymmetric algorithms accepted. HMAC ("HS256") is not: its key
// would have to be shared with every verifier, and "none" never is.
var validMethods = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// clockSkew is how far the issuer's clock may be off.
const clockSkew = 30 * time.Second

// keySet is a parsed JWKS.
type keySet struct {
	byKid map[string]any
	all   []any
}

// ParseJWKS parses a JSON Web Key Set with RSA, EC (P-256, P-384, P-521) and Ed25519
// public keys. Keys marked for encryption ("use": "enc") are skipped.
func ParseJWKS(data []byte) (*keySet, error) {
	var doc struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Crv string `json:"crv"`
			N   string `json:"n"`
			E   string `json:"e"`
			X   string `json:"x"`
			Y   string `json:"y"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("jwks: %w", err)
	}
	ks := &keySet{byKid: map[string]any{}}
	for i, k := range doc.Keys {
		if k.Use == "enc" {
			continue
		}
		if k.D != "" {
			return nil, fmt.Errorf("jwks: key %d (%q) contains a private key: publish public keys only", i, k.Kid)
		}
		var pub any
		var err error
		switch k.Kty {
		case "RSA":
			pub, err = rsaKey(k.N, k.E)
		case "EC":
			pub, err = ecKey(k.Crv, k.X, k.Y)
		case "OKP":
			pub, err = okpKey(k.Crv, k.X)
		default:
			err = fmt.Errorf("unsupported kty %q", k.Kty)
		}
		if err != nil {
			return nil, fmt.Errorf("jwks: key %d (%q): %w", i, k.Kid, err)
		}
		if k.Kid != "" {
			if _, dup := ks.byKid[k.Kid]; dup {
				return nil, fmt.Errorf("jwks: duplicate kid %q", k.Kid)
			}
			ks.byKid[k.Kid] = pub
		}
		ks.all = append(ks.all, pub)
	}
	if len(ks.all) == 0 {
		return nil, errors.New("jwks: no signing keys")
	}
	return ks, nil
}

func b64(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

func rsaKey(n, e string) (*rsa.PublicKey, error) {
	nb, err := b64(n)
	if err != nil || len(nb) < 256 {
		return nil, errors.New("RSA modulus must be base64url and at least 2048 bits")
	}
	eb, err := b64(e)
	if err != nil || len(eb) == 0 || len(eb) > 4 {
		return nil, errors.New("invalid RSA exponent")
	}
	exp := int(new(big.Int).SetBytes(eb).Int64())
	if exp < 3 || exp%2 == 0 {
		return nil, errors.New("invalid RSA exponent")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(nb), E: exp}, nil
}

func ecKey(crv, x, y string) (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("unsupported curve %q", crv)
	}
	xb, err1 := b64(x)
	yb, err2 := b64(y)
	size := (curve.Params().BitSize + 7) / 8
	if err1 != nil || err2 != nil || len(xb) != size || len(yb) != size {
		return nil, errors.New("invalid EC coordinates")
	}
	point := append(append([]byte{4}, xb...), yb...)
	// ParseUncompressedPublicKey checks the point is on the curve.
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

func okpKey(crv, x string) (ed25519.PublicKey, error) {
	if crv != "Ed25519" {
		return nil, fmt.Errorf("unsupported OKP curve %q", crv)
	}
	xb, err := b64(x)
	if err != nil || len(xb) != ed25519.PublicKeySize {
		return nil, errors.New("invalid Ed25519 key")
	}
	return ed25519.PublicKey(xb), nil
}

// JWTVerifier verifies JWTs against a JWKS file, reloaded when it changes.
type JWTVerifier struct {
	cfg    JWTConfig
	log    *zap.Logger
	keys   atomic.Pointer[keySet]
	parser *jwt.Parser

	mu      sync.Mutex
	lastSum [32]byte
}

// NewJWTVerifier loads the JWKS file; it must parse. An audience is required: an
// identity provider signs the tokens of all its applications with the keys of one JWKS,
// and without an audience a token it issued for another application (with a role claim
// meant for that one) would be accepted here.
func NewJWTVerifier(cfg JWTConfig, log *zap.Logger) (*JWTVerifier, error) {
	if cfg.Audience == "" {
		return nil, errors.New("jwt: an audience is required with a JWKS (--jwt-audience): the aud claim your identity provider puts in the tokens it issues for Guarantor")
	}
	if log == nil {
		log = zap.NewNop()
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(validMethods),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		// One encoding per token: no alternative spellings of the same signature.
		jwt.WithStrictDecoding(),
	}
	if cfg.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(cfg.Issuer))
	}
	if cfg.Audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.Audience))
	}
	v := &JWTVerifier{cfg: cfg, log: log.With(zap.String("jwks_file", cfg.JWKSFile)), parser: jwt.NewParser(opts...)}
	if _, err := v.Reload(); err != nil {
		return nil, err
	}
	return v, nil
}

// Reload reads the JWKS file again; changed is false when its content is the same.
func (v *JWTVerifier) Reload() (changed bool, err error) {
	data, err := os.ReadFile(v.cfg.JWKSFile)
	if err != nil {
		return false, fmt.Errorf("jwks: %w", err)
	}
	sum := sha256.Sum256(data)
	v.mu.Lock()
	defer v.mu.Unlock()
	if sum == v.lastSum && v.keys.Load() != nil {
		return false, nil
	}
	ks, err := ParseJWKS(data)
	if err != nil {
		return false, err
	}
	v.keys.Store(ks)
	v.lastSum = sum
	return true, nil
}

// Watch reloads the JWKS file whenever it may have changed, until ctx ends.
func (v *JWTVerifier) Watch(ctx context.Context, poll time.Duration) {
	watchFile(ctx, v.cfg.JWKSFile, poll, v.log, func() {
		changed, err := v.Reload()
		switch {
		case err != nil:
			v.log.Warn("JWKS file not reloaded; keeping the previous keys", zap.Error(err))
		case changed:
			v.log.Info("JWKS file reloaded")
		}
	})
}

func (v *JWTVerifier) keyFor(t *jwt.Token) (any, error) {
	ks := v.keys.Load()
	if ks == nil {
		return nil, errors.New("no keys")
	}
	kid, _ := t.Header["kid"].(string)
	if kid != "" {
		k, ok := ks.byKid[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid")
		}
		return k, nil
	}
	if len(ks.all) == 1 {
		return ks.all[0], nil
	}
	return nil, errors.New("token has no kid and the key set has several keys")
}

// Verify checks a JWT's signature, expiry, issuer and audience and returns its
// principal, "jwt:<sub>". The error says why, for the log; clients get
// ErrBadCredentials.
func (v *JWTVerifier) Verify(token string) (principal.Principal, error) {
	var c Claims
	if _, err := v.parser.ParseWithClaims(token, &c, v.keyFor); err != nil {
		return principal.Principal{}, err
	}
	// Control characters are refused: the subject becomes an ID in logs and the change
	// log, and NUL separates the fields of the gateway's token cache key.
	if c.Subject == "" || len(c.Subject) > 256 || strings.ContainsFunc(c.Subject, unicode.IsControl) {
		return principal.Principal{}, errors.New("token has no valid sub")
	}
	role := c.Role
	if role == "" {
		// Least privilege when the issuer says nothing.
		role = principal.RoleViewer
	}
	if !ValidRole(role) {
		return principal.Principal{}, fmt.Errorf("token role %q is not viewer, editor or admin", role)
	}
	if len(c.Entitlements) > principal.MaxEntitlements {
		return principal.Principal{}, fmt.Errorf("token has %d entitlements, at most %d", len(c.Entitlements), principal.MaxEntitlements)
	}
	var ents []string
	for _, e := range c.Entitlements {
		if entitlementPattern.MatchString(e) {
			ents = append(ents, e)
		}
	}
	return principal.Principal{ID: "jwt:" + c.Subject, Role: role, Entitlements: ents}, nil
}
