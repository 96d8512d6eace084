package auth

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"
)

// TestTruncatedKeysFileKeepsKeys: a keys file that does not load leaves the keys
// loaded before in force, "so a bad edit cannot lock everyone out". A file rewritten in
// place (an editor, `cat > keys.yaml`, a config tool) is empty between its truncation
// and its write, and the truncation is itself an event the watcher acts on (as is a
// poll landing then): that empty file must not be taken as "no keys". `keys: []` is how
// every key is removed.
func TestTruncatedKeysFileKeepsKeys(t *testing.T) {
	t.Parallel()
	key, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	if err := os.WriteFile(path, []byte("keys:\n  - id: analyst-1\n    sha256: "+hash+"\n    role: viewer\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeyStore(path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	a := &Authenticator{Keys: ks}
	if _, err := a.Authenticate("Bearer " + key); err != nil {
		t.Fatalf("before the edit: %v", err)
	}
	// The editor has truncated the file and not written it yet.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := ks.Reload(); changed || err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("Reload of the truncated file: changed %v, err %v; want it refused as empty", changed, err)
	}
	if _, err := a.Authenticate("Bearer " + key); err != nil {
		t.Fatalf("a truncated keys file (mid-rewrite) revoked every key: %v", err)
	}
	// Removing every key on purpose is written as an empty list.
	if err := os.WriteFile(path, []byte("keys: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed, err := ks.Reload(); !changed || err != nil || ks.Len() != 0 {
		t.Fatalf("Reload of `keys: []`: changed %v, err %v, %d keys; want every key removed", changed, err, ks.Len())
	}
	if _, err := a.Authenticate("Bearer " + key); err == nil {
		t.Fatal("a key removed by `keys: []` still authenticates")
	}
}

// TestKeysFileRewrittenInPlaceKeepsKeys is the same through Watch, as it happens
// with `some-command > keys.yaml`: the shell truncates the file before the command
// runs, and the watcher reloads the empty file once the truncation's event has settled
// (100ms), well before a command that fetches or decrypts the keys has written them.
func TestKeysFileRewrittenInPlaceKeepsKeys(t *testing.T) {
	t.Parallel()
	key, hash, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "keys.yaml")
	content := []byte("keys:\n  - id: analyst-1\n    sha256: " + hash + "\n    role: viewer\n")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	ks, err := NewKeyStore(path, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go ks.Watch(ctx, time.Hour)
	time.Sleep(200 * time.Millisecond) // the watch is set up
	a := &Authenticator{Keys: ks}
	// `fetch-keys > keys.yaml`: truncated now, written when fetch-keys is done.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	time.Sleep(500 * time.Millisecond) // fetch-keys at work
	_, authErr := a.Authenticate("Bearer " + key)
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	if authErr != nil {
		t.Fatalf("while the keys file was being rewritten, a key that is in both versions was refused: %v (keys loaded: %d)", authErr, ks.Len())
	}
}
