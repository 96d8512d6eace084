package config_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/config"
)

type values struct {
	listen  *string
	workers *int
	limit   *int64
	verbose *bool
	timeout *time.Duration
	streams uint32
}

func newFlagSet(t testing.TB) (*config.FlagSet, *values) {
	t.Helper()
	fs := config.NewFlagSet("test", config.DefaultEnvPrefix)
	fs.SetOutput(io.Discard)
	v := &values{
		listen:  fs.String("listen", "127.0.0.1:9091", "gRPC listen address"),
		workers: fs.Int("workers", 4, "worker count"),
		limit:   fs.Int64("max-bytes", 1<<20, "byte limit"),
		verbose: fs.Bool("verbose", false, "log more"),
		timeout: fs.Duration("timeout", 5*time.Second, "request timeout"),
	}
	fs.Uint32Var(&v.streams, "max-streams", 100, "stream limit")
	return fs, v
}

func envOf(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want values
	}{
		{
			name: "defaults",
			want: values{listen: ptr("127.0.0.1:9091"), workers: ptr(4), limit: ptr[int64](1 << 20), verbose: ptr(false), timeout: ptr(5 * time.Second), streams: 100},
		},
		{
			name: "environment overrides defaults",
			env: map[string]string{
				"GUARANTOR_LISTEN": ":7000", "GUARANTOR_WORKERS": "8", "GUARANTOR_MAX_BYTES": "42",
				"GUARANTOR_VERBOSE": "true", "GUARANTOR_TIMEOUT": "250ms", "GUARANTOR_MAX_STREAMS": "7",
			},
			want: values{listen: ptr(":7000"), workers: ptr(8), limit: ptr[int64](42), verbose: ptr(true), timeout: ptr(250 * time.Millisecond), streams: 7},
		},
		{
			name: "command line overrides environment",
			args: []string{"--listen=:8000", "--verbose", "-workers", "2"},
			env:  map[string]string{"GUARANTOR_LISTEN": ":7000", "GUARANTOR_VERBOSE": "false", "GUARANTOR_WORKERS": "8"},
			want: values{listen: ptr(":8000"), workers: ptr(2), limit: ptr[int64](1 << 20), verbose: ptr(true), timeout: ptr(5 * time.Second), streams: 100},
		},
		{
			name: "empty environment value is applied",
			env:  map[string]string{"GUARANTOR_LISTEN": ""},
			want: values{listen: ptr(""), workers: ptr(4), limit: ptr[int64](1 << 20), verbose: ptr(false), timeout: ptr(5 * time.Second), streams: 100},
		},
		{
			name: "variables of other programs are ignored",
			env:  map[string]string{"LISTEN": ":1", "OTHER_LISTEN": ":2"},
			want: values{listen: ptr("127.0.0.1:9091"), workers: ptr(4), limit: ptr[int64](1 << 20), verbose: ptr(false), timeout: ptr(5 * time.Second), streams: 100},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs, got := newFlagSet(t)
			if err := fs.ParseWithEnv(tt.args, envOf(tt.env)); err != nil {
				t.Fatalf("ParseWithEnv: %v", err)
			}
			if *got.listen != *tt.want.listen || *got.workers != *tt.want.workers || *got.limit != *tt.want.limit ||
				*got.verbose != *tt.want.verbose || *got.timeout != *tt.want.timeout || got.streams != tt.want.streams {
				t.Errorf("got listen=%q workers=%d limit=%d verbose=%t timeout=%s streams=%d, want listen=%q workers=%d limit=%d verbose=%t timeout=%s streams=%d",
					*got.listen, *got.workers, *got.limit, *got.verbose, *got.timeout, got.streams,
					*tt.want.listen, *tt.want.workers, *tt.want.limit, *tt.want.verbose, *tt.want.timeout, tt.want.streams)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string // substring
	}{
		{name: "bad int in env", env: map[string]string{"GUARANTOR_WORKERS": "many"}, wantErr: "GUARANTOR_WORKERS"},
		{name: "bad int64 in env", env: map[string]string{"GUARANTOR_MAX_BYTES": "1.5"}, wantErr: "GUARANTOR_MAX_BYTES"},
		{name: "bad bool in env", env: map[string]string{"GUARANTOR_VERBOSE": "maybe"}, wantErr: "GUARANTOR_VERBOSE"},
		{name: "bad duration in env", env: map[string]string{"GUARANTOR_TIMEOUT": "5"}, wantErr: "GUARANTOR_TIMEOUT"},
		{name: "negative uint32 in env", env: map[string]string{"GUARANTOR_MAX_STREAMS": "-1"}, wantErr: "GUARANTOR_MAX_STREAMS"},
		{name: "bad value on command line", args: []string{"--workers=x"}, wantErr: "workers"},
		{name: "unknown flag", args: []string{"--nope"}, wantErr: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs, _ := newFlagSet(t)
			err := fs.ParseWithEnv(tt.args, envOf(tt.env))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ParseWithEnv error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	fs, _ := newFlagSet(t)
	var out bytes.Buffer
	fs.SetOutput(&out)
	if err := fs.ParseWithEnv([]string{"--help"}, envOf(nil)); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("ParseWithEnv(--help) = %v, want flag.ErrHelp", err)
	}
	for _, want := range []string{
		"--listen", "GUARANTOR_LISTEN", `"127.0.0.1:9091"`, "gRPC listen address",
		"--max-bytes", "GUARANTOR_MAX_BYTES", `"1048576"`,
		"--timeout", "GUARANTOR_TIMEOUT", `"5s"`,
		"--verbose", "GUARANTOR_VERBOSE", `"false"`,
		"--max-streams", "GUARANTOR_MAX_STREAMS",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage output lacks %q:\n%s", want, out.String())
		}
	}
}

func TestFlags(t *testing.T) {
	t.Parallel()
	fs, _ := newFlagSet(t)
	got := fs.Flags()
	want := []config.Flag{
		{Name: "listen", Env: "GUARANTOR_LISTEN", Usage: "gRPC listen address", Default: "127.0.0.1:9091"},
		{Name: "workers", Env: "GUARANTOR_WORKERS", Usage: "worker count", Default: "4"},
		{Name: "max-bytes", Env: "GUARANTOR_MAX_BYTES", Usage: "byte limit", Default: "1048576"},
		{Name: "verbose", Env: "GUARANTOR_VERBOSE", Usage: "log more", Default: "false"},
		{Name: "timeout", Env: "GUARANTOR_TIMEOUT", Usage: "request timeout", Default: "5s"},
		{Name: "max-streams", Env: "GUARANTOR_MAX_STREAMS", Usage: "stream limit", Default: "100"},
	}
	if len(got) != len(want) {
		t.Fatalf("Flags() = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("Flags()[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if f, ok := fs.Lookup("timeout"); !ok || f.Env != "GUARANTOR_TIMEOUT" {
		t.Errorf("Lookup(timeout) = %+v, %t", f, ok)
	}
	if _, ok := fs.Lookup("absent"); ok {
		t.Error("Lookup(absent) found a flag")
	}
}

func TestEnvName(t *testing.T) {
	t.Parallel()
	tests := []struct{ prefix, name, want string }{
		{"GUARANTOR_", "listen", "GUARANTOR_LISTEN"},
		{"GUARANTOR_", "metrics-listen", "GUARANTOR_METRICS_LISTEN"},
		{"GUARANTOR_", "nats.url", "GUARANTOR_NATS_URL"},
		{"X_", "a-b", "X_A_B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := config.NewFlagSet("t", tt.prefix).EnvName(tt.name); got != tt.want {
				t.Errorf("EnvName(%q) = %q, want %q", tt.name, got, tt.want)
			}
		})
	}
}

func TestProcessEnvironment(t *testing.T) {
	// Not parallel: t.Setenv changes the process environment.
	t.Setenv("GUARANTOR_LISTEN", ":9999")
	fs, v := newFlagSet(t)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	if *v.listen != ":9999" {
		t.Errorf("listen = %q, want %q from the process environment", *v.listen, ":9999")
	}
}

func ptr[T any](v T) *T { return &v }

func TestFloat64Var(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		env     map[string]string
		want    float64
		wantErr string
	}{
		{name: "default", want: 0.25},
		{name: "environment", env: map[string]string{"GUARANTOR_RATIO": "1"}, want: 1},
		{name: "command line", args: []string{"--ratio=0.05"}, env: map[string]string{"GUARANTOR_RATIO": "1"}, want: 0.05},
		{name: "not a number", env: map[string]string{"GUARANTOR_RATIO": "half"}, wantErr: "GUARANTOR_RATIO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := config.NewFlagSet("test", config.DefaultEnvPrefix)
			fs.SetOutput(io.Discard)
			var ratio float64
			fs.Float64Var(&ratio, "ratio", 0.25, "a ratio")
			err := fs.ParseWithEnv(tc.args, envOf(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || ratio != tc.want {
				t.Fatalf("ratio %g, err %v; want %g", ratio, err, tc.want)
			}
		})
	}
}
