package resource

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
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

// Group is one collection's part of a batch: its items, the policy for ids that already
// exist, the domain check, and the request field that holds the items, which errors
// about them name ("requests", "actors").
type Group struct {
	Collection *Collection
	Field      string
	Items      []Item
	Policy     Policy
	Check      Check
}

// GroupResult is what a batch did with one group: the resources, as written or as they
// were, and each one's outcome, in the group's order.
type GroupResult struct {
	Resources []proto.Message
	Outcomes  []Outcome
}

// BatchMode says whether BatchCreate writes a batch or only checks it.
type BatchMode int

const (
	// BatchWrite writes the batch.
	BatchWrite BatchMode = iota
	// BatchValidateOnly runs the whole batch, checks included, in a transaction that
	// is then rolled back: the answer (or the error) is the one a write would give at
	// that moment, and nothing is kept: no resource, no change, no idempotency record.
	BatchValidateOnly
)

// errValidated rolls back a BatchValidateOnly transaction once its answer is known.
var errValidated = errors.New("resource: batch validated, rolling back")

// BatchCreate writes the groups in order in one transaction, all or nothing. Existing
// ids follow each group's policy; a replaced resource keeps its create_time and gets an
// UPDATED change; the group's check runs on every resource about to be written. A later
// group's check sees what earlier groups wrote, so a batch can carry the resources its
// main items refer to (an event's actors) and a refused batch leaves none of them
// behind. Each group holds at most MaxBatch items. With BatchValidateOnly nothing is
// kept, and meta.RequestID is neither looked up nor saved: a check is not the write it
// previews, and a later write with that id must not get the check's answer.
func (s *Store) BatchCreate(ctx context.Context, meta Meta, groups []Group, mode BatchMode) ([]GroupResult, error) {
	total := 0
	for _, g := range groups {
		if len(g.Items) > MaxBatch {
			return nil, apperr.Invalid(g.Field, fmt.Sprintf("a batch holds at most %d items here, not %d", MaxBatch, len(g.Items)))
		}
		seen := make(map[string]int, len(g.Items))
		for i, it := range g.Items {
			if j, dup := seen[it.ID]; dup {
				return nil, apperr.Invalid(fmt.Sprintf("%s[%d]", g.Field, i), fmt.Sprintf("id %q repeats %s[%d]", it.ID, g.Field, j))
			}
			seen[it.ID] = i
		}
		total += len(g.Items)
	}
	if total == 0 {
		return nil, apperr.Invalid("requests", "a batch holds at least one item")
	}
	if mode == BatchValidateOnly {
		meta.RequestID = "" // neither looked up nor saved
	}
	var stored batchResult
	err := s.idempotent(ctx, meta, stored.unmarshal, func(save func(*sql.Tx, []byte) error) error {
		return s.db.InTx(ctx, func(tx *sql.Tx) error {
			if err := changelog.LockHead(ctx, tx, s.db); err != nil {
				return err
			}
			res := batchResult{}
			for _, g := range groups {
				if err := s.writeGroup(ctx, tx, meta, g, &res); err != nil {
					return err
				}
				res.sizes = append(res.sizes, len(g.Items))
			}
			stored = res
			if mode == BatchValidateOnly {
				return errValidated
			}
			b, err := res.marshal()
			if err != nil {
				return err
			}
			return save(tx, b)
		})
	})
	if err != nil && !errors.Is(err, errValidated) {
		return nil, err
	}
	return stored.decode(groups)
}

// writeGroup writes one group's items inside the batch's transaction and adds what became
// of each to res.
func (s *Store) writeGroup(ctx context.Context, tx *sql.Tx, meta Meta, g Group, res *batchResult) error {
	c := g.Collection
	for i, it := range g.Items {
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
			// An id taken by a resource the caller may not read: the batch would hand it
			// back (UNCHANGED returns the stored resource) or replace it.
			if meta.Guard != nil {
				if err := meta.Guard(Name(r), cur); err != nil {
					return prefixViolations(err, fmt.Sprintf("%s[%d].", g.Field, i))
				}
			}
		}
		// The check runs first: it validates and derives fields, so that comparing
		// with the stored resource compares like with like.
		if g.Check != nil {
			if err := g.Check(txReader{s, tx}, old, r); err != nil {
				return prefixViolations(err, fmt.Sprintf("%s[%d].", g.Field, i))
			}
		}
		outcome := Created
		if found {
			switch {
			case g.Policy == PolicyFail:
				return apperr.AlreadyExists("%s[%d]: %s already exists", g.Field, i, Name(r))
			case g.Policy == PolicySkip || (!Deleted(cur) && contentEqual(cur, r, c.outputOnly())):
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
	return nil
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
// protobuf-wire message (field 1: repeated bytes resources; field 2: repeated outcomes;
// field 3: repeated group sizes, absent in answers stored before batches had groups,
// which had one). It implements just enough of proto.Message through protowire encoding.
type batchResult struct {
	items    [][]byte
	outcomes []Outcome
	sizes    []int
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
	for _, n := range b.sizes {
		out = protowire.AppendTag(out, 3, protowire.VarintType)
		out = protowire.AppendVarint(out, uint64(n))
	}
	return out, nil
}

func (b *batchResult) unmarshal(data []byte) error {
	b.items, b.outcomes, b.sizes, b.objs = nil, nil, nil, nil
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
		case (num == 2 || num == 3) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(data)
			if n < 0 {
				return protowire.ParseError(n)
			}
			if num == 2 {
				b.outcomes = append(b.outcomes, Outcome(v))
			} else {
				b.sizes = append(b.sizes, int(v))
			}
			data = data[n:]
		default:
			return fmt.Errorf("resource: unexpected field %d in stored batch", num)
		}
	}
	return nil
}

// decode splits the answer into the groups' results, decoding stored resources with each
// group's collection.
func (b *batchResult) decode(groups []Group) ([]GroupResult, error) {
	n := len(b.objs)
	if b.objs == nil {
		n = len(b.items)
	}
	sizes := b.sizes
	if sizes == nil {
		// Stored before batches had groups: everything is the main group, the last.
		sizes = make([]int, len(groups))
		sizes[len(sizes)-1] = n
	}
	if len(b.outcomes) != n {
		return nil, fmt.Errorf("resource: stored batch answer has %d outcomes for %d items", len(b.outcomes), n)
	}
	if len(sizes) != len(groups) {
		return nil, apperr.FailedPrecondition("request_id was first used for a batch of another shape (%d parts, not %d): use a new one", len(sizes), len(groups))
	}
	out := make([]GroupResult, len(groups))
	at := 0
	for gi, size := range sizes {
		if at+size > n {
			return nil, fmt.Errorf("resource: stored batch answer is shorter than its groups")
		}
		res := GroupResult{Resources: make([]proto.Message, size), Outcomes: b.outcomes[at : at+size]}
		for k := range size {
			if b.objs != nil {
				res.Resources[k] = b.objs[at+k]
				continue
			}
			m := groups[gi].Collection.New()
			if err := proto.Unmarshal(b.items[at+k], m); err != nil {
				return nil, err
			}
			res.Resources[k] = m
		}
		out[gi] = res
		at += size
	}
	return out, nil
}
