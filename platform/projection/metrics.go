package projection

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a projection's Prometheus metrics, labelled by projection name. A nil
// *Metrics records nothing.
type Metrics struct {
	lag     *prometheus.GaugeVec
	applied *prometheus.CounterVec
	skipped *prometheus.CounterVec
	expired *prometheus.CounterVec
	errors  *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "guarantor_projection_lag",
			Help: "Messages of the consumed stream not yet applied to the projection (0 when caught up).",
		}, []string{"projection"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_projection_applied_total",
			Help: "Messages applied to the projection (redeliveries included).",
		}, []string{"projection"}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_projection_skipped_total",
			Help: "Messages skipped because the projection cannot apply them (undecodable).",
		}, []string{"projection"}),
		expired: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_projection_expired_total",
			Help: "Messages the consumed stream no longer held when the projection came to read them (at most: filtered-out ones count too): expired at the stream's maximum age, or purged (harmless when re-driven).",
		}, []string{"projection"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "guarantor_projection_errors_total",
			Help: "Failures (stream missing, NATS or database errors) retried after a backoff.",
		}, []string{"projection"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.lag, m.applied, m.skipped, m.expired, m.errors} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

// init creates the projection's series at zero, so that alerts on their rates see the
// first increase (a series that appears at 1 has no earlier sample to rise from).
func (m *Metrics) init(name string) {
	if m != nil {
		m.lag.WithLabelValues(name)
		m.applied.WithLabelValues(name)
		m.skipped.WithLabelValues(name)
		m.expired.WithLabelValues(name)
		m.errors.WithLabelValues(name)
	}
}

func (m *Metrics) setLag(name string, lag uint64) {
	if m != nil {
		m.lag.WithLabelValues(name).Set(float64(lag))
	}
}

func (m *Metrics) observeApplied(name string, n int) {
	if m != nil {
		m.applied.WithLabelValues(name).Add(float64(n))
	}
}

func (m *Metrics) observeSkipped(name string) {
	if m != nil {
		m.skipped.WithLabelValues(name).Inc()
	}
}

func (m *Metrics) observeExpired(name string, n uint64) {
	if m != nil {
		m.expired.WithLabelValues(name).Add(float64(n))
	}
}

func (m *Metrics) observeError(name string) {
	if m != nil {
		m.errors.WithLabelValues(name).Inc()
	}
}
