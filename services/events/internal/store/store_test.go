package store

import (
	"io/fs"
	"testing"

	"github.com/guarantor/guarantor/platform/sqldb/sqldbtest"
)

// Migration 3 rebuilds the side tables WITHOUT ROWID: a database written by an older
// release keeps every row, and the reverse indexes filters use.
func TestUpgradeToWithoutRowid(t *testing.T) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	rows := [][2]string{{"events/a", "x"}, {"events/a", "y"}, {"events/b", "x"}}
	tables := []sqldbtest.SideTable{
		{Table: "actor_tags", Rows: rows},
		{Table: "actor_external_ids", Rows: rows},
		{Table: "event_participants", Rows: rows},
		{Table: "event_tags", Rows: rows},
		{Table: "event_external_ids", Rows: rows},
		{Table: "actors_fts_map", Rows: [][2]string{{"actors/fra", "1"}, {"actors/gbr", "7"}}},
		{Table: "events_fts_map", Rows: [][2]string{{"events/a", "3"}, {"events/b", "4"}}},
	}
	reverse := map[string]bool{"actor_tags": true, "actor_external_ids": true, "event_participants": true, "event_tags": true, "event_external_ids": true}
	sqldbtest.RequireUpgradeKeepsRows(t, sub, "events_migrations", 2, tables, reverse)
}
