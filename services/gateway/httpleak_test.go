package gateway_test

import (
	"strings"
	"testing"

	gatewayv1 "github.com/guarantor/guarantor/gen/go/guarantor/gateway/v1"
)

// TestBackendAddressHidden: when a backend cannot be reached, the error the gateway's
// own client connection produced (not a status the service sent) names the backend's
// internal address; it used to reach the caller verbatim, over HTTP and in the
// dossier's part status. The caller is told which service is unavailable, no more.
func TestBackendAddressHidden(t *testing.T) {
	t.Parallel()
	dead := deadAddr(t)
	s := startStack(t, stackOptions{guaranteesAddr: dead})
	code, body := postJSON(t, rpcURL(s.httpURL, "guarantor.guarantees.v1.GuaranteesService", "ListGuarantees"), s.keys[viewer], `{}`)
	if strings.Contains(string(body), dead) {
		t.Errorf("HTTP %d body names the backend's internal address %s: %s", code, dead, body)
	}
	seedDossier(t, s, false)
	d, err := gatewayv1.NewGatewayServiceClient(s.conn).GetActorDossier(s.ctxAs(viewer), &gatewayv1.GetActorDossierRequest{Actor: "actors/fra"})
	if err != nil {
		t.Fatal(err)
	}
	if m := d.GetCommitmentsStatus().GetMessage(); strings.Contains(m, dead) {
		t.Errorf("dossier commitments_status names the backend's internal address %s: %q", dead, m)
	}
}
