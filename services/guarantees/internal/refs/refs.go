// Package refs is the guarantees service's projection of the events service's change
// stream: which actors and events exist (and when each event happened), so that the
// references a framework or guarantee makes are checked locally, without calling the
// events service on every write.
//
// The generic part (durable consumer, transaction per batch, position, ack after commit)
// is platform/projection; this package only decodes guarantor.events.v1.Change messages
// and keeps one row per resource in the `refs` table, at its highest change sequence, so
// that a redelivered or re-published change never rolls a row back.
package refs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/projection"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Name names the projection: its durable consumer on the events stream and its
// position row.
const Name = "guarantees-refs"

// Subjects are the events service's change subjects.
const Subjects = "guarantor.events.v1.>"

// Projection reads and writes the projected references.
type Projection struct {
	db *sqldb.DB
}

// New returns the projection over a migrated database.
func New(db *sqldb.DB) *Projection { return &Projection{db: db} }

// Consumer returns the consumer that keeps the projection up to date from stream.
func (p *Projection) Consumer(js jetstream.JetStream, stream string, metrics *projection.Metrics, log *zap.Logger) *projection.Consumer {
	return &projection.Consumer{
		DB:             p.db,
		JetStream:      js,
		Stream:         stream,
		Name:           Name,
		FilterSubjects: []string{Subjects},
		Apply:          p.Apply,
		Metrics:        metrics,
		Log:            log,
	}
}

// Apply records one change of the events stream.
func (p *Projection) Apply(ctx context.Context, tx *sql.Tx, m projection.Message) error {
	ch := &eventsv1.Change{}
	if err := proto.Unmarshal(m.Data, ch); err != nil {
		return projection.Permanent(fmt.Errorf("refs: decode change: %w", err))
	}
	name := ch.GetResourceName()
	if name == "" || ch.GetSequence() <= 0 {
		return projection.Permanent(errors.New("refs: change without resource name or sequence"))
	}
	deleted := ch.GetKind() == typev1.ChangeKind_CHANGE_KIND_DELETED ||
		ch.GetEvent().GetDeleteTime() != nil || ch.GetActor().GetDeleteTime() != nil
	var eventTime int64
	if t := ch.GetEvent().GetWhen().GetTime(); t != nil {
		// UnixNano wraps around outside 1677-2262 (1648 would read as 2233): such a
		// time is kept unknown rather than wrong.
		if at := t.AsTime(); time.Unix(0, at.UnixNano()).Equal(at) {
			eventTime = at.UnixNano()
		}
	}
	flag := 0
	if deleted {
		flag = 1
	}
	// The WHERE keeps the newest change: a redelivery or a re-published older change
	// leaves the row alone.
	_, err := tx.ExecContext(ctx, p.db.Rebind(`INSERT INTO refs (name, seq, deleted, event_time) VALUES (?, ?, ?, ?)
		ON CONFLICT (name) DO UPDATE SET seq = excluded.seq, deleted = excluded.deleted, event_time = excluded.event_time
		WHERE excluded.seq > refs.seq`), name, ch.GetSequence(), flag, eventTime)
	if err != nil {
		return fmt.Errorf("refs: upsert %s: %w", name, err)
	}
	return nil
}

// Missing returns those of names the projection does not hold as live resources (never
// seen, or deleted), in the order given, and the projection's position: the last events
// stream sequence it has applied.
func (p *Projection) Missing(ctx context.Context, names []string) ([]string, int64, error) {
	if len(names) == 0 {
		return nil, 0, nil
	}
	known := make(map[string]bool, len(names))
	const chunk = 200 // well under every engine's limit on bound parameters
	for start := 0; start < len(names); start += chunk {
		part := names[start:min(start+chunk, len(names))]
		args := make([]any, len(part))
		for i, n := range part {
			args[i] = n
		}
		marks := strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")
		rows, err := p.db.QueryContext(ctx, p.db.Rebind("SELECT name FROM refs WHERE deleted = 0 AND name IN ("+marks+")"), args...)
		if err != nil {
			return nil, 0, fmt.Errorf("refs: look up: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return nil, 0, fmt.Errorf("refs: look up: %w", err)
			}
			known[n] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, 0, fmt.Errorf("refs: look up: %w", err)
		}
	}
	var missing []string
	for _, n := range names {
		if !known[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) == 0 {
		return nil, 0, nil
	}
	pos, err := projection.Position(ctx, p.db, Name)
	if err != nil {
		return nil, 0, err
	}
	return missing, pos, nil
}

// EventTime returns when the event name happened, if the projection knows it.
func (p *Projection) EventTime(ctx context.Context, name string) (time.Time, bool, error) {
	var nano int64
	err := p.db.QueryRowContext(ctx, p.db.Rebind("SELECT event_time FROM refs WHERE name = ? AND deleted = 0"), name).Scan(&nano)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && nano == 0) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("refs: event time of %s: %w", name, err)
	}
	return time.Unix(0, nano).UTC(), true, nil
}
