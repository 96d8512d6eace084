package service

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/guarantor/guarantor/platform/principal"
)

// TestPrincipalKeyRotation: with --principal-accept-key-file a service accepts callers
// signed with either key, so the gateway can move to a new key without a refused call;
// a bad second key stops the service from starting rather than being ignored.
func TestPrincipalKeyRotation(t *testing.T) {
	dir := t.TempDir()
	write := func(name, key string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	current, next := strings.Repeat("c", 32), strings.Repeat("n", 32)
	currentFile, nextFile, shortFile := write("current", current), write("next", next), write("short", "too short")

	for _, tc := range []struct {
		name   string
		accept string
		err    string
	}{
		{"no second key", "", ""},
		{"a second key", nextFile, ""},
		{"a missing second key", filepath.Join(dir, "missing"), "--principal-accept-key-file"},
		{"a short second key", shortFile, "--principal-accept-key-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := loadKeys(Config{PrincipalKeyFile: currentFile, PrincipalAcceptKeyFile: tc.accept})
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("loadKeys = %v, want an error naming %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			auth := Authenticator(keys...)
			for _, signer := range []struct {
				key    string
				accept bool
			}{{current, true}, {next, tc.accept != ""}, {strings.Repeat("x", 32), false}} {
				tok, err := principal.Sign(principal.Principal{ID: "key:test", Role: principal.RoleViewer}, []byte(signer.key), time.Now(), time.Minute)
				if err != nil {
					t.Fatal(err)
				}
				ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs(principal.Header, tok))
				_, err = auth(ctx, "/guarantor.events.v1.EventsService/GetEvent")
				if (err == nil) != signer.accept {
					t.Errorf("signed with %.1s...: err %v, want accepted %v", signer.key, err, signer.accept)
				}
			}
		})
	}
}
