package license_test

import (
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/license"
	"github.com/guarantor/guarantor/platform/principal"
)

func TestStampAndVisibility(t *testing.T) {
	t.Parallel()
	viewer := principal.Principal{ID: "key:viewer", Role: principal.RoleViewer}
	analyst := principal.Principal{ID: "key:analyst", Role: principal.RoleViewer, Entitlements: []string{license.EntitlementACLED}}
	tests := []struct {
		name      string
		in        typev1.License
		stored    typev1.License
		vis       typev1.Visibility
		ent       string
		viewerSee bool
	}{
		{"unset is public", typev1.License_LICENSE_UNSPECIFIED, typev1.License_LICENSE_PUBLIC, typev1.Visibility_VISIBILITY_PUBLIC, "", true},
		{"gdelt is open", typev1.License_LICENSE_GDELT, typev1.License_LICENSE_GDELT, typev1.Visibility_VISIBILITY_PUBLIC, "", true},
		{"acled is restricted", typev1.License_LICENSE_ACLED, typev1.License_LICENSE_ACLED, typev1.Visibility_VISIBILITY_RESTRICTED, "acled", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := &eventsv1.Event{Name: "events/e", License: tt.in, Visibility: typev1.Visibility_VISIBILITY_PUBLIC, RequiredEntitlement: "forged"}
			license.Stamp(e)
			if e.GetLicense() != tt.stored || e.GetVisibility() != tt.vis || e.GetRequiredEntitlement() != tt.ent {
				t.Errorf("stamped %v %v %q", e.GetLicense(), e.GetVisibility(), e.GetRequiredEntitlement())
			}
			if license.Of(e) != tt.stored {
				t.Errorf("Of = %v", license.Of(e))
			}
			if got := license.Visible(viewer, tt.stored); got != tt.viewerSee {
				t.Errorf("viewer sees it: %v", got)
			}
			if err := license.Deny(viewer, "events/e", tt.stored); (err != nil) == tt.viewerSee || (err != nil && !apperr.Is(err, apperr.CodePermissionDenied)) {
				t.Errorf("Deny = %v", err)
			}
			if !license.Visible(analyst, tt.stored) {
				t.Error("an entitled principal cannot see it")
			}
		})
	}
	if where, _ := license.Where(analyst); where != "" {
		t.Errorf("entitled principals are filtered: %q", where)
	}
	if where, args := license.Where(viewer); where == "" || len(args) != 1 {
		t.Errorf("unentitled principals are not filtered: %q %v", where, args)
	}
}
