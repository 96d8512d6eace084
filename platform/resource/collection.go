// Package resource stores AIP-style protobuf resources in SQL with the semantics every
// Guarantor service shares: client-chosen ids, request_id idempotency, etags, update
// masks, tombstones, filtered and keyset-paginated lists, history and "as of" reads.
// Every write appends its change to the change log in the same transaction (the outbox),
// so the log, the NATS stream and Watch can never disagree with the tables.
//
// The package is generic over proto.Message and holds no domain types: a service
// describes each collection (table, indexed columns, filterable fields) and supplies the
// encoder of its own Change message.
//
// Every resource message must have the standard fields `name`, `etag`, `revision`,
// `create_time`, `update_time` and `delete_time`.
package resource

import (
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Column is an indexed column of a collection's table, extracted from the resource on
// every write so that filters and orderings run on plain SQL columns.
type Column struct {
	Name  string
	Value func(m proto.Message) any
}

// ListTable is a side table `<Table>(name, value)` holding one row per element of a
// repeated field (participants, tags), for `:` filters.
type ListTable struct {
	Table  string
	Values func(m proto.Message) []string
}

// Search describes full-text search over a resource: Text extracts the searchable text.
// SQLite keeps it in an FTS5 table `<table>_fts(name UNINDEXED, body)` with a map
// `<table>_fts_map(name PRIMARY KEY, fts_rowid)`; PostgreSQL in a
// `search tsvector` column of the table.
type Search struct {
	Text func(m proto.Message) string
}

// Collection describes one collection of resources, e.g. "events".
type Collection struct {
	// Name is the collection id, the first segment of resource names ("events").
	Name string
	// Table is the SQL table. It has the columns name (primary key), data, revision,
	// deleted, create_time and update_time, plus Columns.
	Table string
	// New returns an empty resource message.
	New func() proto.Message
	// Columns are the indexed columns besides the standard ones.
	Columns []Column
	// Lists are side tables for repeated fields.
	Lists []ListTable
	// Search enables full-text search, exposed to filters as the `search` field.
	Search *Search
	// Filter returns the filterable fields for a dialect; columns are qualified with the
	// table alias "t".
	Filter func(d sqldb.Dialect) filter.Schema
	// Orders maps order_by fields to columns (alias "t"); DefaultOrder applies when a
	// client gives none.
	Orders       map[string]string
	DefaultOrder string
	// OutputOnly lists the top-level fields clients cannot set or update. The standard
	// fields are always output only.
	OutputOnly map[string]bool
}

var standardOutputOnly = []string{"name", "etag", "revision", "create_time", "update_time", "delete_time"}

func (c *Collection) outputOnly() map[string]bool {
	m := make(map[string]bool, len(c.OutputOnly)+len(standardOutputOnly))
	for k, v := range c.OutputOnly {
		m[k] = v
	}
	for _, k := range standardOutputOnly {
		m[k] = true
	}
	return m
}

// check verifies at start-up that the message has the standard fields.
func (c *Collection) check() error {
	md := c.New().ProtoReflect().Descriptor()
	for _, f := range standardOutputOnly {
		if md.Fields().ByName(protoreflect.Name(f)) == nil {
			return fmt.Errorf("resource: %s has no field %q", md.FullName(), f)
		}
	}
	if c.Name == "" || c.Table == "" || c.Filter == nil || len(c.Orders) == 0 {
		return fmt.Errorf("resource: collection %q is incomplete", c.Name)
	}
	return nil
}
