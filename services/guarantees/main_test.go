package guarantees_test

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/services/guarantees"
)

func TestFlags(t *testing.T) {
	t.Parallel()
	fs, _, _ := service.Flags(guarantees.MainSpec)
	f, ok := fs.Lookup("events-stream")
	if !ok {
		t.Fatal("the binary has no --events-stream flag")
	}
	if f.Default != "GUARANTOR_EVENTS" {
		t.Errorf("--events-stream defaults to %q", f.Default)
	}
	own := config.NewFlagSet("guarantees", "GUARANTOR_")
	cfg := guarantees.RegisterFlags(own)
	if err := own.Parse([]string{"--events-stream", "OTHER_EVENTS", "--listen", "127.0.0.1:1"}); err != nil {
		t.Fatal(err)
	}
	if got := cfg(); got.EventsStream != "OTHER_EVENTS" || got.GRPC.Listen != "127.0.0.1:1" || got.Stream != guarantees.Stream {
		t.Errorf("config %+v", got)
	}
}

// TestMainMigrate runs the binary's entry point: it accepts the service's own flag and
// applies the schema.
func TestMainMigrate(t *testing.T) {
	t.Parallel()
	var out, errs bytes.Buffer
	dsn := "sqlite://" + filepath.Join(t.TempDir(), "g.db")
	code := service.Main([]string{"migrate", "--store", dsn, "--events-stream", "X", "--log-level", "error"}, &out, &errs, guarantees.MainSpec)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs.String())
	}
}
