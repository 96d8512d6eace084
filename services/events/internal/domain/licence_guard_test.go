package domain

import (
	"context"
	"strings"
	"testing"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/standard"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// TestLicenceRefusalComesFirst: a writer who may not read a restricted record learns
// nothing about it from a write: with any etag, right or wrong, and with or without a
// request_id, Update and Delete are PERMISSION_DENIED, never ABORTED with the current
// etag in the message, and the record is unchanged.
func TestLicenceRefusalComesFirst(t *testing.T) {
	ctx := context.Background()
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			svc, _ := engineService(t, dialect)
			e := validEvent()
			e.License = typev1.License_LICENSE_ACLED
			m, err := svc.Create(ctx, adminCall("/CreateEvent"), store.Events, "acled-1", e)
			if err != nil {
				t.Fatal(err)
			}
			stored := m.(*eventsv1.Event)
			editor := standard.Call{Principal: principal.Principal{ID: "key:editor-1", Role: principal.RoleEditor}, RequestID: "r1"}
			for _, etag := range []string{"", "999", stored.GetEtag()} {
				upd := &eventsv1.Event{Name: stored.GetName(), Etag: etag, Title: "changed"}
				_, err := svc.Update(ctx, editor, store.Events, upd, []string{"title"})
				if apperr.CodeOf(err) != apperr.CodeOf(apperr.PermissionDenied("x")) || strings.Contains(err.Error(), stored.GetEtag()) {
					t.Errorf("Update with etag %q by an unentitled editor: %v; want PERMISSION_DENIED that does not name the etag", etag, err)
				}
				_, err = svc.Delete(ctx, editor, store.Events, stored.GetName(), etag)
				if apperr.CodeOf(err) != apperr.CodeOf(apperr.PermissionDenied("x")) || strings.Contains(err.Error(), stored.GetEtag()) {
					t.Errorf("Delete with etag %q by an unentitled editor: %v; want PERMISSION_DENIED that does not name the etag", etag, err)
				}
			}
			got, err := svc.Get(ctx, adminPrincipal, store.Events, stored.GetName(), nil, false)
			if err != nil {
				t.Fatal(err)
			}
			if got.(*eventsv1.Event).GetTitle() != e.GetTitle() || got.(*eventsv1.Event).GetEtag() != stored.GetEtag() {
				t.Errorf("the record changed: %v", got)
			}
		})
	}
}
