// Package retention bounds what a data service keeps: the answers it remembers for
// request_id retries, and the change log's full history. A Runner applies a Policy on a
// schedule beside the server; Pass applies it once (the service's `compact` command).
package retention

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/idempotency"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// Policy is what a service keeps. A zero duration keeps everything of that kind.
type Policy struct {
	// RequestIDs is how long the first answer to a request carrying a request_id is kept
	// for its retries. A retry after that runs as a new request (a Create then meets the
	// resource it made: ALREADY_EXISTS).
	RequestIDs time.Duration
	// History is how long the change log keeps every change. Changes older than that are
	// compacted: each resource keeps its last change before the horizon, so its state as
	// of any later time stays exact, while ListRevisions, reads as of earlier times and
	// watches from earlier versions are refused (OUT_OF_RANGE).
	History time.Duration
	// Interval is the time between two passes of a Runner (DefaultInterval when zero).
	Interval time.Duration
}

// DefaultInterval is a Runner's time between passes when Policy.Interval is zero.
const DefaultInterval = 10 * time.Minute

// Default is the services' default policy: request ids are remembered for a day, the
// history is kept whole.
var Default = Policy{RequestIDs: 24 * time.Hour, Interval: DefaultInterval}

// RegisterFlags registers the policy's flags with their defaults; call the result after
// parsing.
func RegisterFlags(fs *config.FlagSet, defaults Policy) func() Policy {
	p := &Policy{}
	fs.DurationVar(&p.RequestIDs, "request-id-retention", defaults.RequestIDs,
		"how long the answer to a request with a request_id is kept for its retries (0: forever)")
	fs.DurationVar(&p.History, "history-retention", defaults.History,
		"how long the change log keeps every change; older ones are compacted to each resource's last state (0: forever)")
	fs.DurationVar(&p.Interval, "retention-interval", max(defaults.Interval, 0),
		"time between two passes that apply the retention flags (0: "+DefaultInterval.String()+")")
	return func() Policy { return *p }
}

// Validate reports a policy no pass can apply.
func (p Policy) Validate() error {
	switch {
	case p.RequestIDs < 0:
		return fmt.Errorf("request-id retention %s is negative (0 keeps request ids forever)", p.RequestIDs)
	case p.History < 0:
		return fmt.Errorf("history retention %s is negative (0 keeps the history whole)", p.History)
	case p.Interval < 0:
		return fmt.Errorf("retention interval %s is negative", p.Interval)
	case p.History > 0 && p.History < time.Minute:
		// A horizon this close would refuse watches still replaying what was just written.
		return fmt.Errorf("history retention %s is shorter than a minute", p.History)
	}
	return nil
}

// Enabled reports whether the policy deletes anything.
func (p Policy) Enabled() bool { return p.RequestIDs > 0 || p.History > 0 }

// Result is what one pass deleted.
type Result struct {
	// RequestIDs counts the deleted request-id answers, Changes the compacted change-log entries.
	RequestIDs, Changes int64
}

// Pass applies p once, as of now: it deletes request-id answers older than p.RequestIDs
// and compacts the change log older than p.History, reporting compaction's progress to
// progress (nil: none). Every step commits in short batches, so what it finished stays
// done when ctx ends early.
func Pass(ctx context.Context, db *sqldb.DB, p Policy, now time.Time, progress func(changelog.CompactProgress)) (Result, error) {
	var r Result
	if err := p.Validate(); err != nil {
		return r, err
	}
	var err error
	if p.RequestIDs > 0 {
		if r.RequestIDs, err = idempotency.Purge(ctx, db, now.Add(-p.RequestIDs)); err != nil {
			return r, err
		}
	}
	if p.History > 0 {
		r.Changes, err = changelog.CompactWith(ctx, db, now.Add(-p.History), changelog.CompactOptions{Progress: progress})
		if err != nil {
			return r, err
		}
	}
	return r, nil
}

// Runner applies a Policy every Interval (with a tenth of it as jitter, so replicas
// sharing a database spread out) until its context ends.
type Runner struct {
	DB      *sqldb.DB
	Policy  Policy
	Log     *zap.Logger
	Metrics *Metrics // nil: none
}

// Run passes at once, then every interval. A failed pass is logged, counted and tried
// again at the next one: retention is housekeeping, and never stops the service.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Policy.Validate(); err != nil {
		return err
	}
	if !r.Policy.Enabled() {
		return nil
	}
	interval := r.Policy.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	log := r.Log
	if log == nil {
		log = zap.NewNop()
	}
	for {
		start := time.Now()
		res, err := Pass(ctx, r.DB, r.Policy, start, nil)
		r.Metrics.observe(res, err, start)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			log.Warn("retention pass failed; retrying at the next", zap.Error(err), zap.Duration("next_in", interval))
		case res.RequestIDs > 0 || res.Changes > 0:
			log.Info("retention pass", zap.Int64("request_ids_deleted", res.RequestIDs),
				zap.Int64("changes_compacted", res.Changes), zap.Duration("took", time.Since(start)))
		}
		wait := interval + rand.N(interval/10+1)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// Metrics are the retention runner's Prometheus metrics.
type Metrics struct {
	deleted     *prometheus.CounterVec
	errors      prometheus.Counter
	lastSuccess prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		deleted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_retention_deleted_total",
			Help: "Rows deleted by retention: request-id answers (kind=request_ids) and compacted change-log entries (kind=changes).",
		}, []string{"kind"}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "guarantor_retention_errors_total",
			Help: "Retention passes that failed (retried at the next interval).",
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "guarantor_retention_last_success_timestamp_seconds",
			Help: "When the last retention pass that succeeded started (Unix seconds).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.deleted, m.errors, m.lastSuccess)
	}
	return m
}

// Deleted is the counter of deleted rows of kind ("request_ids" or "changes").
func (m *Metrics) Deleted(kind string) prometheus.Counter { return m.deleted.WithLabelValues(kind) }

// Errors is the counter of failed passes.
func (m *Metrics) Errors() prometheus.Counter { return m.errors }

func (m *Metrics) observe(res Result, err error, start time.Time) {
	if m == nil {
		return
	}
	// What a failed pass finished before failing stays deleted, so it counts too.
	m.deleted.WithLabelValues("request_ids").Add(float64(res.RequestIDs))
	m.deleted.WithLabelValues("changes").Add(float64(res.Changes))
	if err != nil && !errors.Is(err, context.Canceled) {
		m.errors.Inc()
		return
	}
	if err == nil {
		m.lastSuccess.Set(float64(start.UnixNano()) / 1e9)
	}
}
