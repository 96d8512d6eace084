package resource

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/filter"
	"github.com/guarantor/guarantor/platform/notify"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Change is what a write hands to the service's Encoder: everything its Change message
// carries. Kind is one of the Kind* constants.
type Change struct {
	Seq        int64
	ID         string
	Time       time.Time
	Collection string
	Kind       string
	Name       string
	Resource   proto.Message
	Changed    []string
	Principal  string
	RequestID  string
	// Note carries what a domain mutation wants recorded besides the resource (a
	// transition's reason and evidence).
	Note Note
}

// Note is extra information a Mutate records with its change.
type Note struct {
	Reason   string
	Evidence string
	Changed  []string
}

// Change kinds, as they appear in NATS subjects (`<prefix>.<collection>.<kind>`).
const (
	KindCreated = "created"
	KindUpdated = "updated"
	KindDeleted = "deleted"
)

// Encoder marshals the service's own Change message.
type Encoder func(c *Change) ([]byte, error)

// Decoder extracts the resource from a stored Change payload (for "as of" reads).
type Decoder func(payload []byte) (proto.Message, error)

// Meta identifies the call behind a write.
type Meta struct {
	Principal   string
	RequestID   string
	Method      string
	TraceParent string
	// Guard, when set, refuses a stored resource the caller may not read. Update,
	// Delete and Mutate apply it to the row they loaded before anything else, the etag
	// check included, so a refusal tells the caller nothing more about the row; a batch
	// applies it to every item whose id is taken.
	Guard func(name string, stored proto.Message) error
}

// Config configures a Store.
type Config struct {
	// Service names the change ids ("events-42") and is the first part of the subjects.
	Service string
	// SubjectPrefix is the NATS subject prefix, e.g. "guarantor.events.v1".
	SubjectPrefix string
	Encode        Encoder
	Decode        Decoder
	// Notifier is told of every commit, waking the outbox relay and watchers.
	Notifier *notify.Notifier
	Log      *zap.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Store reads and writes the collections of one service.
type Store struct {
	db  *sqldb.DB
	cfg Config
	log *zap.Logger
}

// New checks the collections and returns a Store.
func New(db *sqldb.DB, cfg Config, colls ...*Collection) (*Store, error) {
	for _, c := range colls {
		if err := c.check(); err != nil {
			return nil, err
		}
	}
	if cfg.Encode == nil || cfg.Decode == nil || cfg.Service == "" || cfg.SubjectPrefix == "" {
		return nil, errors.New("resource: Config needs Service, SubjectPrefix, Encode and Decode")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Store{db: db, cfg: cfg, log: log}, nil
}

// DB returns the underlying database.
func (s *Store) DB() *sqldb.DB { return s.db }

func (s *Store) q(query string) string { return s.db.Rebind(query) }

// textList passes a list of strings as one query argument, so that a statement over a
// list has one text (and one prepared statement) whatever the list's length: a
// PostgreSQL text[], or a JSON array that SQLite's json_each reads. rows is the matching
// row source, one row per string in a column named value, for a FROM clause. (Strings
// from protobuf messages are valid UTF-8, which JSON keeps as they are.)
func (s *Store) textList(values []string) (arg any, rows string, err error) {
	if s.db.Dialect == sqldb.Postgres {
		return values, "unnest(?::text[]) AS list(value)", nil
	}
	b, err := json.Marshal(values)
	if err != nil {
		return nil, "", fmt.Errorf("resource: encode list: %w", err)
	}
	return string(b), "json_each(?)", nil
}

// load reads one row (tombstones included) through q; found is false when there is none.
func (s *Store) load(ctx context.Context, q sqldb.Queryer, c *Collection, name string) (proto.Message, bool, error) {
	var data []byte
	err := s.db.QueryRowCached(ctx, q, "SELECT data FROM "+c.Table+" WHERE name = ?", name).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("resource: load %s: %w", name, err)
	}
	m := c.New()
	if err := proto.Unmarshal(data, m); err != nil {
		return nil, false, fmt.Errorf("resource: decode %s: %w", name, err)
	}
	return m, true, nil
}

// Get returns a resource. A tombstone is NOT_FOUND unless showDeleted.
func (s *Store) Get(ctx context.Context, c *Collection, name string, showDeleted bool) (proto.Message, error) {
	m, found, err := s.load(ctx, s.db, c, name)
	if err != nil {
		return nil, err
	}
	if !found || (Deleted(m) && !showDeleted) {
		return nil, apperr.NotFound("%s not found", name)
	}
	return m, nil
}

// GetAt returns a resource as it was at t, from the change log. NOT_FOUND when it did not
// exist then (or was deleted, unless showDeleted).
func (s *Store) GetAt(ctx context.Context, c *Collection, name string, t time.Time, showDeleted bool) (proto.Message, error) {
	e, found, err := changelog.AsOf(ctx, s.db, name, t)
	if errors.Is(err, changelog.ErrCompacted) {
		return nil, compacted(t)
	}
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, apperr.NotFound("%s did not exist at %s", name, t.UTC().Format(time.RFC3339Nano))
	}
	m, err := s.cfg.Decode(e.Payload)
	if err != nil {
		return nil, fmt.Errorf("resource: decode change %s: %w", e.ID, err)
	}
	if Deleted(m) && !showDeleted {
		return nil, apperr.NotFound("%s was deleted at %s", name, t.UTC().Format(time.RFC3339Nano))
	}
	return m, nil
}

// Version returns the change-log head: the resource version a read reflects.
func (s *Store) Version(ctx context.Context) (int64, error) {
	last, _, err := changelog.Head(ctx, s.db)
	return last, err
}

// put writes a resource's row, its indexed columns, side tables and search text.
func (s *Store) put(ctx context.Context, tx *sql.Tx, c *Collection, m proto.Message, exists bool) error {
	data, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("resource: encode: %w", err)
	}
	name := Name(m)
	deleted := 0
	if Deleted(m) {
		deleted = 1
	}
	cols := []string{"data", "revision", "deleted", "create_time", "update_time"}
	args := []any{data, Revision(m), deleted, getTime(m, "create_time").UnixNano(), getTime(m, "update_time").UnixNano()}
	for _, col := range c.Columns {
		cols = append(cols, col.Name)
		args = append(args, col.Value(m))
	}
	var search string
	if c.Search != nil {
		search = c.Search.Text(m)
		if s.db.Dialect == sqldb.Postgres {
			// Folded, as SQLite's FTS5 tokenizer folds (filter.FoldDiacritics).
			search = filter.FoldDiacritics(search)
		}
	}
	if exists {
		set := make([]string, len(cols))
		for i, col := range cols {
			set[i] = col + " = ?"
		}
		query := "UPDATE " + c.Table + " SET " + strings.Join(set, ", ")
		if c.Search != nil && s.db.Dialect == sqldb.Postgres {
			query += ", search = to_tsvector('simple', ?)"
			args = append(args, search)
		}
		args = append(args, name)
		if _, err := s.db.ExecCached(ctx, tx, query+" WHERE name = ?", args...); err != nil {
			return fmt.Errorf("resource: update %s: %w", name, err)
		}
	} else {
		cols = append([]string{"name"}, cols...)
		args = append([]any{name}, args...)
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(cols)), ", ")
		if c.Search != nil && s.db.Dialect == sqldb.Postgres {
			cols = append(cols, "search")
			marks += ", to_tsvector('simple', ?)"
			args = append(args, search)
		}
		query := "INSERT INTO " + c.Table + " (" + strings.Join(cols, ", ") + ") VALUES (" + marks + ")"
		if _, err := s.db.ExecCached(ctx, tx, query, args...); err != nil {
			if sqldb.IsUniqueViolation(err) {
				return apperr.AlreadyExists("%s already exists", name)
			}
			return fmt.Errorf("resource: insert %s: %w", name, err)
		}
	}
	for _, l := range c.Lists {
		if exists {
			if _, err := s.db.ExecCached(ctx, tx, "DELETE FROM "+l.Table+" WHERE name = ?", name); err != nil {
				return fmt.Errorf("resource: clear %s: %w", l.Table, err)
			}
		}
		values := distinct(l.Values(m))
		if len(values) == 0 {
			continue
		}
		// One statement for the whole list, whatever its length.
		arg, rows, err := s.textList(values)
		if err != nil {
			return err
		}
		if _, err := s.db.ExecCached(ctx, tx, "INSERT INTO "+l.Table+" (name, value) SELECT ?, value FROM "+rows, name, arg); err != nil {
			return fmt.Errorf("resource: insert %s: %w", l.Table, err)
		}
	}
	if c.Search != nil && s.db.Dialect == sqldb.SQLite {
		// At the commit, outside group commit's savepoints (see sqldb.BeforeCommit), and
		// with a context of its own: this caller's may end before the group commits.
		bg := context.WithoutCancel(ctx)
		s.db.BeforeCommit(tx, func(tx *sql.Tx) error { return s.indexSQLite(bg, tx, c, name, search, exists) })
	}
	return nil
}

// indexSQLite replaces a resource's row in the FTS5 table. FTS5 cannot index the name
// column, so a `DELETE ... WHERE name = ?` would scan the whole index on every update;
// the `<table>_fts_map` table remembers each resource's FTS rowid instead.
func (s *Store) indexSQLite(ctx context.Context, tx *sql.Tx, c *Collection, name, text string, exists bool) error {
	fts, ftsMap := c.Table+"_fts", c.Table+"_fts_map"
	if exists {
		var rowid int64
		err := s.db.QueryRowCached(ctx, tx, "SELECT fts_rowid FROM "+ftsMap+" WHERE name = ?", name).Scan(&rowid)
		switch {
		case err == nil:
			if _, err := s.db.ExecCached(ctx, tx, "DELETE FROM "+fts+" WHERE rowid = ?", rowid); err != nil {
				return fmt.Errorf("resource: clear %s: %w", fts, err)
			}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("resource: find %s row: %w", fts, err)
		}
	}
	res, err := s.db.ExecCached(ctx, tx, "INSERT INTO "+fts+" (name, body) VALUES (?, ?)", name, text)
	if err != nil {
		return fmt.Errorf("resource: index %s: %w", fts, err)
	}
	rowid, err := res.LastInsertId()
	if err != nil {
		return fmt.Errorf("resource: index %s: %w", fts, err)
	}
	_, err = s.db.ExecCached(ctx, tx, "INSERT INTO "+ftsMap+" (name, fts_rowid) VALUES (?, ?) "+
		"ON CONFLICT (name) DO UPDATE SET fts_rowid = excluded.fts_rowid", name, rowid)
	if err != nil {
		return fmt.Errorf("resource: index %s: %w", ftsMap, err)
	}
	return nil
}

// record appends the change for m (already stamped by the caller's encoder callback).
func (s *Store) record(ctx context.Context, tx *sql.Tx, c *Collection, meta Meta, kind string, m proto.Message, changed []string, note Note) (changelog.Entry, error) {
	name := Name(m)
	e, err := changelog.Append(ctx, tx, s.db, changelog.Record{
		IDPrefix:     s.cfg.Service,
		ResourceName: name,
		Collection:   c.Name,
		Kind:         kind,
		Subject:      s.cfg.SubjectPrefix + "." + c.Name + "." + kind,
		Principal:    meta.Principal,
		RequestID:    meta.RequestID,
		TraceParent:  meta.TraceParent,
		Encode: func(seq int64, id string, t time.Time) ([]byte, error) {
			stamp(m, seq, t)
			if kind == KindCreated {
				setTime(m, "create_time", t)
			}
			if kind == KindDeleted {
				setTime(m, "delete_time", t)
			}
			return s.cfg.Encode(&Change{
				Seq: seq, ID: id, Time: t, Collection: c.Name, Kind: kind, Name: name,
				Resource: m, Changed: changed, Principal: meta.Principal, RequestID: meta.RequestID, Note: note,
			})
		},
	})
	if err == nil {
		// Wake the relay and the watchers at the commit itself, not when this caller's
		// goroutine next runs (under load, a millisecond or more later).
		s.db.AfterCommit(tx, func() { s.notify(e.Seq) })
	}
	return e, err
}

// History returns the stored change payloads of one resource after a sequence, oldest
// first, and the sequence of the last one returned.
func (s *Store) History(ctx context.Context, name string, after int64, limit int) ([][]byte, int64, error) {
	entries, err := changelog.ForResource(ctx, s.db, name, after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([][]byte, len(entries))
	last := after
	for i, e := range entries {
		out[i] = e.Payload
		last = e.Seq
	}
	return out, last, nil
}

func (s *Store) notify(seq int64) {
	if s.cfg.Notifier != nil {
		s.cfg.Notifier.Notify(seq)
	}
}
