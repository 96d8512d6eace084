// Package importers is what the dataset importers (gdelt, acled, pax) share: each of them
// turns its rows into Rows (an event or a framework, plus the actors it needs), and the
// Importer here checks them, writes them through the batch-create methods of the public
// API and keeps the count.
//
// The guarantees an import gives, whatever the dataset:
//   - Idempotent: main records (events, frameworks) go in with EXISTING_POLICY_REPLACE, so
//     a re-import of the same file reports them UNCHANGED and an edited row UPDATED;
//     actors go in with EXISTING_POLICY_SKIP, so a curated actor (actors/fra from the
//     seed, with its aliases) is never overwritten by a dataset's terser version.
//   - A bad row is reported with its line and reason and the others go on (or, with
//     Strict, the file is checked first, each batch by the server with validate_only,
//     and nothing is written if any row is bad).
//   - Nothing half-written for a failed row: every row is checked on the client against
//     the same protovalidate rules the server applies (and the domain rules the
//     annotations cannot express), and an event goes to the server with the actors it
//     needs in the same BatchCreateEvents call, written in one transaction: when the
//     server refuses an event (or one of its actors), the batch is sent again without
//     that row, and nothing of it remains. Frameworks (PA-X) name only actors that
//     already exist, so their rows carry none.
package importers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/progress"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

// CallContext decorates a call's context (deadline, credentials), as for jsonl.
type CallContext = jsonl.CallContext

// ErrStrict is returned when Strict stops an import at a bad row.
var ErrStrict = jsonl.ErrStrict

// DefaultBatchSize is the number of rows per batch call. A batch of GDELT rows with the
// actors it carries stays well under the servers' 4 MiB request limit; maxBatchBytes
// bounds any other.
const DefaultBatchSize = 500

// maxBatchItems is the servers' limit on items in one batch call.
const maxBatchItems = 1000

// maxBatchBytes bounds a batch's encoded size below the servers' 4 MiB request limit.
const maxBatchBytes = 2 << 20

// Row is one dataset row: the records it maps to, or why it cannot be imported.
type Row struct {
	// Line is the physical line the row starts on (1-based), as an editor shows it.
	Line int
	// Reason, when set, says why the row is bad; nothing of it is written.
	Reason string
	// Filtered rows were left out on purpose (an option such as --actor-country).
	Filtered bool
	// ID is the main record's id ("gdelt-1234"), unique in its collection.
	ID string
	// Actors are the actors an Event needs, created with it (and left as they are when
	// they exist); their Name is set. A Framework row carries none: actors live in the
	// events service, which cannot write them in the guarantees service's transaction.
	Actors []*eventsv1.Actor
	// Event or Framework is the main record.
	Event     *eventsv1.Event
	Framework *guaranteesv1.Framework
}

// Name is the main record's resource name, for reports.
func (r Row) Name() string {
	switch {
	case r.ID == "":
		return ""
	case r.Framework != nil:
		return "frameworks/" + r.ID
	default:
		return "events/" + r.ID
	}
}

// Bad returns a bad row.
func Bad(line int, format string, args ...any) Row {
	return Row{Line: line, Reason: fmt.Sprintf(format, args...)}
}

// Parser reads one input and passes each row to emit, in order. It must return emit's
// error as soon as emit fails, and any read error.
type Parser func(r io.Reader, emit func(Row) error) error

// Options tune an import.
type Options struct {
	// Strict checks every input first, each batch by the server as it would write it
	// (ValidateOnly), and writes nothing if any row is bad. A row the server refuses in
	// the writing pass after all (the data changed in between) stops the import there.
	Strict bool
	// DryRun parses and checks rows without writing anything (and without calling the
	// server at all).
	DryRun bool
	// ValidateOnly sends every batch with validate_only: the server checks it as it would
	// a write (references, licences, its own rules) and keeps nothing. The summary counts
	// what the import would do (Summary.Checked). Batches are checked one by one against
	// the store as it is, so a row repeating an id of an earlier batch counts as updated,
	// where the write might find it unchanged.
	ValidateOnly bool
	// BatchSize is the number of rows per batch call; 0 means DefaultBatchSize.
	BatchSize int
	// Progress, when set, is told how far the import has come.
	Progress *progress.Meter
}

// Problem is a row that could not be imported, in the file it is in (an import may read
// several).
type Problem struct {
	File string
	jsonl.Problem
}

func (p Problem) String() string {
	where := p.File
	if p.Line > 0 {
		where = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	if p.Name != "" {
		return fmt.Sprintf("%s: %s: %s", where, p.Name, p.Reason)
	}
	return fmt.Sprintf("%s: %s", where, p.Reason)
}

// Summary is what an import did. The embedded jsonl.Summary counts rows (Read, Rejected)
// and main records (Created, Updated, Unchanged); its Problems stay empty: the rows'
// problems, with their file, are in Problems here.
type Summary struct {
	jsonl.Summary
	// Filtered counts rows left out by an option.
	Filtered int
	// ActorsCreated and ActorsExisting count the actors the rows named: created, or found
	// already there (and left as they were).
	ActorsCreated, ActorsExisting int
	// DryRun is set when nothing was written, and nothing sent to the server.
	DryRun bool
	// Checked is set when the server checked the rows without writing them
	// (Options.ValidateOnly): the counts are what the import would do.
	Checked  bool
	Problems []Problem
}

func (s Summary) String() string {
	var b strings.Builder
	b.WriteString(s.Summary.String())
	if s.Filtered > 0 {
		fmt.Fprintf(&b, ", filtered %d", s.Filtered)
	}
	if s.ActorsCreated > 0 || s.ActorsExisting > 0 {
		fmt.Fprintf(&b, "; actors: created %d, existing %d", s.ActorsCreated, s.ActorsExisting)
	}
	if s.DryRun {
		fmt.Fprintf(&b, " (dry run: %d valid, nothing written)", s.Read-s.Rejected-s.Filtered)
	}
	if s.Checked {
		b.WriteString(" (dry run on the server: what the import would do; nothing written)")
	}
	return b.String()
}

// Import reads every input with parse and writes the rows. With opt.Strict (and not
// DryRun) it first checks every input without writing (ValidateOnly), and stops there
// if a row is bad.
func Import(ctx context.Context, conn grpc.ClientConnInterface, call CallContext, inputs []Input, parse Parser, opt Options) (Summary, error) {
	if opt.Strict && !opt.DryRun && !opt.ValidateOnly {
		check := opt
		check.ValidateOnly, check.Progress = true, opt.Progress.Again("checking ")
		s, err := New(ctx, conn, call, check).Run(inputs, parse)
		if err != nil {
			// What the check counted was never written.
			s.Created, s.Updated, s.Unchanged, s.ActorsCreated, s.ActorsExisting, s.Checked = 0, 0, 0, 0, 0, false
			return s, err
		}
	}
	return New(ctx, conn, call, opt).Run(inputs, parse)
}

// Importer writes rows in batches. Use it through Import, or Run for several inputs.
type Importer struct {
	ctx  context.Context
	call CallContext
	ev   eventsv1.EventsServiceClient
	gu   guaranteesv1.GuaranteesServiceClient
	opt  Options
	s    Summary

	// ensured holds actors known to exist (created or found) during this import.
	ensured map[string]bool
	// checked holds, with ValidateOnly, the ids and actor names already counted.
	checked map[string]bool
	// validActors holds actors already checked, by name.
	validActors map[string]bool

	file         string
	pending      []Row
	pendingIDs   map[string]bool
	pendingBytes int
	// pendingActors holds the actors the pending rows will send (not yet ensured).
	pendingActors map[string]bool
}

// New returns an importer over conn (a gateway, or a service in tests).
func New(ctx context.Context, conn grpc.ClientConnInterface, call CallContext, opt Options) *Importer {
	if opt.BatchSize <= 0 {
		opt.BatchSize = DefaultBatchSize
	}
	opt.BatchSize = min(opt.BatchSize, maxBatchItems)
	im := &Importer{ctx: ctx, call: call, opt: opt, ensured: map[string]bool{}, checked: map[string]bool{}, validActors: map[string]bool{}, pendingIDs: map[string]bool{}, pendingActors: map[string]bool{}}
	im.s.DryRun, im.s.Checked = opt.DryRun, opt.ValidateOnly
	if conn != nil {
		im.ev = eventsv1.NewEventsServiceClient(conn)
		im.gu = guaranteesv1.NewGuaranteesServiceClient(conn)
	}
	return im
}

// Run imports every input in turn and returns the summary of all of them.
func (im *Importer) Run(inputs []Input, parse Parser) (Summary, error) {
	var base int64
	for _, in := range inputs {
		n, err := im.runOne(in, parse, base)
		base += n
		if err != nil {
			im.opt.Progress.Done()
			return im.s, err
		}
	}
	im.opt.Progress.Done()
	return im.s, nil
}

func (im *Importer) runOne(in Input, parse Parser, base int64) (int64, error) {
	im.file = in.Name
	rc, err := in.Open()
	if err != nil {
		return 0, err
	}
	defer func() { _ = rc.Close() }()
	cr := &progress.CountingReader{R: rc}
	err = parse(cr, func(r Row) error {
		if err := im.ctx.Err(); err != nil {
			return err
		}
		err := im.add(r)
		im.opt.Progress.Update(base+cr.N, im.s.Read)
		return err
	})
	if err == nil {
		err = im.flush()
	}
	if err != nil && !errors.Is(err, ErrStrict) && !errors.Is(err, context.Canceled) && !isStatus(err) {
		err = fmt.Errorf("%s: %w", in.Name, err)
	}
	return cr.N, err
}

// add takes one row: a bad one is reported, a good one checked and queued.
func (im *Importer) add(r Row) error {
	im.s.Read++
	if r.Reason != "" {
		return im.reject(r.Line, r.Name(), r.Reason)
	}
	if r.Filtered {
		im.s.Filtered++
		return nil
	}
	if err := im.check(r); err != nil {
		return im.reject(r.Line, r.Name(), err.Error())
	}
	if im.opt.DryRun {
		return nil
	}
	if r.Framework != nil && len(r.Actors) > 0 {
		return fmt.Errorf("importers: line %d: a framework row cannot carry actors to create", r.Line)
	}
	size := rowSize(r)
	newActors := 0
	for _, a := range r.Actors {
		if !im.ensured[a.GetName()] && !im.pendingActors[a.GetName()] {
			newActors++
		}
	}
	// A repeated id in one batch would fail the whole batch: send what came before, so
	// the later row replaces the earlier one, as it would in separate imports. The
	// actors a batch carries are bounded as its rows are.
	if im.pendingIDs[r.ID] || len(im.pending) >= im.opt.BatchSize || len(im.pendingActors)+newActors > maxBatchItems ||
		(len(im.pending) > 0 && im.pendingBytes+size > maxBatchBytes) {
		if err := im.flush(); err != nil {
			return err
		}
	}
	im.pending = append(im.pending, r)
	im.pendingIDs[r.ID] = true
	im.pendingBytes += size
	for _, a := range r.Actors {
		if !im.ensured[a.GetName()] {
			im.pendingActors[a.GetName()] = true
		}
	}
	return nil
}

func rowSize(r Row) int {
	n := proto.Size(r.Event) + proto.Size(r.Framework)
	for _, a := range r.Actors {
		n += proto.Size(a)
	}
	return n
}

func (im *Importer) reject(line int, name, reason string) error {
	im.s.Rejected++
	im.s.Problems = append(im.s.Problems, Problem{File: im.file, Problem: jsonl.Problem{Line: line, Name: name, Reason: reason}})
	if im.opt.Strict {
		return ErrStrict
	}
	return nil
}

// flush writes the pending rows, each event with the actors it needs that this import
// has not seen yet, and reports the rows the server refused.
func (im *Importer) flush() error {
	rows := im.pending
	im.pending, im.pendingIDs, im.pendingBytes, im.pendingActors = nil, map[string]bool{}, 0, map[string]bool{}
	if len(rows) == 0 {
		return nil
	}
	send := im.sendEvents
	if rows[0].Framework != nil {
		send = im.sendFrameworks
	}
	results, err := WriteBatch(im.ctx, rows, send)
	if err != nil {
		return err
	}
	var strictErr error
	order := make([]int, 0, len(rows))
	for i, res := range results {
		if res.Reason != "" {
			order = append(order, i)
			continue
		}
		outcome := res.Outcome
		if im.opt.ValidateOnly {
			// Nothing was written, so the server finds an id of an earlier batch new
			// again; the import would replace what that batch wrote.
			if im.checked[rows[i].ID] && outcome == typev1.BatchOutcome_BATCH_OUTCOME_CREATED {
				outcome = typev1.BatchOutcome_BATCH_OUTCOME_UPDATED
			}
			im.checked[rows[i].ID] = true
		}
		im.s.Count(outcome)
	}
	sort.SliceStable(order, func(a, b int) bool { return rows[order[a]].Line < rows[order[b]].Line })
	for _, i := range order {
		if err := im.reject(rows[i].Line, rows[i].Name(), results[i].Reason); err != nil {
			strictErr = err
		}
	}
	return strictErr
}

func actorID(a *eventsv1.Actor) string { return strings.TrimPrefix(a.GetName(), "actors/") }

// sendEvents writes rows' events with the actors they need that are not known to exist
// yet, in one call. An error about one of those actors is turned into one about each row
// that needs it, so that WriteBatch sends the batch again without those rows.
func (im *Importer) sendEvents(ctx context.Context, rows []Row) ([]typev1.BatchOutcome, error) {
	req := &eventsv1.BatchCreateEventsRequest{ExistingPolicy: typev1.ExistingPolicy_EXISTING_POLICY_REPLACE, ValidateOnly: im.opt.ValidateOnly}
	var names []string
	index := map[string]int{}
	for _, r := range rows {
		req.Requests = append(req.Requests, &eventsv1.CreateEventRequest{EventId: r.ID, Event: r.Event})
		for _, a := range r.Actors {
			name := a.GetName()
			if _, dup := index[name]; dup || im.ensured[name] {
				continue
			}
			index[name] = len(names)
			names = append(names, name)
			req.Actors = append(req.Actors, &eventsv1.CreateActorRequest{ActorId: actorID(a), Actor: a})
		}
	}
	c, cancel := im.call(ctx)
	defer cancel()
	resp, err := im.ev.BatchCreateEvents(c, req)
	if err != nil {
		byActor := jsonl.BlameItems(err, "actors", len(names))
		if len(byActor) == 0 {
			return nil, err
		}
		byRow := map[int]string{}
		for i, r := range rows {
			for _, a := range r.Actors {
				if j, sent := index[a.GetName()]; sent {
					if reason, bad := byActor[j]; bad {
						byRow[i] = a.GetName() + ": " + reason
						break
					}
				}
			}
		}
		return nil, &itemsError{err: err, blamed: byRow}
	}
	if len(resp.GetActorOutcomes()) != len(names) {
		return nil, fmt.Errorf("the server answered %d actor outcomes for %d actors", len(resp.GetActorOutcomes()), len(names))
	}
	for j, o := range resp.GetActorOutcomes() {
		if im.opt.ValidateOnly {
			// Nothing was written: a later batch needing this actor sends it again,
			// and it is counted once.
			if im.checked[names[j]] {
				continue
			}
			im.checked[names[j]] = true
		} else {
			im.ensured[names[j]] = true
		}
		if o == typev1.BatchOutcome_BATCH_OUTCOME_CREATED {
			im.s.ActorsCreated++
		} else {
			im.s.ActorsExisting++
		}
	}
	return resp.GetOutcomes(), nil
}

func (im *Importer) sendFrameworks(ctx context.Context, rows []Row) ([]typev1.BatchOutcome, error) {
	req := &guaranteesv1.BatchCreateFrameworksRequest{ExistingPolicy: typev1.ExistingPolicy_EXISTING_POLICY_REPLACE, ValidateOnly: im.opt.ValidateOnly}
	for _, r := range rows {
		req.Requests = append(req.Requests, &guaranteesv1.CreateFrameworkRequest{FrameworkId: r.ID, Framework: r.Framework})
	}
	c, cancel := im.call(ctx)
	defer cancel()
	resp, err := im.gu.BatchCreateFrameworks(c, req)
	return resp.GetOutcomes(), err
}
