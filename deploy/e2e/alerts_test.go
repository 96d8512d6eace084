package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/guarantor/guarantor/deploy/internal/testbuild"
	"github.com/guarantor/guarantor/deploy/manifest"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// targetLabels are the labels Prometheus adds to every series it scrapes through a
// ServiceMonitor; an alert may group or match on them without the binary exporting them.
var targetLabels = []string{"job", "namespace", "pod", "instance", "service", "endpoint", "container"}

// prometheusMade are the series Prometheus makes itself for each target.
var prometheusMade = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// TestAlertSeriesExistFromTheStart runs the three built binaries as a fresh deployment
// (embedded defaults: SQLite, one NATS), scrapes them, and checks every alert of
// components/monitoring against what they serve before anything has gone wrong: each
// metric an alert reads is exported by the jobs it names, with the labels the alert
// matches and groups by, and a series for each value it matches on. A series that
// appears only at its first error would hide that error from rate() and increase(),
// which need an earlier sample; a renamed metric or label would silence an alert.
func TestAlertSeriesExistFromTheStart(t *testing.T) {
	objs, _, err := manifest.Build(filepath.Join("..", "manifest", "testdata", "prod-observability"))
	if err != nil {
		t.Fatal(err)
	}
	alerts := manifest.Set{Objects: objs}.Alerts()
	if len(alerts) == 0 {
		t.Fatal("components/monitoring has no alerts")
	}

	ns := natstest.Start(t)
	bins := map[string]string{}
	for _, c := range []string{"events", "guarantees", "gateway"} {
		bins[c] = testbuild.Binary(t, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	key := writeKey(t, filepath.Join(dir, "principal.key"))
	keys := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(keys, []byte("keys: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"GUARANTOR_NATS_URL=" + ns.URL(), "GUARANTOR_LOG_FORMAT=json", "GUARANTOR_SHUTDOWN_GRACE=2s"}
	events := startProcess(t, ctx, bins["events"], "events", key,
		append(common, "GUARANTOR_STORE=sqlite://"+filepath.Join(dir, "events.db")), healthService)
	guarantees := startProcess(t, ctx, bins["guarantees"], "guarantees", key,
		append(common, "GUARANTOR_STORE=sqlite://"+filepath.Join(dir, "guarantees.db")), "guarantor.guarantees.v1.GuaranteesService")
	gateway := startProcess(t, ctx, bins["gateway"], "gateway", key, common, "",
		"--http-listen=127.0.0.1:0", "--keys-file="+keys, "--events-addr="+events.addr, "--guarantees-addr="+guarantees.addr)
	jobs := map[string]*replica{"events": events, "guarantees": guarantees, "gateway": gateway}

	// The relay and the projection create their series when they start, just after the
	// servers listen: give them a moment, no more.
	var problems []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		scraped := map[string]map[string]*dto.MetricFamily{}
		for job, r := range jobs {
			scraped[job] = parseMetrics(t, scrape(t, ctx, r))
		}
		problems = checkAlerts(t, alerts, scraped)
		if len(problems) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

func parseMetrics(t *testing.T, text string) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatalf("metrics do not parse: %v", err)
	}
	return families
}

// checkAlerts returns what in the alerts the scraped jobs cannot satisfy.
func checkAlerts(t *testing.T, alerts []manifest.Alert, scraped map[string]map[string]*dto.MetricFamily) []string {
	t.Helper()
	var problems []string
	for _, a := range alerts {
		sels, err := manifest.Selectors(a.Expr)
		if err != nil {
			t.Fatalf("%s: %v", a.Name, err)
		}
		for _, s := range sels {
			if slices.Contains(prometheusMade, s.Metric) {
				continue
			}
			// The jobs the selector reads: those its job matcher admits, else every one.
			var jobs []string
			for job := range scraped {
				if matchesAll(s.Matchers, map[string]string{"job": job}, "job") {
					jobs = append(jobs, job)
				}
			}
			slices.Sort(jobs)
			found := false
			for _, job := range jobs {
				f, extra := family(scraped[job], s.Metric)
				if f == nil {
					continue
				}
				found = true
				if !slices.ContainsFunc(f.GetMetric(), func(series *dto.Metric) bool { return seriesMatch(series, extra, s.Matchers) }) {
					problems = append(problems, fmt.Sprintf("%s: %s of job %s has no series matching %v yet (it would appear only when it first counts, too late for rate and increase)", a.Name, s.Metric, job, s.Matchers))
				}
				for _, l := range s.Grouping {
					if slices.Contains(targetLabels, l) || slices.Contains(extra, l) {
						continue
					}
					for _, series := range f.GetMetric() {
						if !slices.ContainsFunc(series.GetLabel(), func(p *dto.LabelPair) bool { return p.GetName() == l }) {
							problems = append(problems, fmt.Sprintf("%s: groups %s by %q, which a series of job %s lacks", a.Name, s.Metric, l, job))
							break
						}
					}
				}
			}
			if !found {
				problems = append(problems, fmt.Sprintf("%s: reads %s, which none of %v exports", a.Name, s.Metric, jobs))
			}
		}
	}
	return problems
}

// family finds the family a series name belongs to: a histogram's _bucket, _sum and
// _count series are exposed under its own name, the buckets with the label le (extra).
func family(families map[string]*dto.MetricFamily, name string) (f *dto.MetricFamily, extra []string) {
	if f := families[name]; f != nil {
		return f, nil
	}
	for suffix, labels := range map[string][]string{"_bucket": {"le"}, "_sum": nil, "_count": nil} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if f := families[base]; f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
				return f, labels
			}
		}
	}
	return nil, nil
}

// seriesMatch reports whether a scraped series satisfies the matchers; extra are labels
// its exposition leaves implicit (a histogram bucket's le), taken as present.
func seriesMatch(series *dto.Metric, extra []string, ms []*labels.Matcher) bool {
	have := map[string]string{}
	for _, l := range series.GetLabel() {
		have[l.GetName()] = l.GetValue()
	}
	for _, l := range extra {
		have[l] = "any"
	}
	return matchesAll(ms, have, "")
}

// matchesAll reports whether the labels satisfy every matcher (only the one on label
// only, when only is set). A matcher on a target label other than only is left to
// Prometheus's scrape.
func matchesAll(ms []*labels.Matcher, have map[string]string, only string) bool {
	for _, m := range ms {
		if only != "" && m.Name != only {
			continue
		}
		if only == "" && slices.Contains(targetLabels, m.Name) {
			continue
		}
		if !m.Matches(have[m.Name]) {
			return false
		}
	}
	return true
}
