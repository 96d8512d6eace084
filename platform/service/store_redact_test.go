package service_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
)

// TestStorePasswordInQueryNotLogged: a --store URL may carry the password as a
// query parameter (postgres://user@host/db?password=..., which pgx and libpq accept);
// the service must not write it to its log.
func TestStorePasswordInQueryNotLogged(t *testing.T) {
	const secret = "store-query-secret"
	dsn := pgtest.NewDatabase(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "password=" + secret
	core, logs := observer.New(zap.DebugLevel)
	stop := errors.New("stop after the database is open")
	_, err := service.New(context.Background(), service.Config{StoreDSN: dsn, PrincipalKey: []byte(strings.Repeat("k", 32))},
		service.Spec{Name: "test", Migrate: func(context.Context, *sqldb.DB) error { return stop }}, zap.New(core))
	if !errors.Is(err, stop) {
		t.Fatalf("New: %v, want the migration's error (the database must have opened)", err)
	}
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if strings.Contains(fmtAny(v), secret) {
				t.Errorf("log %q: field %s = %v shows the password", e.Message, k, v)
			}
		}
	}
}

func fmtAny(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return ""
}
