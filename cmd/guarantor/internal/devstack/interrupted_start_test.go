package devstack

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/guarantor/guarantor/services/gateway"
)

// The dev stack wrote its secrets with os.WriteFile, which creates (truncates) the file
// and then writes it: a crash or a power loss in between left an empty file, and every
// later start failed until someone found and deleted it. The files are now written
// whole (atomicfile), and a start that finds one empty or short gets over it.

// TestEmptyPrincipalKeyFile: principal.key left empty by an interrupted first start.
func TestEmptyPrincipalKeyFile(t *testing.T) {
	cfg := localConfig(t)
	cfg.SkipSeed = true
	if err := os.WriteFile(filepath.Join(cfg.DataDir, PrincipalKF), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stack, err := Start(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("a data directory with an empty %s never starts again: %v", PrincipalKF, err)
	}
	stack.Close()
}

// TestEmptyKeysFile: admin.token written, keys.json left empty by an interrupted
// first start. The gateway takes an empty keys file as "no keys", so the admin token in
// admin.token (which the seed and the CLI use) was refused on every later start; the
// keys file is now written again whenever it does not hold the token's hash.
func TestEmptyKeysFile(t *testing.T) {
	dir := t.TempDir()
	key, _, err := gateway.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, TokenFile), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, KeysFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &Stack{cfg: Config{DataDir: dir}, log: zap.NewNop()}
	path, err := s.ensureAdminKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f gateway.KeyFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("the keys file the gateway is given does not hold the admin token's hash: %v (content %q)", err, b)
	}
	want := gateway.HashAPIKey(s.token)
	for _, k := range f.Keys {
		if k.SHA256 == want {
			return
		}
	}
	t.Fatalf("the keys file %q has no entry for the admin token", b)
}

// TestEmptyKeysFileStack: the same, end to end: the start after the interrupted one
// cannot load the seed, the gateway refusing the stack's own admin token.
func TestEmptyKeysFileStack(t *testing.T) {
	cfg := localConfig(t)
	key, _, err := gateway.NewAPIKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, TokenFile), []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cfg.DataDir, KeysFile), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	stack, err := Start(ctx, cfg, zap.NewNop())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := stack.Run(ctx, cancel); err != nil {
		t.Fatalf("run: %v", err)
	}
}
