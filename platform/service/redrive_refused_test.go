package service_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/guarantor/guarantor/platform/outbox"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/testkit/natstest"
)

// TestRefusedRedriveChangesNothing: `NAME redrive` while the service runs is refused (a
// relay holds the stream's leadership), and changes nothing. Before it found that out,
// it used to replace the running service's stream configuration with its own flags'
// (here the default --stream-max-age=0 over the service's 3h; --stream-replicas
// likewise) and migrate the schema under it.
func TestRefusedRedriveChangesNothing(t *testing.T) {
	ctx := context.Background()
	spec, db := mainStore(t, t.TempDir())
	spec.Subjects = []string{"guarantor.test.v1.>"}
	ns := natstest.Start(t)
	js := ns.JetStream(t)

	// The running service's stream: --stream-max-age=3h.
	sc := outbox.StreamConfig("TEST", spec.Subjects, 1)
	sc.MaxAge = 3 * time.Hour
	if _, err := js.CreateStream(ctx, sc); err != nil {
		t.Fatal(err)
	}
	// Its relay leads.
	release, ok, err := db.TryLock("relay-TEST")
	if err != nil || !ok {
		t.Fatalf("relay lock: ok=%v err=%v", ok, err)
	}
	defer release()

	var stdout, stderr bytes.Buffer
	code := service.Main([]string{"redrive", "--log-level=error", "--nats-url=" + ns.URL(), "--stream=TEST"}, &stdout, &stderr, spec)
	if code != 1 || !strings.Contains(stderr.String(), outbox.ErrNotLeader.Error()) {
		t.Fatalf("exit %d, stderr %q: want the refusal", code, stderr.String())
	}
	st, err := js.Stream(ctx, "TEST")
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != sc.MaxAge {
		t.Errorf("the refused redrive changed the running service's stream: max age %s, was %s", info.Config.MaxAge, sc.MaxAge)
	}
}
