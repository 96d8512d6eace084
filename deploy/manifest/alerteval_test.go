package manifest_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql/promqltest"
)

// alertCase is a history of series and whether an alert's expression is true at its end.
type alertCase struct {
	name  string
	alert string
	// series are promqltest load lines, one sample a minute from 0m: "name{labels} 0+1x40".
	series []string
	// at is when the expression is evaluated.
	at    time.Duration
	fires bool
}

// Labels a scrape through the ServiceMonitors gives every series.
const (
	eventsPod  = `namespace="guarantor", job="events", pod="events-0"`
	gatewayPod = `namespace="guarantor", job="gateway", pod="gateway-0"`
	stream     = `stream="GUARANTOR_EVENTS"`
	refs       = `projection="guarantees-refs"`
)

var alertCases = []alertCase{
	{"a pod that stopped answering", "GuarantorTargetDown", []string{`up{` + eventsPod + `} 1x10 0x30`}, 30 * time.Minute, true},
	{"every pod answers", "GuarantorTargetDown", []string{`up{` + eventsPod + `} 1x40`}, 30 * time.Minute, false},

	{"Internal errors", "GuarantorServerErrors", []string{
		`grpc_server_handled_total{` + eventsPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="GetEvent", grpc_code="Internal"} 0+2x40`,
	}, 30 * time.Minute, true},
	{"only client mistakes", "GuarantorServerErrors", []string{
		`grpc_server_handled_total{` + eventsPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="GetEvent", grpc_code="NotFound"} 0+50x40`,
		`grpc_server_handled_total{` + eventsPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="GetEvent", grpc_code="Internal"} 0x40`,
	}, 30 * time.Minute, false},

	{"one call in a hundred above a second", "GuarantorSlowCalls", handlingSeconds(gatewayPod, 0, 3), 30 * time.Minute, true},
	{"fast calls", "GuarantorSlowCalls", handlingSeconds(gatewayPod, 100, 0), 30 * time.Minute, false},
	{"one slow call in a thousand", "GuarantorSlowCalls", handlingSeconds(gatewayPod, 999, 1), 30 * time.Minute, false},

	{"the gateway cannot reach events", "GuarantorBackendUnavailable", []string{
		`grpc_server_handled_total{` + gatewayPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="GetEvent", grpc_code="Unavailable"} 0+5x40`,
	}, 30 * time.Minute, true},
	{"the gateway's own watch is unavailable", "GuarantorBackendUnavailable", []string{
		`grpc_server_handled_total{` + gatewayPod + `, grpc_service="guarantor.gateway.v1.GatewayService", grpc_method="Watch", grpc_code="Unavailable"} 0+5x40`,
	}, 30 * time.Minute, false},

	{"a service refuses the gateway's identities", "GuarantorPrincipalRefused", []string{
		`grpc_server_handled_total{` + eventsPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="ListEvents", grpc_code="Unauthenticated"} 0+10x40`,
	}, 30 * time.Minute, true},
	{"clients without a key at the gateway", "GuarantorPrincipalRefused", []string{
		`grpc_server_handled_total{` + gatewayPod + `, grpc_service="guarantor.events.v1.EventsService", grpc_method="ListEvents", grpc_code="Unauthenticated"} 0+10x40`,
	}, 30 * time.Minute, false},

	{"NATS down: changes wait, nothing published", "GuarantorOutboxStalled", []string{
		`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 0x10 5+5x30`,
		`guarantor_outbox_published_total{` + eventsPod + `, ` + stream + `} 0+10x10 100x30`,
	}, 30 * time.Minute, true},
	{"busy but publishing", "GuarantorOutboxStalled", []string{
		`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 50x40`,
		`guarantor_outbox_published_total{` + eventsPod + `, ` + stream + `} 0+100x40`,
	}, 30 * time.Minute, false},
	{"idle", "GuarantorOutboxStalled", []string{
		`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 0x40`,
		`guarantor_outbox_published_total{` + eventsPod + `, ` + stream + `} 7x40`,
	}, 30 * time.Minute, false},
	{"a replica without the relay's lock, while the other publishes", "GuarantorOutboxStalled", []string{
		`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 3x40`,
		`guarantor_outbox_published_total{` + eventsPod + `, ` + stream + `} 0+100x40`,
		`guarantor_outbox_lag_entries{namespace="guarantor", job="events", pod="events-1", ` + stream + `} 0x40`,
		`guarantor_outbox_published_total{namespace="guarantor", job="events", pod="events-1", ` + stream + `} 0x40`,
	}, 30 * time.Minute, false},

	{"far behind", "GuarantorOutboxLagging", []string{`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 2000x40`}, 30 * time.Minute, true},
	{"a little behind", "GuarantorOutboxLagging", []string{`guarantor_outbox_lag_entries{` + eventsPod + `, ` + stream + `} 200x40`}, 30 * time.Minute, false},

	{"relay passes failing", "GuarantorOutboxErrors", []string{`guarantor_outbox_errors_total{` + eventsPod + `, ` + stream + `} 0+1x40`}, 30 * time.Minute, true},
	{"no relay errors", "GuarantorOutboxErrors", []string{`guarantor_outbox_errors_total{` + eventsPod + `, ` + stream + `} 0x40`}, 30 * time.Minute, false},

	{"changes expired before the projection read them", "GuarantorProjectionExpired", []string{
		`guarantor_projection_expired_total{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 0x25 3x15`,
	}, 30 * time.Minute, true},
	{"nothing expired", "GuarantorProjectionExpired", []string{
		`guarantor_projection_expired_total{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 0x40`,
	}, 30 * time.Minute, false},

	{"the projection keeps failing", "GuarantorProjectionErrors", []string{
		`guarantor_projection_errors_total{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 0+1x40`,
	}, 30 * time.Minute, true},
	{"the projection is well", "GuarantorProjectionErrors", []string{
		`guarantor_projection_errors_total{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 2x40`,
	}, 30 * time.Minute, false},

	{"the projection far behind", "GuarantorProjectionLagging", []string{
		`guarantor_projection_lag{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 5000x40`,
	}, 30 * time.Minute, true},
	{"the projection caught up", "GuarantorProjectionLagging", []string{
		`guarantor_projection_lag{namespace="guarantor", job="guarantees", pod="guarantees-0", ` + refs + `} 0x40`,
	}, 30 * time.Minute, false},

	{"a bad keys file", "GuarantorKeysReloadFailed", []string{
		`guarantor_gateway_keys_reloads_total{` + gatewayPod + `, result="error"} 0x25 1x15`,
		`guarantor_gateway_keys_reloads_total{` + gatewayPod + `, result="ok"} 3x40`,
	}, 30 * time.Minute, true},
	{"good reloads only", "GuarantorKeysReloadFailed", []string{
		`guarantor_gateway_keys_reloads_total{` + gatewayPod + `, result="error"} 0x40`,
		`guarantor_gateway_keys_reloads_total{` + gatewayPod + `, result="ok"} 0+1x40`,
	}, 30 * time.Minute, false},

	{"watches ended out of range", "GuarantorWatchGaps", []string{`guarantor_gateway_watch_gaps_total{` + gatewayPod + `} 0x20 2x20`}, 30 * time.Minute, true},
	{"no gaps", "GuarantorWatchGaps", []string{`guarantor_gateway_watch_gaps_total{` + gatewayPod + `} 0x40`}, 30 * time.Minute, false},

	{"three failed retention passes in an hour", "GuarantorRetentionFailing", []string{
		`guarantor_retention_errors_total{` + eventsPod + `} 0x20 1x20 2x20 3x20`,
	}, 70 * time.Minute, true},
	{"one failed pass", "GuarantorRetentionFailing", []string{
		`guarantor_retention_errors_total{` + eventsPod + `} 0x20 1x60`,
	}, 70 * time.Minute, false},
}

// handlingSeconds is a unary method's latency histogram, GetEvent through the pod, with
// fast calls a minute under 0.1 s and slow ones between 1 and 2.5 s.
func handlingSeconds(pod string, fast, slow int) []string {
	var out []string
	for _, b := range []struct {
		le string
		n  int
	}{{"0.1", fast}, {"1", fast}, {"2.5", fast + slow}, {"+Inf", fast + slow}} {
		out = append(out, fmt.Sprintf(`grpc_server_handling_seconds_bucket{%s, grpc_type="unary", grpc_service="guarantor.events.v1.EventsService", grpc_method="GetEvent", le=%q} 0+%dx40`, pod, b.le, b.n))
	}
	return out
}

// TestAlertsFireWhenTheyShould evaluates each alert's expression, as Prometheus's engine
// does, on made-up histories: it is true in the situation the alert is for and false in
// the nearby ones that are not trouble. Every alert needs a case of each kind.
func TestAlertsFireWhenTheyShould(t *testing.T) {
	set := build(t, targetNamed(t, "prod+observability"))
	exprs := map[string]string{}
	for _, a := range set.Alerts() {
		exprs[a.Name] = a.Expr
	}
	engine := promqltest.NewTestEngine(t, false, 0, 1_000_000)
	covered := map[string][2]bool{}
	for _, c := range alertCases {
		kinds := covered[c.alert]
		kinds[boolIndex(c.fires)] = true
		covered[c.alert] = kinds
		t.Run(c.alert+"/"+c.name, func(t *testing.T) {
			expr, ok := exprs[c.alert]
			if !ok {
				t.Fatalf("no alert %s", c.alert)
			}
			storage := promqltest.LoadedStorage(t, "load 1m\n  "+strings.Join(c.series, "\n  "))
			t.Cleanup(func() { _ = storage.Close() })
			q, err := engine.NewInstantQuery(context.Background(), storage, nil, expr, time.Unix(0, 0).Add(c.at))
			if err != nil {
				t.Fatal(err)
			}
			defer q.Close()
			res := q.Exec(context.Background())
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			v, err := res.Vector()
			if err != nil {
				t.Fatal(err)
			}
			if fires := len(v) > 0; fires != c.fires {
				t.Errorf("fires = %v, want %v; the expression gave %v\n%s", fires, c.fires, v, expr)
			}
		})
	}
	for name := range exprs {
		if k := covered[name]; !k[0] || !k[1] {
			t.Errorf("%s: add a case where it fires and one where it does not (have %v)", name, fmt.Sprint(k))
		}
	}
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}
