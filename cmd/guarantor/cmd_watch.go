package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

func (a *app) newWatch() *cobra.Command {
	var collections []string
	var namePattern, filter, resume string
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow changes live, from every service",
		Long: `Prints every change as it happens: in a table by default (time, type, kind, name,
the service's sequence number, principal), or one JSON object per line with -o json or
-o yaml, each carrying its resume token. When the watch ends (Ctrl-C, a disconnect, an
error) the last token is printed to standard error: pass it to --resume and nothing is
missed or repeated.`,
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
			// Ctrl-C (or SIGTERM) ends the stream rather than the process, so the deferred
			// line below can print the resume token the help promises.
			sigCtx, stopSignals := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stopSignals()
			ctx, cancel := a.ctx(sigCtx, true)
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
				if status.Code(err) == codes.OutOfRange {
					// The streams no longer hold the position (retention, or a stream rebuilt
					// since): no token resumes it, and the error says to watch afresh.
					last = ""
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
			var f *os.File
			if out != "" && out != "-" {
				// Written beside the target and renamed over it once complete: an export
				// that fails half way (or whose last write fails at close) leaves no
				// partial file that looks like a backup.
				if f, err = os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".*"); err != nil {
					return usagef("--out: %v", err)
				}
				defer func() {
					if f != nil {
						_ = f.Close()
						_ = os.Remove(f.Name())
					}
				}()
				w = f
			}
			n, err := jsonl.Export(cmd.Context(), conn, func(ctx context.Context) (context.Context, context.CancelFunc) { return a.ctx(ctx, false) }, w)
			if err != nil {
				return err
			}
			if f != nil {
				if err := f.Sync(); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				if err := f.Close(); err != nil {
					return fmt.Errorf("--out: %w", err)
				}
				if err := os.Rename(f.Name(), out); err != nil {
					_ = os.Remove(f.Name())
					f = nil
					return fmt.Errorf("--out: %w", err)
				}
				f = nil
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
Re-importing the same file changes nothing (it reports the records unchanged), and an
export imported into an empty store exports again as it was, but for the times and
versions the server stamps (create_time, update_time, status_time, etag, revision).
Every line is read and checked (JSON, type, name, the API's field rules) before anything
is written. A bad line is reported as FILE:LINE with its reason and the import goes on
with the others (or, with --strict, nothing is written). Progress goes to the terminal as
a bar, or as a line every few seconds to standard error when the output is not a
terminal. The exit code is 1 when any line was rejected.`,
		Example: `  guarantor import jsonl guarantor.jsonl
  guarantor import jsonl --dry-run guarantor.jsonl
  guarantor import jsonl --strict backup.jsonl`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path := args[0]
			f, err := os.Open(path)
			if err != nil {
				return usagef("%v", err)
			}
			defer func() { _ = f.Close() }()
			info, err := f.Stat()
			if err != nil {
				return usagef("%v", err)
			}
			if info.IsDir() {
				return usagef("%s is a directory", path)
			}
			conn, err := a.dial()
			if err != nil {
				return err
			}
			opt.Progress = a.progressMeter(filepath.Base(path), info.Size())
			s, err := jsonl.Import(cmd.Context(), conn, func(ctx context.Context) (context.Context, context.CancelFunc) { return a.ctx(ctx, false) }, f, opt)
			for _, p := range s.Problems {
				fmt.Fprintln(a.stderr, importers.Problem{File: path, Problem: p}.String())
			}
			fmt.Fprintln(a.stdout, importers.Summary{Summary: s, DryRun: opt.DryRun}.String())
			return importOutcome(err, s, "records")
		},
	}
	j.Flags().BoolVar(&opt.Strict, "strict", false, "check the whole file first and write nothing if any line is bad; stop at the first record the server refuses")
	j.Flags().BoolVar(&opt.DryRun, "dry-run", false, "read and check the lines without writing (and without calling the server)")
	cmd.AddCommand(j)
	cmd.AddCommand(a.datasetImportCommands()...)
	return cmd
}
