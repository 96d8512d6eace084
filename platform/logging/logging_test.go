package logging_test

import (
	"io"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"

	"github.com/guarantor/guarantor/platform/config"
	"github.com/guarantor/guarantor/platform/logging"
)

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		cfg       logging.Config
		wantLevel zapcore.Level
		wantErr   string // substring; empty means success
	}{
		{name: "defaults", cfg: logging.Config{}, wantLevel: zapcore.InfoLevel},
		{name: "debug json", cfg: logging.Config{Level: "debug", Format: "json"}, wantLevel: zapcore.DebugLevel},
		{name: "warn console", cfg: logging.Config{Level: "warn", Format: "console"}, wantLevel: zapcore.WarnLevel},
		{name: "error", cfg: logging.Config{Level: "error"}, wantLevel: zapcore.ErrorLevel},
		{name: "bad level", cfg: logging.Config{Level: "verbose"}, wantErr: `"verbose"`},
		{name: "level is case sensitive", cfg: logging.Config{Level: "INFO"}, wantErr: `"INFO"`},
		{name: "bad format", cfg: logging.Config{Format: "xml"}, wantErr: `"xml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			log, err := logging.New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New(%+v) error = %v, want one containing %s", tt.cfg, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New(%+v): %v", tt.cfg, err)
			}
			if got := log.Level(); got != tt.wantLevel {
				t.Errorf("level = %s, want %s", got, tt.wantLevel)
			}
		})
	}
}

func TestRegisterFlags(t *testing.T) {
	t.Parallel()
	fs := config.NewFlagSet("test", config.DefaultEnvPrefix)
	fs.SetOutput(io.Discard)
	cfg := logging.RegisterFlags(fs, logging.Config{Format: "console"})
	env := map[string]string{"GUARANTOR_LOG_LEVEL": "debug"}
	if err := fs.ParseWithEnv(nil, func(k string) (string, bool) { v, ok := env[k]; return v, ok }); err != nil {
		t.Fatal(err)
	}
	if *cfg != (logging.Config{Level: "debug", Format: "console"}) {
		t.Errorf("config = %+v, want level debug from env and format console from the default", *cfg)
	}
}
