package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"sigs.k8s.io/yaml"
)

var jsonOut = protojson.MarshalOptions{Multiline: true, Indent: "  ", UseProtoNames: true}

// print writes m in the chosen format; table draws the human-readable form.
func (a *app) print(m proto.Message, table func(t *table)) error {
	switch a.output {
	case "json":
		b, err := jsonOut.Marshal(m)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(a.stdout, string(b))
		return err
	case "yaml":
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			return err
		}
		y, err := yaml.JSONToYAML(b)
		if err != nil {
			return err
		}
		_, err = a.stdout.Write(y)
		return err
	}
	t := newTable(a.stdout)
	table(t)
	return t.flush()
}

// table is a tab-aligned text table.
type table struct {
	w *tabwriter.Writer
}

func newTable(out io.Writer) *table {
	return &table{w: tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)}
}

func (t *table) row(cols ...string) {
	for i, c := range cols {
		cols[i] = strings.ReplaceAll(c, "\t", " ")
	}
	fmt.Fprintln(t.w, strings.Join(cols, "\t"))
}

// kv prints a "key: value" line, skipping empty values.
func (t *table) kv(k, v string) {
	if v != "" {
		t.row(k+":", v)
	}
}

func (t *table) flush() error { return t.w.Flush() }

func ts(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format(time.RFC3339)
}

func day(t *timestamppb.Timestamp) string {
	if t == nil {
		return ""
	}
	return t.AsTime().UTC().Format("2006-01-02")
}

// short trims an enum name to its value ("DOMAIN_LAND" -> "LAND").
func short(enum fmt.Stringer, prefix string) string {
	return strings.TrimPrefix(enum.String(), prefix)
}

func join(items []string) string { return strings.Join(items, ", ") }

func trunc(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
