package manifest

import (
	"fmt"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
)

// Alert is one alerting rule of a PrometheusRule.
type Alert struct {
	// Rule names the PrometheusRule and its group, for messages.
	Rule        string
	Name        string
	Expr        string
	For         string
	Labels      map[string]string
	Annotations map[string]string
}

// Alerts lists the alerting rules of every PrometheusRule in the set (recording rules
// are not alerts and are left out).
func (s Set) Alerts() []Alert {
	var out []Alert
	for _, o := range s.OfKind("PrometheusRule") {
		pr := o.Obj.(*monitoringv1.PrometheusRule)
		for _, g := range pr.Spec.Groups {
			for _, r := range g.Rules {
				if r.Alert == "" {
					continue
				}
				a := Alert{Rule: o.ID() + " group " + g.Name, Name: r.Alert, Expr: r.Expr.String(), Labels: r.Labels, Annotations: r.Annotations}
				if r.For != nil {
					a.For = string(*r.For)
				}
				out = append(out, a)
			}
		}
	}
	return out
}

// Selector is one selection of series in a PromQL expression: the metric, its label
// matchers (without the name's), and the labels the aggregation around it keeps
// ("by"), which every selected series must therefore carry.
type Selector struct {
	Metric   string
	Matchers []*labels.Matcher
	Grouping []string
}

// Selectors parses expr as Prometheus does and returns its series selections.
func Selectors(expr string) ([]Selector, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, fmt.Errorf("PromQL: %w", err)
	}
	var out []Selector
	parser.Inspect(e, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		sel := Selector{Metric: vs.Name}
		for _, m := range vs.LabelMatchers {
			if m.Name != model.MetricNameLabel {
				sel.Matchers = append(sel.Matchers, m)
			}
		}
		// The innermost aggregation decides which labels the series must have.
		for i := len(path) - 1; i >= 0; i-- {
			if agg, ok := path[i].(*parser.AggregateExpr); ok {
				if !agg.Without {
					sel.Grouping = append([]string(nil), agg.Grouping...)
				}
				break
			}
		}
		out = append(out, sel)
		return nil
	})
	return out, nil
}
