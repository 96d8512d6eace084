package sqldb_test

import (
	"strings"
	"testing"

	"github.com/guarantor/guarantor/platform/sqldb"
)

// TestRedactDSN: a DSN's password never reaches a log, wherever the DSN carries it.
func TestRedactDSN(t *testing.T) {
	t.Parallel()
	tests := []struct {
		dsn  string
		want string // what must remain
	}{
		{"postgres://app:s3cret@db:5432/guarantor?sslmode=disable", "postgres://app:xxxxx@db:5432/guarantor?sslmode=disable"},
		{"postgres://app@db/guarantor?sslmode=disable&password=s3cret", "postgres://app@db/guarantor?password=xxxxx&sslmode=disable"},
		{"host=db port=5432 user=app password=s3cret dbname=g", "password=xxxxx dbname=g"},
		{"host=db password='s3 cret' user=app", "password=xxxxx user=app"},
		{"host=db PASSWORD = s3cret", "PASSWORD = xxxxx"},
		{"sqlite:///var/lib/guarantor/events.db", "sqlite:///var/lib/guarantor/events.db"},
	}
	for _, tt := range tests {
		got := sqldb.RedactDSN(tt.dsn)
		if strings.Contains(got, "s3") || !strings.Contains(got, tt.want) {
			t.Errorf("RedactDSN(%q) = %q, want it to hold %q and no password", tt.dsn, got, tt.want)
		}
	}
}
