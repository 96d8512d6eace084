package resource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/fieldmask"
	"github.com/guarantor/guarantor/platform/idempotency"
)

// Check is a domain hook run inside the write transaction on the resource about to be
// written (and, for updates, the one it replaces; nil on creation). Returning an error
// aborts the write. r reads inside the same transaction, so a reference checked through it
// cannot vanish before the write commits, and resources written earlier in the same batch
// are seen.
type Check func(r Reader, old, updated proto.Message) error

// Reader reads resources inside a write transaction, so what a check reads is what the
// write commits against (the writes queued before it in the same commit included).
type Reader interface {
	// Get returns the named resource of c; a tombstone or a missing one is NOT_FOUND.
	Get(ctx context.Context, c *Collection, name string) (proto.Message, error)
	// Missing returns the names, of those given, that name no live resource of c (missing
	// or a tombstone), each once, in the order given; empty names are ignored. One query
	// for all: a write checking several references pays one round trip, not one each.
	Missing(ctx context.Context, c *Collection, names []string) ([]string, error)
	// Find returns the names of at most limit live resources of c matching where (SQL
	// over the table aliased t, with ? placeholders for args; never user text), in name
	// order, and how many match in all.
	Find(ctx context.Context, c *Collection, where string, args []any, limit int) (names []string, total int64, err error)
}

type txReader struct {
	s  *Store
	tx *sql.Tx
}

func (r txReader) Get(ctx context.Context, c *Collection, name string) (proto.Message, error) {
	m, found, err := r.s.load(ctx, r.tx, c, name)
	if err != nil {
		return nil, err
	}
	if !found || Deleted(m) {
		return nil, apperr.NotFound("%s not found", name)
	}
	return m, nil
}

func (r txReader) Missing(ctx context.Context, c *Collection, names []string) ([]string, error) {
	want := distinct(names)
	if len(want) == 0 {
		return nil, nil
	}
	arg, list, err := r.s.textList(want)
	if err != nil {
		return nil, err
	}
	rows, err := r.s.db.QueryCached(ctx, r.tx, "SELECT name FROM "+c.Table+" WHERE deleted = 0 AND name IN (SELECT value FROM "+list+")", arg)
	if err != nil {
		return nil, fmt.Errorf("resource: look up %s: %w", c.Name, err)
	}
	defer rows.Close()
	live := make(map[string]bool, len(want))
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, fmt.Errorf("resource: look up %s: %w", c.Name, err)
		}
		live[n] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("resource: look up %s: %w", c.Name, err)
	}
	var missing []string
	for _, n := range want {
		if !live[n] {
			missing = append(missing, n)
		}
	}
	return missing, nil
}

// distinct is names without empty ones and repeats, in order.
func distinct(names []string) []string {
	var out []string
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n != "" && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	return out
}

func (r txReader) Find(ctx context.Context, c *Collection, where string, args []any, limit int) ([]string, int64, error) {
	from := " FROM " + c.Table + " t WHERE t.deleted = 0 AND (" + where + ")"
	var total int64
	if err := r.tx.QueryRowContext(ctx, r.s.q("SELECT count(*)"+from), args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("resource: count %s: %w", c.Name, err)
	}
	if total == 0 || limit <= 0 {
		return nil, total, nil
	}
	rows, err := r.tx.QueryContext(ctx, r.s.q("SELECT t.name"+from+" ORDER BY t.name LIMIT ?"), append(append([]any{}, args...), limit)...)
	if err != nil {
		return nil, 0, fmt.Errorf("resource: find %s: %w", c.Name, err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, 0, fmt.Errorf("resource: find %s: %w", c.Name, err)
		}
		names = append(names, n)
	}
	return names, total, rows.Err()
}

// ignoredInDiff are bookkeeping fields never reported as changed.
var ignoredInDiff = map[string]bool{"etag": true, "revision": true, "update_time": true}

// idempotent runs write unless meta.RequestID was already answered, in which case the
// first answer is decoded into out. The lookup is repeated after a failed write, because
// a concurrent request with the same id may have won the race (and its answer is the one
// to return).
func (s *Store) idempotent(ctx context.Context, meta Meta, restore func([]byte) error, write func(save func(tx *sql.Tx, resp []byte) error) error) error {
	if meta.RequestID == "" {
		return write(func(*sql.Tx, []byte) error { return nil })
	}
	replay := func() (bool, error) {
		rec, found, err := idempotency.Lookup(ctx, s.db, meta.Principal, meta.RequestID)
		if err != nil || !found {
			return false, err
		}
		if rec.Method != meta.Method {
			return true, apperr.FailedPrecondition("request_id %q was already used for %s", meta.RequestID, rec.Method)
		}
		if err := restore(rec.Response); err != nil {
			return true, fmt.Errorf("resource: decode stored response: %w", err)
		}
		return true, nil
	}
	if done, err := replay(); done || err != nil {
		return err
	}
	err := write(func(tx *sql.Tx, resp []byte) error {
		return idempotency.Save(ctx, tx, s.db, idempotency.Record{
			Principal: meta.Principal, RequestID: meta.RequestID, Method: meta.Method, Response: resp,
		})
	})
	if err != nil {
		if done, rerr := replay(); done {
			return rerr
		}
	}
	return err
}

// Create stores m under id with a CREATED change. m's output-only fields are ignored.
func (s *Store) Create(ctx context.Context, c *Collection, meta Meta, id string, m proto.Message, check Check) (proto.Message, error) {
	out := c.New()
	restore := func(b []byte) error { return proto.Unmarshal(b, out) }
	err := s.idempotent(ctx, meta, restore, func(save func(*sql.Tx, []byte) error) error {
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			if err := changelog.LockHead(ctx, tx, s.db); err != nil {
				return err
			}
			r := proto.Clone(m)
			clearOutputOnly(r, c.outputOnly())
			setString(r, "name", c.Name+"/"+id)
			if _, found, err := s.load(ctx, tx, c, Name(r)); err != nil {
				return err
			} else if found {
				return apperr.AlreadyExists("%s already exists", Name(r))
			}
			if check != nil {
				if err := check(txReader{s, tx}, nil, r); err != nil {
					return err
				}
			}
			if _, err := s.record(ctx, tx, c, meta, KindCreated, r, fieldmask.Changed(nil, r, ignoredInDiff), Note{}); err != nil {
				return err
			}
			if err := s.put(ctx, tx, c, r, false); err != nil {
				return err
			}
			proto.Reset(out)
			proto.Merge(out, r)
			return saveMessage(save, tx, r)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Update applies the fields named by paths from m to the stored resource named by m's
// name. m's etag, when set, must match (ABORTED otherwise). An update that changes
// nothing records no change and returns the resource as it is.
func (s *Store) Update(ctx context.Context, c *Collection, meta Meta, m proto.Message, paths []string, check Check) (proto.Message, error) {
	name := Name(m)
	etag := Etag(m)
	return s.mutate(ctx, c, meta, name, etag, KindUpdated, func(rd Reader, cur proto.Message) (Note, error) {
		before := proto.Clone(cur)
		if err := fieldmask.Apply(cur, m, paths, c.outputOnly()); err != nil {
			var fe *fieldmask.Error
			if errors.As(err, &fe) {
				return Note{}, apperr.Invalid("update_mask", err.Error())
			}
			return Note{}, err
		}
		if check != nil {
			if err := check(rd, before, cur); err != nil {
				return Note{}, err
			}
		}
		return Note{Changed: fieldmask.Changed(before, cur, ignoredInDiff)}, nil
	})
}

// Delete turns the named resource into a tombstone with a DELETED change.
func (s *Store) Delete(ctx context.Context, c *Collection, meta Meta, name, etag string, check func(r Reader, cur proto.Message) error) (proto.Message, error) {
	return s.mutate(ctx, c, meta, name, etag, KindDeleted, func(rd Reader, cur proto.Message) (Note, error) {
		if check != nil {
			if err := check(rd, cur); err != nil {
				return Note{}, err
			}
		}
		return Note{Changed: []string{"delete_time"}}, nil
	})
}

// Mutate applies a domain change (a transition, a ratification) to the named resource and
// records it with the given kind. fn edits the resource in place and returns what to
// record; a Note with no Changed fields means nothing changed and nothing is recorded.
func (s *Store) Mutate(ctx context.Context, c *Collection, meta Meta, name, etag, kind string, fn func(cur proto.Message) (Note, error)) (proto.Message, error) {
	return s.mutate(ctx, c, meta, name, etag, kind, func(_ Reader, cur proto.Message) (Note, error) { return fn(cur) })
}

func (s *Store) mutate(ctx context.Context, c *Collection, meta Meta, name, etag, kind string, fn func(r Reader, cur proto.Message) (Note, error)) (proto.Message, error) {
	out := c.New()
	restore := func(b []byte) error { return proto.Unmarshal(b, out) }
	err := s.idempotent(ctx, meta, restore, func(save func(*sql.Tx, []byte) error) error {
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			if err := changelog.LockHead(ctx, tx, s.db); err != nil {
				return err
			}
			cur, found, err := s.load(ctx, tx, c, name)
			if err != nil {
				return err
			}
			if !found || Deleted(cur) {
				return apperr.NotFound("%s not found", name)
			}
			if meta.Guard != nil {
				if err := meta.Guard(name, cur); err != nil {
					return err
				}
			}
			if etag != "" && etag != Etag(cur) {
				return apperr.Aborted("%s has changed since it was read: etag %s is not the current %s; read it again and retry", name, etag, Etag(cur))
			}
			note, err := fn(txReader{s, tx}, cur)
			if err != nil {
				return err
			}
			if kind != KindDeleted && len(note.Changed) == 0 {
				proto.Reset(out)
				proto.Merge(out, cur)
				return saveMessage(save, tx, cur)
			}
			if _, err := s.record(ctx, tx, c, meta, kind, cur, note.Changed, note); err != nil {
				return err
			}
			if err := s.put(ctx, tx, c, cur, true); err != nil {
				return err
			}
			proto.Reset(out)
			proto.Merge(out, cur)
			return saveMessage(save, tx, cur)
		})
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func saveMessage(save func(*sql.Tx, []byte) error, tx *sql.Tx, m proto.Message) error {
	b, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("resource: encode response: %w", err)
	}
	return save(tx, b)
}
