package pgtest_test

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"

	"github.com/guarantor/guarantor/platform/testkit/pgtest"
)

// recordingTB records how NewDatabase ends a test instead of ending ours.
type recordingTB struct {
	testing.TB
	skipped, failed string
}

func (r *recordingTB) Helper()        {}
func (r *recordingTB) Cleanup(func()) {}
func (r *recordingTB) Skip(args ...any) {
	r.skipped = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatal(args ...any) {
	r.failed = fmt.Sprint(args...)
	runtime.Goexit()
}
func (r *recordingTB) Fatalf(format string, args ...any) {
	r.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestUnreachableServer(t *testing.T) {
	// Not parallel: t.Setenv.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close() // nothing listens there now
	url := fmt.Sprintf("postgres://postgres:topsecret@127.0.0.1:%d/postgres?sslmode=disable", port)

	tests := []struct {
		name     string
		ci       string
		wantSkip bool
	}{
		{name: "local run skips", ci: "", wantSkip: true},
		{name: "CI fails", ci: "true", wantSkip: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(pgtest.EnvURL, url)
			t.Setenv("CI", tt.ci)
			rec := &recordingTB{TB: t}
			done := make(chan struct{})
			go func() {
				defer close(done)
				pgtest.NewDatabase(rec)
				t.Error("NewDatabase returned with no server")
			}()
			<-done
			msg := rec.skipped
			if !tt.wantSkip {
				msg = rec.failed
			}
			if (rec.skipped != "") != tt.wantSkip || (rec.failed != "") == tt.wantSkip {
				t.Fatalf("skipped=%q failed=%q, want skip=%t", rec.skipped, rec.failed, tt.wantSkip)
			}
			for _, want := range []string{"PostgreSQL not reachable", pgtest.EnvURL, fmt.Sprint(port)} {
				if !strings.Contains(msg, want) {
					t.Errorf("message %q lacks %q", msg, want)
				}
			}
			if strings.Contains(msg, "topsecret") {
				t.Errorf("message %q leaks the password", msg)
			}
		})
	}
}
