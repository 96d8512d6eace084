package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/guarantor/guarantor/platform/grpcserver"
	"github.com/guarantor/guarantor/platform/sqldb"
)

// devStores are the SQLite stores of a `guarantor dev` data directory.
var devStores = []string{"events", "guarantees"}

func (a *app) newBackup() *cobra.Command {
	return &cobra.Command{
		Use:   "backup DIR",
		Short: "Copy the local dev stack's databases, while it runs, into DIR",
		Long: `Writes a consistent copy of each SQLite store of a local 'guarantor dev' (the one in
--dev-data-dir) into DIR, as events.db and guarantees.db, while the stack keeps running:
each is one snapshot, synced and checked before it is put in place, and an existing
file is never replaced. It works on the files directly, not through the gateway. To
restore, stop the stack, put the copies in place of the stores and delete the nats
directory beside them (docs/operations.md, "SQLite stores"). A stack on PostgreSQL is
backed up with pg_dump instead.`,
		Example: `  guarantor backup backups/2026-11-29
  guarantor --dev-data-dir /tmp/guarantor backup /srv/backups/guarantor`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, stop := grpcserver.SignalContext()
			defer stop()
			dir := args[0]
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return err
			}
			for _, name := range devStores {
				store := filepath.Join(a.devData, name+".db")
				db, err := sqldb.OpenExisting(ctx, "sqlite://"+store, nil)
				if err != nil {
					return fmt.Errorf("%s: %w (is --dev-data-dir the dev stack's?)", name, err)
				}
				info, err := db.Backup(ctx, filepath.Join(dir, name+".db"), func(p sqldb.BackupProgress) {
					fmt.Fprintf(a.stderr, "%s: %s\n", name, p)
				})
				_ = db.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
				fmt.Fprintf(a.stdout, "%s: %s\n", name, info)
			}
			return nil
		},
	}
}
