package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	"go.yaml.in/yaml/v3"

	"github.com/guarantor/guarantor/platform/principal"
)

// KeyEntry is one API key in the keys file. The key itself is never stored: only its
// SHA-256, so a leaked keys file (or Kubernetes Secret) grants nothing.
type KeyEntry struct {
	// ID names the key's holder; the principal is "key:<id>" in the change log.
	ID string `json:"id" yaml:"id"`
	// SHA256 is the hex SHA-256 of the key (see HashKey).
	SHA256 string `json:"sha256" yaml:"sha256"`
	// Role is viewer, editor or admin.
	Role string `json:"role" yaml:"role"`
	// Entitlements unlock restricted data, e.g. "acled".
	Entitlements []string `json:"entitlements,omitempty" yaml:"entitlements,omitempty"`
	// Disabled keys are refused (revocation without losing the record).
	Disabled bool `json:"disabled,omitempty" yaml:"disabled,omitempty"`
}

// KeyFile is the keys file: JSON or YAML, {"keys": [...]}.
type KeyFile struct {
	Keys []KeyEntry `json:"keys" yaml:"keys"`
}

var (
	idPattern          = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@:-]{0,127}$`)
	entitlementPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_.:-]{0,62}$`)
)

// ValidRole reports whether r is one of the roles.
func ValidRole(r string) bool {
	return r == principal.RoleViewer || r == principal.RoleEditor || r == principal.RoleAdmin
}

// ParseKeyFile parses and checks a keys file. Every problem names the entry, never a
// hash.
func ParseKeyFile(data []byte) (map[[32]byte]principal.Principal, error) {
	var f KeyFile
	trimmed := bytes.TrimSpace(data)
	if bytes.HasPrefix(trimmed, []byte("{")) {
		dec := json.NewDecoder(bytes.NewReader(trimmed))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			return nil, fmt.Errorf("keys file: %w", err)
		}
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(trimmed))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil && len(trimmed) > 0 {
			return nil, fmt.Errorf("keys file: %w", err)
		}
	}
	out := make(map[[32]byte]principal.Principal, len(f.Keys))
	ids := map[string]bool{}
	// Every entry's hash counts, disabled ones too: otherwise a revoked entry followed
	// by another with the same hash would load, and the revoked key work on.
	hashes := map[[32]byte]bool{}
	for i, k := range f.Keys {
		if !idPattern.MatchString(k.ID) {
			return nil, fmt.Errorf("keys file: entry %d: id %q must be 1-128 letters, digits or ._@:-", i, k.ID)
		}
		if ids[k.ID] {
			return nil, fmt.Errorf("keys file: entry %d: duplicate id %q", i, k.ID)
		}
		ids[k.ID] = true
		if !ValidRole(k.Role) {
			return nil, fmt.Errorf("keys file: key %q: role %q must be viewer, editor or admin", k.ID, k.Role)
		}
		if len(k.Entitlements) > principal.MaxEntitlements {
			return nil, fmt.Errorf("keys file: key %q: %d entitlements, at most %d", k.ID, len(k.Entitlements), principal.MaxEntitlements)
		}
		for _, e := range k.Entitlements {
			if !entitlementPattern.MatchString(e) {
				return nil, fmt.Errorf("keys file: key %q: invalid entitlement %q", k.ID, e)
			}
		}
		raw, err := hex.DecodeString(k.SHA256)
		if err != nil || len(raw) != sha256.Size {
			return nil, fmt.Errorf("keys file: key %q: sha256 must be 64 hex digits (see `gateway hash-key`)", k.ID)
		}
		var sum [32]byte
		copy(sum[:], raw)
		if hashes[sum] {
			return nil, fmt.Errorf("keys file: key %q: same hash as another key", k.ID)
		}
		hashes[sum] = true
		if k.Disabled {
			continue
		}
		out[sum] = principal.Principal{ID: "key:" + k.ID, Role: k.Role, Entitlements: append([]string(nil), k.Entitlements...)}
	}
	return out, nil
}

// KeyStore holds the keys of a keys file and reloads them when the file changes. A
// file that fails to parse is logged and ignored: the keys loaded before stay in force,
// so a bad edit cannot lock everyone out (or in).
type KeyStore struct {
	path string
	log  *zap.Logger
	keys atomic.Pointer[map[[32]byte]principal.Principal]

	mu      sync.Mutex
	lastSum [32]byte

	// OnReload, when set, is told about each reload attempt (metrics).
	OnReload func(err error)
}

// NewKeyStore loads the keys file at path; it must parse.
func NewKeyStore(path string, log *zap.Logger) (*KeyStore, error) {
	if log == nil {
		log = zap.NewNop()
	}
	s := &KeyStore{path: path, log: log.With(zap.String("keys_file", path))}
	if _, err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload reads the file again; changed is false when its content is the same.
func (s *KeyStore) Reload() (changed bool, err error) {
	data, err := os.ReadFile(s.path)
	if err != nil {
		return false, fmt.Errorf("keys file: %w", err)
	}
	sum := sha256.Sum256(data)
	s.mu.Lock()
	defer s.mu.Unlock()
	if sum == s.lastSum && s.keys.Load() != nil {
		return false, nil
	}
	if len(bytes.TrimSpace(data)) == 0 && s.keys.Load() != nil {
		// A file rewritten in place is empty between its truncation and its write, and
		// the truncation is an event the watcher acts on: taking it as "no keys" would
		// refuse every caller until the write lands. An empty file is accepted at
		// start only; to remove every key later, write `keys: []`.
		return false, errors.New("keys file: empty; keeping the keys loaded before (write `keys: []` to remove them all)")
	}
	keys, err := ParseKeyFile(data)
	if err != nil {
		return false, err
	}
	s.keys.Store(&keys)
	s.lastSum = sum
	return true, nil
}

// Len is the number of active keys.
func (s *KeyStore) Len() int {
	if m := s.keys.Load(); m != nil {
		return len(*m)
	}
	return 0
}

// Lookup returns the principal of a presented key. The key is hashed first and the
// hash looked up, so lookup time says nothing about how close a guess was.
func (s *KeyStore) Lookup(key string) (principal.Principal, bool) {
	m := s.keys.Load()
	if m == nil {
		return principal.Principal{}, false
	}
	p, ok := (*m)[sha256.Sum256([]byte(key))]
	return p, ok
}

// Watch reloads the file whenever it may have changed, until ctx ends.
func (s *KeyStore) Watch(ctx context.Context, poll time.Duration) {
	watchFile(ctx, s.path, poll, s.log, func() {
		changed, err := s.Reload()
		if s.OnReload != nil && (changed || err != nil) {
			s.OnReload(err)
		}
		switch {
		case err != nil:
			s.log.Warn("keys file not reloaded; keeping the previous keys", zap.Error(err))
		case changed:
			s.log.Info("keys file reloaded", zap.Int("keys", s.Len()))
		}
	})
}
