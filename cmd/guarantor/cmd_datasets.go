package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/acled"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/gdelt"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/pax"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/importers/progress"
	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

// datasetImportCommands are the `import` subcommands for the public datasets analysts
// already use: gdelt, acled and pax.
func (a *app) datasetImportCommands() []*cobra.Command {
	return []*cobra.Command{a.newImportGDELT(), a.newImportACLED(), a.newImportPAX()}
}

// datasetFlags are the flags every dataset import has.
func datasetFlags(cmd *cobra.Command, opt *importers.Options) {
	f := cmd.Flags()
	f.BoolVar(&opt.Strict, "strict", false, "check the whole file first, the server checking every batch without writing it, and write nothing if any row is bad")
	f.Var(dryRun{opt}, "dry-run", "write nothing: --dry-run checks the rows here without calling the server; --dry-run=server has the server check every batch too and reports what the import would create, update or leave unchanged")
	f.Lookup("dry-run").NoOptDefVal = "client"
	f.IntVar(&opt.BatchSize, "batch-size", importers.DefaultBatchSize, "rows per batch call (at most 1000)")
}

// dryRun is the dataset imports' --dry-run[=client|server] (as kubectl's): client checks
// the rows without calling the server; server sends every batch with validate_only.
type dryRun struct{ opt *importers.Options }

func (d dryRun) String() string {
	switch {
	case d.opt == nil:
		return ""
	case d.opt.DryRun:
		return "client"
	case d.opt.ValidateOnly:
		return "server"
	}
	return "" // neither: pflag then shows no default
}

func (d dryRun) Set(v string) error {
	switch v {
	case "client", "true":
		d.opt.DryRun, d.opt.ValidateOnly = true, false
	case "server":
		d.opt.DryRun, d.opt.ValidateOnly = false, true
	case "none", "false":
		d.opt.DryRun, d.opt.ValidateOnly = false, false
	default:
		return fmt.Errorf("want client or server, not %q", v)
	}
	return nil
}

func (d dryRun) Type() string { return "client|server" }

const datasetLong = `

Idempotent: rows become records under ids taken from the dataset, so re-importing a
file creates nothing new (it reports the records unchanged) and a row the dataset has
edited since replaces the record (updated). Actors the rows name are created when
missing and never overwritten. A bad row is reported with its line number and reason
and the import goes on with the others (or, with --strict, nothing is written); the
rows of a bad row are not written at all. Progress goes to the terminal as a bar, or as
a line every few seconds to standard error when the output is not a terminal. The exit
code is 1 when any row was rejected.`

func (a *app) newImportGDELT() *cobra.Command {
	var opt gdelt.Options
	cmd := &cobra.Command{
		Use:   "gdelt FILE...",
		Short: "Import GDELT 2.0 event exports (tab-separated, 61 columns; plain or .zip)",
		Long: `Imports GDELT 2.0 event exports as published every 15 minutes (YYYYMMDDHHMMSS.export.CSV,
or the .zip holding it, read without unpacking). Each row becomes the event
events/gdelt-<GLOBALEVENTID> (CAMEO code, day-precise SQLDATE, action geography, source
URL, counts and tone), and its two actors: actors/<iso3> for a country code,
actors/cameo-<code> for any other CAMEO actor code. A row with a CAMEO event code that
is not in GDELT's code table is rejected. Licence: GDELT (open data; cite The GDELT
Project).` + datasetLong,
		Example: `  guarantor import gdelt 20240106120000.export.CSV.zip
  guarantor import gdelt --actor-country UKR --actor-country RUS --cameo-root 19 *.export.CSV.zip
  guarantor import gdelt --dry-run 20240106120000.export.CSV`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := gdelt.NormalizeFilter(opt.Filter)
			if err != nil {
				return usagef("%v", err)
			}
			opt.Filter = f
			return a.runDatasetImport(cmd.Context(), "gdelt", args, &opt.Options, func(ctx context.Context, inputs []importers.Input) (importers.Summary, error) {
				conn, err := a.dial()
				if err != nil {
					return importers.Summary{}, err
				}
				return gdelt.Import(ctx, conn, a.callContext, inputs, opt)
			})
		},
	}
	datasetFlags(cmd, &opt.Options)
	cmd.Flags().StringSliceVar(&opt.Filter.ActorCountries, "actor-country", nil, "keep only rows where Actor1's or Actor2's country is this CAMEO code (repeatable, e.g. UKR)")
	cmd.Flags().StringSliceVar(&opt.Filter.CameoRoots, "cameo-root", nil, "keep only rows with this CAMEO root code, 01 to 20 (repeatable, e.g. 19)")
	return cmd
}

func (a *app) newImportACLED() *cobra.Command {
	var opt importers.Options
	cmd := &cobra.Command{
		Use:   "acled FILE",
		Short: "Import an ACLED CSV export (columns by name)",
		Long: `Imports an ACLED export (CSV with a header row; columns are found by name, in any order,
and extra columns are ignored; a missing required column is an error that names it).
Each row becomes the event events/acled-<event_id_cnty> with event_type and
sub_event_type, time_precision (1 day, 2 week, 3 month) and geo_precision (1 to 3),
fatalities, notes and sources, and its actors as actors/acled-<name>. Licence: ACLED,
so the records reach only principals holding the "acled" entitlement. ACLED edits
events under the same id: importing a newer export updates them.` + datasetLong,
		Example: `  guarantor import acled 2024-01-01-2024-01-31-Ukraine.csv
  guarantor import acled --strict acled-export.csv
  guarantor import acled --dry-run=server newer-export.csv   # what it would update`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDatasetImport(cmd.Context(), "acled", args, &opt, func(ctx context.Context, inputs []importers.Input) (importers.Summary, error) {
				conn, err := a.dial()
				if err != nil {
					return importers.Summary{}, err
				}
				return acled.Import(ctx, conn, a.callContext, inputs, opt)
			})
		},
	}
	datasetFlags(cmd, &opt)
	return cmd
}

func (a *app) newImportPAX() *cobra.Command {
	var opt importers.Options
	cmd := &cobra.Command{
		Use:   "pax FILE",
		Short: "Import PA-X peace agreements (CSV) as frameworks",
		Long: `Imports a PA-X agreements CSV (header row; cells may hold line breaks). Each agreement
becomes the framework frameworks/pax-<AgtId> (kind PEACE_AGREEMENT) with its name, date,
status, stage and sub-stage, and the provisions SsrGua, Ce, CeProv, ImPK, ImE, ImUN and
ImOth. Parties and third parties are linked to existing actors whose display name or
alias matches; the text PA-X gives is always kept. Licence: PA-X (CC BY-NC-SA 4.0).
A plain --dry-run calls no server, so it links no parties (--dry-run=server does).` + datasetLong,
		Example: `  guarantor import pax pax_all_agreements_data.csv
  guarantor import pax --dry-run pax_all_agreements_data.csv`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runDatasetImport(cmd.Context(), "pax", args, &opt, func(ctx context.Context, inputs []importers.Input) (importers.Summary, error) {
				conn, err := a.dial()
				if err != nil {
					return importers.Summary{}, err
				}
				return pax.Import(ctx, conn, a.callContext, inputs, opt)
			})
		},
	}
	datasetFlags(cmd, &opt)
	return cmd
}

// callContext gives each call of an import its deadline and credentials.
func (a *app) callContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return a.ctx(ctx, false)
}

// runDatasetImport opens the files, sets up progress reporting, runs the import and
// reports its problems (standard error) and summary (standard output).
func (a *app) runDatasetImport(ctx context.Context, label string, paths []string, opt *importers.Options,
	run func(context.Context, []importers.Input) (importers.Summary, error)) error {
	if opt.BatchSize < 1 || opt.BatchSize > 1000 {
		return usagef("--batch-size must be 1 to 1000, not %d", opt.BatchSize)
	}
	inputs, err := importers.InputsOf(paths)
	if err != nil {
		return usagef("%v", err)
	}
	var total int64
	for _, in := range inputs {
		total += in.Size
	}
	if len(paths) == 1 {
		label = filepath.Base(paths[0])
	}
	opt.Progress = a.progressMeter(label, total)
	s, err := run(ctx, inputs)
	for _, p := range s.Problems {
		fmt.Fprintln(a.stderr, p.String())
	}
	fmt.Fprintln(a.stdout, s.String())
	return importOutcome(err, s.Summary, "rows")
}

// progressMeter reports an import's progress: a bar when a person watches the output,
// plain lines on standard error otherwise, so that a redirected output holds the summary
// alone (the choice is progress.ForOutput's).
func (a *app) progressMeter(label string, total int64) *progress.Meter {
	return progress.ForOutput(a.stdout, a.stderr, term.IsTerminal, label, total)
}

// importOutcome is the error an import ends with, after its summary: a --strict stop says
// whether anything was written, and rejected rows (records, for jsonl) make the exit code 1.
func importOutcome(err error, s jsonl.Summary, unit string) error {
	if errors.Is(err, importers.ErrStrict) {
		if s.Created+s.Updated+s.Unchanged == 0 {
			return fmt.Errorf("%w: nothing was written", err)
		}
		return fmt.Errorf("%w: the %s before it were written, none after", err, unit)
	}
	if err != nil {
		return err
	}
	if s.Rejected > 0 {
		return fmt.Errorf("%d of %d %s rejected", s.Rejected, s.Read, unit)
	}
	return nil
}
