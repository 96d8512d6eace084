package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

func (a *app) newWatch() *cobra.Command {
	var collections []string
	var namePattern, filter, resume string
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow changes live, from every service",
		Long: `Prints every change as it happens. Each line (and, in -o json, each object) carries a
resume token: pass it to --resume after a disconnect and nothing is missed. On Ctrl-C
the last token is printed to standard error.`,
		Example: `  guarantor watch
  guarantor watch --collection guarantees --filter 'kind = TRANSITIONED'
  guarantor watch --name 'events/paris-*' -o json
  guarantor watch --resume eyJldmVudHMiOjQyfQ`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := a.dial()
			if err != nil {
				return err
			}
			ctx, cancel := a.ctx(cmd.Context(), true)
			defer cancel()
			stream, err := gatewayv1.NewGatewayServiceClient(conn).Watch(ctx, &gatewayv1.WatchRequest{
				Collections: collections, NamePattern: namePattern, Filter: filter, ResumeToken: resume,
			})
			if err != nil {
				return err
			}
			last := resume
			defer func() {
				if last != "" {
					fmt.Fprintf(a.stderr, "resume with: guarantor watch --resume %s\n", last)
				}
			}()
			t := newTable(a.stdout)
			for {
				m, err := stream.Recv()
				if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled || errors.Is(err, context.Canceled) {
					return nil
				}
				if err != nil {
					return err
				}
				last = m.GetResumeToken()
				if m.GetType() == typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK {
					continue
				}
				if a.output != "table" {
					b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
					if err != nil {
						return err
					}
					fmt.Fprintln(a.stdout, string(b))
					continue
				}
				seq, name, kind, who, when := changeSummary(m)
				t.row(when, short(m.GetType(), "WATCH_EVENT_TYPE_"), kind, name, "#"+fmt.Sprint(seq), who)
				if err := t.flush(); err != nil {
					return err
				}
			}
		},
	}
	f := cmd.Flags()
	f.StringSliceVar(&collections, "collection", nil, "only these collections: events, actors, frameworks, guarantees")
	f.StringVar(&namePattern, "name", "", "only names matching this glob, e.g. 'guarantees/*'")
	f.StringVar(&filter, "filter", "", "AIP-160 filter over service, collection, name, kind, principal")
	f.StringVar(&resume, "resume", "", "continue after the change this token points at")
	return cmd
}

func changeSummary(m *gatewayv1.WatchResponse) (seq int64, name, kind, who, when string) {
	if c := m.GetEventsChange(); c != nil {
		return c.GetSequence(), c.GetResourceName(), short(c.GetKind(), "CHANGE_KIND_"), c.GetPrincipal(), ts(c.GetTime())
	}
	c := m.GetGuaranteesChange()
	return c.GetSequence(), c.GetResourceName(), short(c.GetKind(), "CHANGE_KIND_"), c.GetPrincipal(), ts(c.GetTime())
}

func (a *app) newExport() *cobra.Command {
	cmd := &cobra.Command{Use: "export", Short: "Export data"}
	var out string
	j := &cobra.Command{
		Use:   "jsonl",
		Short: "Export every actor, event, framework and guarantee as JSON lines",
		Example: `  guarantor export jsonl > guarantor.jsonl
  guarantor export jsonl --out backup.jsonl`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conn, err := a.dial()
			if err != nil {
				return err
			}
			w := a.stdout
			if out != "" && out != "-" {
				f, err := os.Create(out)
				if err != nil {
					return usagef("--out: %v", err)
				}
				defer func() { _ = f.Close() }()
				w = f
			}
			n, err := jsonl.Export(cmd.Context(), conn, func(ctx context.Context) (context.Context, context.CancelFunc) { return a.ctx(ctx, false) }, w)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "exported %d records\n", n)
			return nil
		},
	}
	j.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	cmd.AddCommand(j)
	return cmd
}

func (a *app) newImport() *cobra.Command {
	cmd := &cobra.Command{Use: "import", Short: "Import data"}
	var opt jsonl.Options
	j := &cobra.Command{
		Use:   "jsonl FILE",
		Short: "Import JSON lines written by 'guarantor export jsonl' (idempotent)",
		Long: `Creates or replaces each record through the public API, in dependency order
(actors, events, frameworks, guarantees), and moves guarantees to their recorded status.
Re-importing the same file changes nothing. A bad line is reported with its number and
reason and the import goes on (or stops, with --strict).`,
		Example: `  guarantor import jsonl guarantor.jsonl
  guarantor import jsonl --dry-run guarantor.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usagef("%v", err)
			}
			defer func() { _ = f.Close() }()
			conn, err := a.dial()
			if err != nil {
				return err
			}
			s, err := jsonl.Import(cmd.Context(), conn, func(ctx context.Context) (context.Context, context.CancelFunc) { return a.ctx(ctx, false) }, f, opt)
			for _, p := range s.Problems {
				fmt.Fprintf(a.stderr, "line %d: %s %s\n", p.Line, p.Name, p.Reason)
			}
			fmt.Fprintln(a.stdout, s.String())
			if err != nil {
				return err
			}
			if s.Rejected > 0 {
				return fmt.Errorf("%d of %d records rejected", s.Rejected, s.Read)
			}
			return nil
		},
	}
	j.Flags().BoolVar(&opt.Strict, "strict", false, "stop at the first bad line")
	j.Flags().BoolVar(&opt.DryRun, "dry-run", false, "check the file without writing")
	cmd.AddCommand(j)
	cmd.AddCommand(a.datasetImportCommands()...)
	return cmd
}
