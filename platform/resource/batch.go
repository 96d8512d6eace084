package resource

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/fieldmask"
)

// Policy says what BatchCreate does with an id that already exists.
type Policy int

// Policies, matching guarantor.type.v1.ExistingPolicy.
const (
	PolicyFail Policy = iota
	PolicySkip
	PolicyReplace
)

// Outcome says what BatchCreate did with one item.
type Outcome int

// Outcomes, matching guarantor.type.v1.BatchOutcome.
const (
	Created Outcome = iota + 1
	Updated
	Unchanged
)

// Item is one resource of a batch.
type Item struct {
	ID       string
	Resource proto.Message
}

// MaxBatch bounds a batch: one transaction must stay short.
const MaxBatch = 1000

// BatchCreate writes items in one transaction, all or nothing. Existing ids follow the
// policy; a replaced resource keeps its create_time and gets an UPDATED change. check
// runs on every resource about to be written.
func (s *Store) BatchCreate(ctx context.Context, c *Collection, meta Meta, items []Item, policy Policy, check Check) ([]proto.Message, []Outcome, error) {
	if len(items) == 0 || len(items) > MaxBatch {
		return nil, nil, apperr.Invalid("requests", fmt.Sprintf("a batch holds 1 to %d items, not %d", MaxBatch, len(items)))
	}
	seen := make(map[string]int, len(items))
	for i, it := range items {
		if j, dup := seen[it.ID]; dup {
			return nil, nil, apperr.Invalid(fmt.Sprintf("requests[%d]", i), fmt.Sprintf("id %q repeats requests[%d]", it.ID, j))
		}
		seen[it.ID] = i
	}
	var stored batchResult
	err := s.idempotent(ctx, meta, stored.unmarshal, func(save func(*sql.Tx, []byte) error) error {
		err := s.db.InTx(ctx, func(tx *sql.Tx) error {
			res := batchResult{}
			for i, it := range items {
				r := proto.Clone(it.Resource)
				clearOutputOnly(r, c.outputOnly())
				setString(r, "name", c.Name+"/"+it.ID)
				cur, found, err := s.load(ctx, tx, c, Name(r))
				if err != nil {
					return err
				}
				var old proto.Message
				if found {
					old = cur
				}
				// The check runs first: it validates and derives fields, so that comparing
				// with the stored resource compares like with like.
				if check != nil {
					if err := check(txReader{s, tx}, old, r); err != nil {
						return prefixViolations(err, fmt.Sprintf("requests[%d].", i))
					}
				}
				outcome := Created
				if found {
					switch {
					case policy == PolicyFail:
						return apperr.AlreadyExists("requests[%d]: %s already exists", i, Name(r))
					case policy == PolicySkip || (!Deleted(cur) && contentEqual(cur, r, c.outputOnly())):
						res.add(cur, Unchanged)
						continue
					}
					outcome = Updated
				}
				kind, changed := KindCreated, fieldmask.Changed(nil, r, ignoredInDiff)
				if found {
					// A replacement keeps the identity and history of what it replaces.
					setTime(r, "create_time", getTime(cur, "create_time"))
					kind, changed = KindUpdated, fieldmask.Changed(cur, r, ignoredInDiff)
				}
				if _, err := s.record(ctx, tx, c, meta, kind, r, changed, Note{}); err != nil {
					return err
				}
				if err := s.put(ctx, tx, c, r, found); err != nil {
					return err
				}
				res.add(r, outcome)
			}
			stored = res
			b, err := res.marshal()
			if err != nil {
				return err
			}
			return save(tx, b)
		})
		return err
	})
	if err != nil {
		return nil, nil, err
	}
	return stored.decode(c)
}

// prefixViolations points a domain error at the batch item: its field violations, or
// else its message.
func prefixViolations(err error, prefix string) error {
	ae, ok := apperr.As(err)
	if !ok {
		return err
	}
	if len(ae.Violations) == 0 {
		c := *ae
		c.Message = strings.TrimSuffix(prefix, ".") + ": " + ae.Message
		return &c
	}
	vs := make([]apperr.FieldViolation, len(ae.Violations))
	for i, v := range ae.Violations {
		vs[i] = apperr.FieldViolation{Field: prefix + v.Field, Description: v.Description}
	}
	return apperr.InvalidFields(vs...)
}

// batchResult is a batch's answer in a form the idempotency table can keep: a tiny
// protobuf-wire message (field 1: repeated bytes resources; field 2: repeated outcomes).
// It implements just enough of proto.Message through protowire encoding.
type batchResult struct {
	items    [][]byte
	outcomes []Outcome
	objs     []proto.Message
}

func (b *batchResult) add(m proto.Message, o Outcome) {
	b.objs = append(b.objs, proto.Clone(m))
	b.outcomes = append(b.outcomes, o)
}

func (b *batchResult) marshal() ([]byte, error) {
	var out []byte
	for i, m := range b.objs {
		data, err := proto.Marshal(m)
		if err != nil {
			return nil, err
		}
		out = protowire.AppendTag(out, 1, protowire.BytesType)
		out = protowire.AppendBytes(out, data)
		out = protowire.AppendTag(out, 2, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(b.outcomes[i]))
	}
	return out, nil
}

func (b *batchResult) unmarshal(data []byte) error {
	b.items, b.outcomes, b.objs = nil, nil, nil
	for len(data) > 0 {
		num, typ, n := protowire.ConsumeTag(data)
		if n < 0 {
			return protowire.ParseError(n)
		}
		data = data[n:]
		switch {
		case num == 1 && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(data)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b.items = append(b.items, v)
			data = data[n:]
		case num == 2 && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b.outcomes = append(b.outcomes, Outcome(v))
			data = data[n:]
		default:
			return fmt.Errorf("resource: unexpected field %d in stored batch", num)
		}
	}
	return nil
}

func (b *batchResult) decode(c *Collection) ([]proto.Message, []Outcome, error) {
	if b.objs != nil {
		return b.objs, b.outcomes, nil
	}
	out := make([]proto.Message, len(b.items))
	for i, data := range b.items {
		m := c.New()
		if err := proto.Unmarshal(data, m); err != nil {
			return nil, nil, err
		}
		out[i] = m
	}
	return out, b.outcomes, nil
}
