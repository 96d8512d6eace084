package outbox

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the relay's Prometheus metrics, labelled by stream. A nil *Metrics records
// nothing.
type Metrics struct {
	published *prometheus.CounterVec
	errors    *prometheus.CounterVec
	lag       *prometheus.GaugeVec
	latency   *prometheus.HistogramVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered). Registering
// twice on one registry (two relays in one process) reuses the collectors already there.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_outbox_published_total",
			Help: "Change-log entries published to JetStream (including re-publishes JetStream dropped as duplicates).",
		}, []string{"stream"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_outbox_errors_total",
			Help: "Relay passes that failed and were retried after a backoff.",
		}, []string{"stream"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "guarantor_outbox_lag_entries",
			Help: "Change-log entries not yet published (head minus relay cursor).",
		}, []string{"stream"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "guarantor_outbox_publish_seconds",
			Help:    "Time from publish to JetStream ack.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14), // 0.5 ms .. ~4 s
		}, []string{"stream"}),
	}
	if reg != nil {
		m.published = register(reg, m.published)
		m.errors = register(reg, m.errors)
		m.lag = register(reg, m.lag)
		m.latency = register(reg, m.latency)
	}
	return m
}

func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a name clash with a different metric is a programming error
	}
	return c
}

// initStream creates the stream's series at zero, so they exist from the start: an
// alert on the rate of errors sees the first one (a series that appears at 1 has no
// earlier sample to rise from), and one on the lag sees 0 on replicas that do not hold
// the relay's lock.
func (m *Metrics) initStream(stream string) {
	if m == nil {
		return
	}
	m.published.WithLabelValues(stream)
	m.errors.WithLabelValues(stream)
	m.lag.WithLabelValues(stream)
	m.latency.WithLabelValues(stream)
}

func (m *Metrics) observePublish(stream string, took time.Duration) {
	if m == nil {
		return
	}
	m.published.WithLabelValues(stream).Inc()
	m.latency.WithLabelValues(stream).Observe(took.Seconds())
}

func (m *Metrics) observeError(stream string) {
	if m == nil {
		return
	}
	m.errors.WithLabelValues(stream).Inc()
}

func (m *Metrics) setLag(stream string, lag int64) {
	if m == nil {
		return
	}
	m.lag.WithLabelValues(stream).Set(float64(lag))
}
