package sqldb

import (
	"context"
	"fmt"
	"io/fs"
)

// MigrateService applies the platform's schema, then a service's: migrations holds one
// directory of goose files per dialect ("sqlite", "postgres"), versioned in table.
func MigrateService(ctx context.Context, db *DB, migrations fs.FS, table string) error {
	if err := MigratePlatform(ctx, db); err != nil {
		return err
	}
	sub, err := fs.Sub(migrations, db.Dialect.String())
	if err != nil {
		return fmt.Errorf("sqldb: %s migrations: %w", table, err)
	}
	return Migrate(ctx, db, sub, table)
}
