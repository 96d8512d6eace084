package changelog_test

import (
	"context"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/sqldb"
	"github.com/guarantor/guarantor/platform/testkit/pgtest"
)

// TestLatestAtUnderLinguisticCollation: LatestAt finds a collection's resources as
// the range resource_name >= 'events/' AND resource_name < 'events0', which holds only
// in byte order (SQLite, or a PostgreSQL database created with the C collation). A
// PostgreSQL database with a linguistic collation, such as glibc's en_US.UTF-8 (the
// usual default of a PostgreSQL cluster, and of managed services), ignores '/' at the
// first collation levels (glibc's iso14651_t1_common: "<U002F> IGNORE;IGNORE;IGNORE"),
// so 'events/a' sorts after 'events0' and the range is empty. The ICU locale
// en-US-u-ka-shifted makes punctuation ignorable the same way; glibc's en_US locale is not
// installed on this machine.
func TestLatestAtUnderLinguisticCollation(t *testing.T) {
	ctx := context.Background()
	adminURL := pgtest.AdminURL(t)
	admin, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(ctx) }()
	name := pgtest.Name(t)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US-u-ka-shifted' LOCALE 'C.UTF-8'"); err != nil {
		t.Skipf("cannot create a database with a linguistic collation: %v", err)
	}
	pgtest.DropOnCleanup(t, adminURL, name)
	u, err := url.Parse(adminURL) // the admin URL, pointed at the new database
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	dsn := u.String()
	db, err := sqldb.Open(ctx, dsn, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := sqldb.MigratePlatform(ctx, db); err != nil {
		t.Fatal(err)
	}
	appendOne(t, db, record("events/a", "created"))
	appendOne(t, db, record("events/b", "created"))
	appendOne(t, db, record("events/a", "updated"))

	entries, version, err := changelog.LatestAt(ctx, db, "events", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if version != 3 {
		t.Fatalf("version = %d, want 3", version)
	}
	if got := seqs(entries); !equalSeqs(got, []int64{3, 2}) {
		t.Fatalf("LatestAt(events) = seqs %v, want [3 2] (events/a at 3, events/b at 2): "+
			"the collection's range query depends on the database's collation", got)
	}
}
