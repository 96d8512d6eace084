// Package jsonl reads and writes Guarantor's own interchange format: one resource per
// line, as protobuf JSON of a google.protobuf.Any (so each line names its type), e.g.
//
//	{"@type":"type.googleapis.com/guarantor.events.v1.Actor","name":"actors/fra",...}
//
// Export writes every actor, event, framework and guarantee; Import creates or replaces
// them through the public API (the batch-create methods), in dependency order, and
// brings guarantees to their recorded status through the lifecycle's transitions. A
// re-import of the same file changes nothing and says so.
package jsonl

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	guaranteesv1 "github.com/guarantor/guarantor/gen/go/guarantor/guarantees/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/progress"
)

// MaxLine bounds one line: a resource is far smaller.
const MaxLine = 4 << 20

// CallContext decorates a call's context (deadline, credentials).
type CallContext func(context.Context) (context.Context, context.CancelFunc)

// Marshal renders one resource as a line (without the newline).
func Marshal(m proto.Message) ([]byte, error) {
	a, err := anypb.New(m)
	if err != nil {
		return nil, err
	}
	return protojson.MarshalOptions{UseProtoNames: true}.Marshal(a)
}

// Unmarshal parses one line into its resource.
func Unmarshal(line []byte) (proto.Message, error) {
	var a anypb.Any
	if err := protojson.Unmarshal(line, &a); err != nil {
		return nil, err
	}
	return a.UnmarshalNew()
}

// Export writes every resource the caller may read, in dependency order.
func Export(ctx context.Context, conn grpc.ClientConnInterface, call CallContext, w io.Writer) (int, error) {
	ev := eventsv1.NewEventsServiceClient(conn)
	gu := guaranteesv1.NewGuaranteesServiceClient(conn)
	n := 0
	write := func(m proto.Message) error {
		b, err := Marshal(m)
		if err != nil {
			return err
		}
		n++
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	pages := []func(token string) ([]proto.Message, string, error){
		func(token string) ([]proto.Message, string, error) {
			c, cancel := call(ctx)
			defer cancel()
			r, err := ev.ListActors(c, &eventsv1.ListActorsRequest{PageSize: 1000, PageToken: token, OrderBy: "create_time"})
			return msgs(r.GetActors()), r.GetNextPageToken(), err
		},
		func(token string) ([]proto.Message, string, error) {
			c, cancel := call(ctx)
			defer cancel()
			r, err := ev.ListEvents(c, &eventsv1.ListEventsRequest{PageSize: 1000, PageToken: token, OrderBy: "create_time"})
			return msgs(r.GetEvents()), r.GetNextPageToken(), err
		},
		func(token string) ([]proto.Message, string, error) {
			c, cancel := call(ctx)
			defer cancel()
			r, err := gu.ListFrameworks(c, &guaranteesv1.ListFrameworksRequest{PageSize: 1000, PageToken: token, OrderBy: "create_time"})
			return msgs(r.GetFrameworks()), r.GetNextPageToken(), err
		},
		func(token string) ([]proto.Message, string, error) {
			c, cancel := call(ctx)
			defer cancel()
			r, err := gu.ListGuarantees(c, &guaranteesv1.ListGuaranteesRequest{PageSize: 1000, PageToken: token, OrderBy: "create_time"})
			return msgs(r.GetGuarantees()), r.GetNextPageToken(), err
		},
	}
	for _, page := range pages {
		token := ""
		for {
			items, next, err := page(token)
			if err != nil {
				return n, err
			}
			for _, m := range items {
				if err := write(m); err != nil {
					return n, err
				}
			}
			if token = next; token == "" {
				break
			}
		}
	}
	return n, nil
}

func msgs[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// Summary is what an import did.
type Summary struct {
	Read, Created, Updated, Unchanged, Rejected int
	// Transitions counts the status moves made to reach recorded statuses.
	Transitions int
	Problems    []Problem
}

// Problem is a line that could not be imported.
type Problem struct {
	Line   int
	Name   string
	Reason string
}

func (s Summary) String() string {
	return fmt.Sprintf("read %d, created %d, updated %d, unchanged %d, rejected %d", s.Read, s.Created, s.Updated, s.Unchanged, s.Rejected)
}

// Options tune an import.
type Options struct {
	// Strict checks the whole file first and writes nothing if any line is bad; a record
	// the server refuses then stops the import.
	Strict bool
	// DryRun parses and checks lines (with the proto rules the servers apply) without
	// writing anything, and without calling the server.
	DryRun bool
	// Progress, when set, is told how far the import has come; Import ends it (Done).
	Progress *progress.Meter
}

type item struct {
	line int
	// size is the bytes the line took, line ending included, for progress.
	size int64
	msg  proto.Message
}

// ErrStrict is returned when Strict stops an import at a bad line.
var ErrStrict = errors.New("import stopped at the first bad line (--strict)")

// The types a file may hold, in the order they are written: each may refer to the ones
// before it.
const (
	actorType     = "guarantor.events.v1.Actor"
	eventType     = "guarantor.events.v1.Event"
	frameworkType = "guarantor.guarantees.v1.Framework"
	guaranteeType = "guarantor.guarantees.v1.Guarantee"
)

// collections maps each type to the collection its names are in.
var collections = map[string]string{actorType: "actors", eventType: "events", frameworkType: "frameworks", guaranteeType: "guarantees"}

// Import reads r and writes its resources. Every line is read and checked (JSON, type,
// name, and the proto rules the servers apply) before anything is written; a bad line is
// reported with its number and reason and the others go on, unless opt.Strict, which stops
// at the first bad line with nothing written.
func Import(ctx context.Context, conn grpc.ClientConnInterface, call CallContext, r io.Reader, opt Options) (Summary, error) {
	opt.Progress.Update(0, 0) // the clock starts now
	defer opt.Progress.Done()
	var s Summary
	groups := map[string][]item{}
	lr := &lineReader{r: bufio.NewReaderSize(r, 64<<10)}
	var read, queued int64 // bytes read, and of the lines to be written
	nQueued := 0
	for {
		raw, size, tooLong, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, fmt.Errorf("line %d: %w", lr.line+1, err)
		}
		read += size
		text := bytes.TrimSpace(raw)
		if !tooLong && (len(text) == 0 || text[0] == '#') {
			continue
		}
		s.Read++
		m, name, reason := parseLine(text, tooLong)
		if reason != "" {
			s.reject(lr.line, name, reason)
			if opt.Strict {
				opt.Progress.Update(read, s.Read)
				return s, ErrStrict
			}
			continue
		}
		kind := string(m.ProtoReflect().Descriptor().FullName())
		groups[kind] = append(groups[kind], item{line: lr.line, size: size, msg: m})
		queued += size
		nQueued++
	}
	if opt.DryRun {
		opt.Progress.Update(read, s.Read)
		return s, nil
	}
	im := &importer{ctx: ctx, call: call, ev: eventsv1.NewEventsServiceClient(conn), gu: guaranteesv1.NewGuaranteesServiceClient(conn), s: &s, opt: opt,
		written: map[int]typev1.BatchOutcome{}, doneBytes: read - queued, doneRows: s.Read - nQueued}
	im.opt.Progress.Update(im.doneBytes, im.doneRows)
	// Actors in file order, each after its parent: a batch is written in order in one
	// transaction, so a parent earlier in the same batch counts.
	if err := im.batches(actorType, actorOrder(groups[actorType])); err != nil {
		return s, err
	}
	for _, kind := range []string{eventType, frameworkType, guaranteeType} {
		if err := im.batches(kind, groups[kind]); err != nil {
			return s, err
		}
	}
	for _, it := range groups[guaranteeType] {
		if _, ok := im.written[it.line]; !ok {
			continue // refused: nothing of it may be written
		}
		if err := im.settle(it); err != nil {
			return s, err
		}
	}
	return s, nil
}

// parseLine reads one line into its resource, or says why it cannot be imported (with the
// resource's name when it has one).
func parseLine(text []byte, tooLong bool) (m proto.Message, name, reason string) {
	if tooLong {
		return nil, "", fmt.Sprintf("the line is longer than %d MiB", MaxLine>>20)
	}
	m, err := Unmarshal(text)
	if err != nil {
		return nil, "", err.Error()
	}
	kind := string(m.ProtoReflect().Descriptor().FullName())
	collection, ok := collections[kind]
	if !ok {
		return nil, "", "type " + kind + " cannot be imported"
	}
	name = resourceName(m)
	if name == "" {
		return nil, "", "the resource has no name (" + collection + "/{id})"
	}
	if !strings.HasPrefix(name, collection+"/") {
		return nil, name, fmt.Sprintf("the name of a %s must be %s/{id}", kind, collection)
	}
	if err := Validate(createRequest(m)); err != nil {
		return nil, name, err.Error()
	}
	return m, name, ""
}

// lineReader reads lines of any length: a line longer than MaxLine is read to its end
// and reported as too long, without being kept.
type lineReader struct {
	r *bufio.Reader
	// line is the number of the line last returned (1-based).
	line int
}

// next returns the next line (with its line ending), the bytes it took and whether it was
// too long to keep; io.EOF once there is none.
func (lr *lineReader) next() (text []byte, size int64, tooLong bool, err error) {
	var buf []byte
	for {
		frag, err := lr.r.ReadSlice('\n')
		size += int64(len(frag))
		if !tooLong {
			if len(buf)+len(frag) > MaxLine+2 { // room for "\r\n"
				tooLong, buf = true, nil
			} else {
				buf = append(buf, frag...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if size == 0 {
				return nil, 0, false, io.EOF
			}
		case err != nil:
			return nil, size, false, err
		}
		lr.line++
		return buf, size, tooLong, nil
	}
}

// actorOrder keeps the actors in file order, except that an actor whose parent comes
// later in the file is moved to just after it. An export lists actors in creation order,
// where parents come first, so it is written back in the same order (and a re-export
// lists them as the first did).
func actorOrder(items []item) []item {
	index := map[string]int{}
	for i, it := range items {
		index[resourceName(it.msg)] = i
	}
	done := make([]bool, len(items))
	onPath := make([]bool, len(items))
	out := make([]item, 0, len(items))
	var visit func(i int)
	visit = func(i int) {
		if done[i] || onPath[i] {
			return // written already, or a cycle (which the server refuses)
		}
		onPath[i] = true
		if p, ok := index[items[i].msg.(*eventsv1.Actor).GetParent()]; ok {
			visit(p)
		}
		onPath[i] = false
		done[i] = true
		out = append(out, items[i])
	}
	for i := range items {
		visit(i)
	}
	return out
}

func (s *Summary) reject(line int, name, reason string) {
	s.Rejected++
	s.Problems = append(s.Problems, Problem{Line: line, Name: name, Reason: reason})
}

func resourceName(m proto.Message) string {
	fd := m.ProtoReflect().Descriptor().Fields().ByName("name")
	if fd == nil {
		return ""
	}
	return m.ProtoReflect().Get(fd).String()
}

type importer struct {
	ctx  context.Context
	call CallContext
	ev   eventsv1.EventsServiceClient
	gu   guaranteesv1.GuaranteesServiceClient
	s    *Summary
	opt  Options
	// written is the outcome of every line a batch wrote, by line: only those are
	// settled (a refused line must leave nothing of itself behind).
	written map[int]typev1.BatchOutcome

	// doneBytes and doneRows are how far the import has come, for progress: the lines
	// handled (written, refused or never to be written).
	doneBytes int64
	doneRows  int
}

// advance counts items as handled and reports progress.
func (im *importer) advance(items []item) {
	for _, it := range items {
		im.doneBytes += it.size
	}
	im.doneRows += len(items)
	im.opt.Progress.Update(im.doneBytes, im.doneRows)
}

const batchSize = 500

// batches writes items of one type; a batch the server rejects for some of its items is
// retried without them, each rejected line reported with the server's reason.
func (im *importer) batches(kind string, items []item) error {
	for start := 0; start < len(items); start += batchSize {
		chunk := items[start:min(start+batchSize, len(items))]
		all := chunk
		for len(chunk) > 0 {
			outcomes, err := im.sendRetrying(kind, chunk)
			if err == nil {
				for k, o := range outcomes {
					im.written[chunk[k].line] = o
					im.s.Count(o)
				}
				break
			}
			bad := BlameItems(err, "requests", len(chunk))
			if len(bad) == 0 {
				return fmt.Errorf("lines %d-%d: %w", chunk[0].line, chunk[len(chunk)-1].line, err)
			}
			var keep []item
			for i, it := range chunk {
				if reason, isBad := bad[i]; isBad {
					im.s.reject(it.line, resourceName(it.msg), reason)
					if im.opt.Strict {
						return ErrStrict
					}
					continue
				}
				keep = append(keep, it)
			}
			chunk = keep
		}
		im.advance(all)
	}
	return nil
}

// Count adds one written record's outcome.
func (s *Summary) Count(o typev1.BatchOutcome) { s.add(o, 1) }

func (s *Summary) add(o typev1.BatchOutcome, n int) {
	switch o {
	case typev1.BatchOutcome_BATCH_OUTCOME_CREATED:
		s.Created += n
	case typev1.BatchOutcome_BATCH_OUTCOME_UPDATED:
		s.Updated += n
	default:
		s.Unchanged += n
	}
}

// AboutItems reports whether a refused batch call may be refused because of some of its
// items (bad input, a missing reference, a taken id), rather than the call as a whole
// (the server is down, the caller may not write or read).
func AboutItems(err error) bool {
	switch status.Code(err) {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.AlreadyExists, codes.NotFound, codes.OutOfRange:
		return true
	}
	return false
}

// BlameItems maps the items of a refused batch call's repeated request field (field[i])
// that the error names to the reason: its field violations ("requests[i].event.title"),
// or else a message starting with one ("requests[i]: ..."). Nothing when it names none or
// the error is not AboutItems.
func BlameItems(err error, field string, n int) map[int]string {
	st, ok := status.FromError(err)
	if !ok || !AboutItems(err) {
		return nil
	}
	out := map[int]string{}
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			var i int
			if _, err := fmt.Sscanf(v.GetField(), field+"[%d]", &i); err != nil || i < 0 || i >= n {
				continue
			}
			rest := strings.TrimPrefix(v.GetField(), fmt.Sprintf("%s[%d]", field, i))
			reason := strings.TrimPrefix(rest, ".") + ": " + v.GetDescription()
			if prev, ok := out[i]; ok {
				reason = prev + "; " + reason
			}
			out[i] = reason
		}
	}
	if len(out) == 0 {
		var i int
		if _, err := fmt.Sscanf(st.Message(), field+"[%d]", &i); err == nil && i >= 0 && i < n {
			out[i] = st.Message()
		}
	}
	return out
}

func idOf(m proto.Message) string {
	name := resourceName(m)
	return name[strings.Index(name, "/")+1:]
}

// sendRetrying retries a batch refused for an unknown reference for a few seconds: the
// guarantees service checks references against its projection of the events stream,
// which may lag the events this import has just written.
func (im *importer) sendRetrying(kind string, chunk []item) ([]typev1.BatchOutcome, error) {
	var outcomes []typev1.BatchOutcome
	err := im.untilKnown(func() error {
		var err error
		outcomes, err = im.send(kind, chunk)
		return err
	})
	return outcomes, err
}

// untilKnown runs call again while it fails for an unknown reference, for up to
// projectionWait: the guarantees service learns of events and actors from the events
// service's stream, a moment after they are written.
func (im *importer) untilKnown(call func() error) error {
	deadline := time.Now().Add(projectionWait)
	for {
		err := call()
		st, _ := status.FromError(err)
		if err == nil || st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "unknown reference") || time.Now().After(deadline) {
			return err
		}
		select {
		case <-im.ctx.Done():
			return im.ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// projectionWait bounds how long an import waits for the guarantees service to see
// events it has just written.
const projectionWait = 15 * time.Second

func (im *importer) send(kind string, chunk []item) ([]typev1.BatchOutcome, error) {
	ctx, cancel := im.call(im.ctx)
	defer cancel()
	policy := typev1.ExistingPolicy_EXISTING_POLICY_REPLACE
	switch kind {
	case actorType:
		req := &eventsv1.BatchCreateActorsRequest{ExistingPolicy: policy}
		for _, it := range chunk {
			req.Requests = append(req.Requests, &eventsv1.CreateActorRequest{ActorId: idOf(it.msg), Actor: it.msg.(*eventsv1.Actor)})
		}
		resp, err := im.ev.BatchCreateActors(ctx, req)
		return resp.GetOutcomes(), err
	case eventType:
		req := &eventsv1.BatchCreateEventsRequest{ExistingPolicy: policy}
		for _, it := range chunk {
			req.Requests = append(req.Requests, &eventsv1.CreateEventRequest{EventId: idOf(it.msg), Event: it.msg.(*eventsv1.Event)})
		}
		resp, err := im.ev.BatchCreateEvents(ctx, req)
		return resp.GetOutcomes(), err
	case frameworkType:
		req := &guaranteesv1.BatchCreateFrameworksRequest{ExistingPolicy: policy}
		for _, it := range chunk {
			req.Requests = append(req.Requests, &guaranteesv1.CreateFrameworkRequest{FrameworkId: idOf(it.msg), Framework: it.msg.(*guaranteesv1.Framework)})
		}
		resp, err := im.gu.BatchCreateFrameworks(ctx, req)
		return resp.GetOutcomes(), err
	default:
		req := &guaranteesv1.BatchCreateGuaranteesRequest{ExistingPolicy: policy}
		for _, it := range chunk {
			req.Requests = append(req.Requests, &guaranteesv1.CreateGuaranteeRequest{GuaranteeId: idOf(it.msg), Guarantee: it.msg.(*guaranteesv1.Guarantee)})
		}
		resp, err := im.gu.BatchCreateGuarantees(ctx, req)
		return resp.GetOutcomes(), err
	}
}

// mainPath is the lifecycle's forward path; a recorded status on it is reached by moving
// along it from where the guarantee stands.
var mainPath = []guaranteesv1.GuaranteeStatus{
	guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PROPOSED,
	guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_PLEDGED,
	guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_AWAITING_RATIFICATION,
	guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_RATIFIED,
	guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE,
}

func pathIndex(s guaranteesv1.GuaranteeStatus) int {
	for i, p := range mainPath {
		if p == s {
			return i
		}
	}
	return -1
}

// statusSteps are the moves that take a guarantee from status from to target, as the
// lifecycle allows them: along the main path; FULFILLED and EXPIRED from ACTIVE;
// SUSPENDED from the status it was suspended from (suspendedFrom, ACTIVE when unknown);
// anything else (WITHDRAWN, a move back from SUSPENDED) in one move.
func statusSteps(from, target, suspendedFrom guaranteesv1.GuaranteeStatus) []guaranteesv1.GuaranteeStatus {
	via := target
	switch target {
	case guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_FULFILLED, guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_EXPIRED:
		via = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE
	case guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_SUSPENDED:
		via = suspendedFrom
		if pathIndex(via) < 0 {
			via = guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_ACTIVE
		}
	}
	var steps []guaranteesv1.GuaranteeStatus
	if i, j := pathIndex(from), pathIndex(via); i >= 0 && j > i {
		steps = append(steps, mainPath[i+1:j+1]...)
	}
	if len(steps) == 0 || via != target {
		steps = append(steps, target)
	}
	return steps
}

// settle brings an imported guarantee to its recorded status, then records its
// ratification actions and satisfied conditions, each only if not already there.
func (im *importer) settle(it item) error {
	want := it.msg.(*guaranteesv1.Guarantee)
	ctx, cancel := im.call(im.ctx)
	cur, err := im.gu.GetGuarantee(ctx, &guaranteesv1.GetGuaranteeRequest{Name: want.GetName()})
	cancel()
	if status.Code(err) == codes.NotFound {
		return nil // rejected earlier
	}
	if err != nil {
		return fmt.Errorf("line %d: %s: %w", it.line, want.GetName(), err)
	}
	g := cur.GetGuarantee()
	// The evidence recorded for the status, so that a re-export shows the same; a file
	// written by hand may give only source events.
	evidence := want.GetStatusEvidence()
	if evidence == "" && len(want.GetSourceEvents()) > 0 {
		evidence = want.GetSourceEvents()[0]
	}
	reason := want.GetStatusReason()
	if reason == "" {
		reason = "imported: the status recorded in the source data"
	}
	// Whatever of the line could not be recorded, reported once for the line, which then
	// counts as rejected instead of as written.
	var problems []string
	defer func() {
		if len(problems) > 0 {
			im.s.add(im.written[it.line], -1)
			im.s.reject(it.line, want.GetName(), strings.Join(problems, "; "))
		}
	}()
	target := want.GetStatus()
	if target != guaranteesv1.GuaranteeStatus_GUARANTEE_STATUS_UNSPECIFIED && target != g.GetStatus() {
		if evidence == "" {
			problems = append(problems, "status "+target.String()+" needs an evidence event: set status_evidence or list one in source_events")
			return nil
		}
		for _, st := range statusSteps(g.GetStatus(), target, want.GetSuspendedFrom()) {
			err := im.untilKnown(func() error {
				ctx, cancel := im.call(im.ctx)
				defer cancel()
				_, err := im.gu.TransitionGuarantee(ctx, &guaranteesv1.TransitionGuaranteeRequest{Name: want.GetName(), TargetStatus: st, Reason: reason, EvidenceEvent: evidence})
				return err
			})
			if err != nil {
				problems = append(problems, "status: "+err.Error())
				if im.opt.Strict {
					return ErrStrict
				}
				return nil
			}
			im.s.Transitions++
		}
	}
	have := map[string]bool{}
	for _, a := range g.GetRatificationActions() {
		have[a.GetNation()+a.GetType().String()+a.GetActionTime().String()] = true
	}
	for _, a := range want.GetRatificationActions() {
		if have[a.GetNation()+a.GetType().String()+a.GetActionTime().String()] {
			continue
		}
		err := im.untilKnown(func() error {
			ctx, cancel := im.call(im.ctx)
			defer cancel()
			_, err := im.gu.RecordRatificationAction(ctx, &guaranteesv1.RecordRatificationActionRequest{Name: want.GetName(), Action: a})
			return err
		})
		if err != nil {
			problems = append(problems, "ratification: "+err.Error())
		}
	}
	satisfied := map[string]bool{}
	for _, c := range g.GetConditions() {
		satisfied[c.GetId()] = c.GetSatisfied()
	}
	for _, c := range want.GetConditions() {
		if !c.GetSatisfied() || satisfied[c.GetId()] {
			continue
		}
		err := im.untilKnown(func() error {
			ctx, cancel := im.call(im.ctx)
			defer cancel()
			_, err := im.gu.SatisfyCondition(ctx, &guaranteesv1.SatisfyConditionRequest{Name: want.GetName(), ConditionId: c.GetId(), EvidenceEvent: c.GetEvidenceEvent(), SatisfyTime: c.GetSatisfyTime()})
			return err
		})
		if err != nil {
			problems = append(problems, "condition "+c.GetId()+": "+err.Error())
		}
	}
	return nil
}
