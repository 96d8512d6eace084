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
	rows := [][2]string{{"frameworks/a", "actors/fra"}, {"frameworks/a", "actors/gbr"}, {"frameworks/b", "actors/fra"}}
	tables := []sqldbtest.SideTable{
		{Table: "framework_parties", Rows: rows},
		{Table: "framework_third_parties", Rows: rows},
		{Table: "framework_tags", Rows: rows},
		{Table: "guarantee_tags", Rows: rows},
		{Table: "frameworks_fts_map", Rows: [][2]string{{"frameworks/a", "1"}}},
		{Table: "guarantees_fts_map", Rows: [][2]string{{"guarantees/a", "2"}, {"guarantees/b", "5"}}},
	}
	reverse := map[string]bool{"framework_parties": true, "framework_third_parties": true, "framework_tags": true, "guarantee_tags": true}
	sqldbtest.RequireUpgradeKeepsRows(t, sub, "guarantees_migrations", 2, tables, reverse)
}
