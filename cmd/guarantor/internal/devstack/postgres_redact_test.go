package devstack

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestPostgresPasswordInQueryIsRedacted: PostgreSQL (and pgx) take the password
// as a query parameter too (postgres://user@host/db?password=...). The welcome and a
// failed start must not show it any more than a password in the user information.
func TestPostgresPasswordInQueryIsRedacted(t *testing.T) {
	const secret = "pg-query-secret"
	t.Run("welcome", func(t *testing.T) {
		s := &Stack{natsURL: "nats://127.0.0.1:4333"}
		s.cfg = Defaults
		s.cfg.PostgresURL = "postgres://dev@db.example.org/postgres?password=" + secret
		var b strings.Builder
		s.PrintWelcome(&b)
		if strings.Contains(b.String(), secret) {
			t.Errorf("the welcome shows the password:\n%s", b.String())
		}
	})
	// Nothing listens on port 1: the connection is refused at once.
	for name, pgURL := range map[string]string{
		"start error, URL":               "postgres://dev@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2&password=" + secret,
		"start error, keyword/value DSN": "host=127.0.0.1 port=1 user=dev dbname=postgres connect_timeout=2 password=" + secret,
	} {
		t.Run(name, func(t *testing.T) {
			cfg := Defaults
			cfg.DataDir = t.TempDir()
			cfg.PostgresURL = pgURL
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			stack, err := Start(ctx, cfg, zap.NewNop())
			if err == nil {
				stack.Close()
				t.Fatal("started without a PostgreSQL server")
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the start error shows the password: %v", err)
			}
		})
	}
}
