// Package logging builds the process's *zap.Logger from two settings, so every
// binary logs the same way: JSON in production, readable console lines in
// development. The logger is passed on through constructors; there is no
// global logger.
package logging

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/guarantor/guarantor/platform/config"
)

// Config selects the level and the output format.
type Config struct {
	// Level is "debug", "info", "warn" or "error". Empty means "info".
	Level string
	// Format is "json" (production: one JSON object per line, ISO-8601 times)
	// or "console" (development: coloured, human readable). Empty means "json".
	Format string
}

// RegisterFlags registers --log-level and --log-format (GUARANTOR_LOG_LEVEL,
// GUARANTOR_LOG_FORMAT) with defaults from def, and returns the Config the
// flags fill in on fs.Parse.
func RegisterFlags(fs *config.FlagSet, def Config) *Config {
	c := &Config{}
	fs.StringVar(&c.Level, "log-level", orDefault(def.Level, "info"), "log level: debug, info, warn or error")
	fs.StringVar(&c.Format, "log-format", orDefault(def.Format, "json"), "log format: json (production) or console (development)")
	return c
}

// New returns a logger writing to stderr. An unknown level or format is an
// error naming the value.
func New(cfg Config) (*zap.Logger, error) {
	var level zapcore.Level
	switch orDefault(cfg.Level, "info") {
	case "debug":
		level = zapcore.DebugLevel
	case "info":
		level = zapcore.InfoLevel
	case "warn":
		level = zapcore.WarnLevel
	case "error":
		level = zapcore.ErrorLevel
	default:
		return nil, fmt.Errorf("logging: unknown level %q (want debug, info, warn or error)", cfg.Level)
	}

	var zc zap.Config
	switch orDefault(cfg.Format, "json") {
	case "json":
		zc = zap.NewProductionConfig()
		zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	case "console":
		zc = zap.NewDevelopmentConfig()
		zc.EncoderConfig.EncodeLevel = zapcore.CapitalColorLevelEncoder
	default:
		return nil, fmt.Errorf("logging: unknown format %q (want json or console)", cfg.Format)
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	// No sampling: an internal error's detail is logged exactly once, and a
	// sampler could drop that one line. Log volume is controlled by level.
	zc.Sampling = nil
	// Development mode would make DPanic panic; a server must not.
	zc.Development = false

	log, err := zc.Build()
	if err != nil {
		return nil, fmt.Errorf("logging: build logger: %w", err)
	}
	return log, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
