package manifest_test

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	corev1 "k8s.io/api/core/v1"

	"github.com/guarantor/guarantor/deploy/manifest"
)

// TestServiceMonitorsScrapeEveryComponent: each ServiceMonitor selects exactly one
// Service with the port it scrapes, that port reaches a container port of the
// component's pods, the job label it sets is the component's name, and every component
// is scraped.
func TestServiceMonitorsScrapeEveryComponent(t *testing.T) {
	t.Parallel()
	set := build(t, targetNamed(t, "prod+observability"))
	jobs := map[string]bool{}
	for _, o := range set.OfKind("ServiceMonitor") {
		sm := o.Obj.(*monitoringv1.ServiceMonitor)
		if len(sm.Spec.Selector.MatchExpressions) > 0 || sm.Spec.NamespaceSelector.Any || len(sm.Spec.NamespaceSelector.MatchNames) > 0 {
			t.Errorf("%s: select by matchLabels in its own namespace only (what this test checks)", o.ID())
			continue
		}
		if len(sm.Spec.Endpoints) == 0 {
			t.Errorf("%s: no endpoints", o.ID())
		}
		for _, ep := range sm.Spec.Endpoints {
			var scraped []*corev1.Service
			for _, so := range set.OfKind("Service") {
				svc := so.Obj.(*corev1.Service)
				if so.Namespace != o.Namespace || !manifest.LabelsMatch(sm.Spec.Selector.MatchLabels, svc.Labels) {
					continue
				}
				if slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == ep.Port }) {
					scraped = append(scraped, svc)
				}
			}
			if len(scraped) != 1 {
				t.Errorf("%s: port %q is on %d selected Services, want exactly 1 (more scrapes every pod twice)", o.ID(), ep.Port, len(scraped))
				continue
			}
			svc := scraped[0]
			job := svc.Labels[sm.Spec.JobLabel]
			if job == "" || job != svc.Labels["app.kubernetes.io/name"] {
				t.Errorf("%s: jobLabel %q gives job %q on Service %s; the rules expect the component's name", o.ID(), sm.Spec.JobLabel, job, svc.Name)
			}
			jobs[job] = true
			var port corev1.ServicePort
			for _, p := range svc.Spec.Ports {
				if p.Name == ep.Port {
					port = p
				}
			}
			reached := false
			for _, w := range set.Workloads() {
				if w.Namespace != o.Namespace || !w.LongRunning || !manifest.LabelsMatch(svc.Spec.Selector, w.Pod.Labels) {
					continue
				}
				if _, ok := manifest.ContainerPort(&w.Pod.Spec, port.TargetPort.StrVal, port.TargetPort.IntVal); ok {
					reached = true
				} else {
					t.Errorf("%s: Service %s port %s targets %s, which %s's pods do not have", o.ID(), svc.Name, port.Name, port.TargetPort.String(), w.ID())
				}
			}
			if !reached {
				t.Errorf("%s: Service %s selects no pods serving its port %s", o.ID(), svc.Name, port.Name)
			}
		}
	}
	for _, c := range []string{"events", "guarantees", "gateway"} {
		if !jobs[c] {
			t.Errorf("no ServiceMonitor scrapes %s", c)
		}
	}
}

// TestAlertRules: every alert parses as Prometheus parses it, names only jobs the
// ServiceMonitors make, has a severity and the annotations an on-call engineer reads,
// uses only labels its expression keeps, and points at a section of
// docs/operations.md that exists.
func TestAlertRules(t *testing.T) {
	t.Parallel()
	set := build(t, targetNamed(t, "prod+observability"))
	jobs := map[string]bool{}
	for _, o := range set.OfKind("ServiceMonitor") {
		jobs[o.Name] = true // TestServiceMonitorsScrapeEveryComponent: the job is the component
	}
	anchors := docAnchors(t, filepath.Join(repoRoot(t), "docs", "operations.md"))
	alerts := set.Alerts()
	if len(alerts) == 0 {
		t.Fatal("no alerts")
	}
	names := map[string]bool{}
	for _, a := range alerts {
		t.Run(a.Name, func(t *testing.T) {
			if names[a.Name] {
				t.Errorf("%s: a second alert named %s", a.Rule, a.Name)
			}
			names[a.Name] = true
			sels, err := manifest.Selectors(a.Expr)
			if err != nil {
				t.Fatalf("%s: %v\n%s", a.Rule, err, a.Expr)
			}
			if a.For != "" {
				if _, err := model.ParseDuration(a.For); err != nil {
					t.Errorf("for %q: %v", a.For, err)
				}
			}
			for _, s := range sels {
				for _, m := range s.Matchers {
					if m.Name != "job" {
						continue
					}
					if !slices.ContainsFunc(manifest.SortedKeys(jobs), m.Matches) {
						t.Errorf("%s: matcher %s matches no scraped job (%v): the alert can never fire", s.Metric, m, manifest.SortedKeys(jobs))
					}
				}
			}
			if sev := a.Labels["severity"]; sev != "critical" && sev != "warning" {
				t.Errorf("severity %q, want critical or warning", sev)
			}
			for _, k := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(a.Annotations[k]) == "" {
					t.Errorf("no %s annotation", k)
				}
			}
			// Each alert has its own section of the runbook, named after it.
			if want := "docs/operations.md#" + strings.ToLower(a.Name); a.Annotations["runbook"] != want || !anchors[strings.ToLower(a.Name)] {
				t.Errorf("runbook %q: want %s, a heading of docs/operations.md", a.Annotations["runbook"], want)
			}
			kept := keptLabels(sels)
			for k, text := range a.Annotations {
				// Prometheus expands annotations as Go templates with these variables.
				if _, err := template.New(k).Option("missingkey=zero").Parse("{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$value := .Value}}" + text); err != nil {
					t.Errorf("annotation %s: %v", k, err)
				}
				for _, m := range labelRef.FindAllStringSubmatch(text, -1) {
					if kept != nil && !kept[m[1]] {
						t.Errorf("annotation %s uses $labels.%s, which the expression's aggregation drops (it keeps %v)", k, m[1], manifest.SortedKeys(kept))
					}
				}
			}
		})
	}
}

// TestTracingReachesTheCollector: with components/tracing, each server of events,
// guarantees and the gateway is configured with a collector address whose port its
// NetworkPolicies let it reach in a namespace labelled as the component says, and
// nothing else runs with tracing on.
func TestTracingReachesTheCollector(t *testing.T) {
	t.Parallel()
	set := build(t, targetNamed(t, "prod+observability"))
	policies := set.Policies()
	collector := manifest.Endpoint{Name: "collector", Namespace: "observability",
		NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": "observability", "guarantor.io/trace-collector": "true"},
		Labels:          map[string]string{"app": "otel-collector"}}
	traced := map[string]bool{}
	for _, w := range set.Workloads() {
		for _, c := range w.Pod.Spec.Containers {
			env, err := set.ResolveEnv(w.Namespace, c)
			if err != nil {
				t.Fatal(err)
			}
			endpoint := env["GUARANTOR_OTLP_ENDPOINT"].Value
			if endpoint == "" {
				continue
			}
			if !w.LongRunning {
				// A Job that does not trace ignores it; one that did would need the egress.
				continue
			}
			traced[w.Name] = true
			_, port, err := net.SplitHostPort(endpoint)
			if err != nil {
				t.Errorf("%s: GUARANTOR_OTLP_ENDPOINT %q: %v", w.ID(), endpoint, err)
				continue
			}
			n, err := strconv.ParseInt(port, 10, 32)
			if err != nil {
				t.Errorf("%s: GUARANTOR_OTLP_ENDPOINT %q: port %q", w.ID(), endpoint, port)
				continue
			}
			from := manifest.Endpoint{Name: w.Name, Namespace: w.Namespace,
				NamespaceLabels: map[string]string{"kubernetes.io/metadata.name": w.Namespace}, Labels: w.Pod.Labels}
			if ok, why := manifest.Allowed(policies, from, collector, int32(n), corev1.ProtocolTCP); !ok {
				t.Errorf("%s sends spans to %s, which its NetworkPolicies refuse: %s", w.ID(), endpoint, why)
			}
		}
	}
	for _, c := range []string{"events", "guarantees", "gateway"} {
		if !traced[c] {
			t.Errorf("%s is not configured to trace", c)
		}
	}
}

var labelRef = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)

// keptLabels is the labels an alert's series keep when every selection sits in an
// aggregation (nil when one does not: then any label of the series may be there).
func keptLabels(sels []manifest.Selector) map[string]bool {
	kept := map[string]bool{}
	for _, s := range sels {
		if s.Grouping == nil {
			return nil
		}
		for _, l := range s.Grouping {
			kept[l] = true
		}
	}
	return kept
}

// docAnchors returns the anchors GitHub gives the headings of a Markdown file.
func docAnchors(t *testing.T, path string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	inFence := false
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "```") {
			inFence = !inFence
			continue
		}
		if inFence || !strings.HasPrefix(line, "#") {
			continue
		}
		out[anchor(strings.TrimLeft(line, "# "))] = true
	}
	return out
}

// anchor is GitHub's slug of a heading: lower case, punctuation dropped but for
// hyphens and underscores, spaces made hyphens.
func anchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9'):
			b.WriteRune(r)
		}
	}
	return b.String()
}
