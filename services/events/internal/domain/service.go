package domain

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	eventsv1 "github.com/guarantor/guarantor/gen/go/guarantor/events/v1"
	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/resource"
	"github.com/guarantor/guarantor/services/events/internal/store"
)

// Service is the events service's logic over the shared resource store.
type Service struct {
	store *resource.Store
}

// NewService returns the service over a store opened with StoreConfig.
func NewService(s *resource.Store) *Service { return &Service{store: s} }

// Store returns the underlying resource store.
func (s *Service) Store() *resource.Store { return s.store }

// Call identifies who is calling and how, for one write.
type Call struct {
	Principal principal.Principal
	RequestID string
	Method    string
	Trace     string
}

func (c Call) meta() resource.Meta {
	return resource.Meta{Principal: c.Principal.ID, RequestID: c.RequestID, Method: c.Method, TraceParent: c.Trace}
}

func requireWriter(p principal.Principal) error {
	if !p.CanWrite() {
		return apperr.PermissionDenied("%s has role %q, which cannot change data (needs editor or admin)", p.ID, p.Role)
	}
	return nil
}

// Encode builds the service's Change message for the change log and NATS.
func Encode(c *resource.Change) ([]byte, error) {
	ch := &eventsv1.Change{
		Sequence:     c.Seq,
		Id:           c.ID,
		ResourceName: c.Name,
		Kind:         ChangeKind(c.Kind),
		Principal:    c.Principal,
		RequestId:    c.RequestID,
		Time:         timestamppb.New(c.Time),
	}
	if len(c.Changed) > 0 {
		ch.ChangedFields = &fieldmaskpb.FieldMask{Paths: c.Changed}
	}
	switch r := c.Resource.(type) {
	case *eventsv1.Event:
		ch.Resource = &eventsv1.Change_Event{Event: r}
	case *eventsv1.Actor:
		ch.Resource = &eventsv1.Change_Actor{Actor: r}
	default:
		return nil, fmt.Errorf("domain: no change encoding for %T", c.Resource)
	}
	return proto.Marshal(ch)
}

// Decode extracts the resource from a stored change.
func Decode(payload []byte) (proto.Message, error) {
	ch, err := DecodeChange(payload)
	if err != nil {
		return nil, err
	}
	switch r := ch.GetResource().(type) {
	case *eventsv1.Change_Event:
		return r.Event, nil
	case *eventsv1.Change_Actor:
		return r.Actor, nil
	}
	return nil, errors.New("domain: change carries no resource")
}

// DecodeChange decodes a stored change.
func DecodeChange(payload []byte) (*eventsv1.Change, error) {
	ch := &eventsv1.Change{}
	if err := proto.Unmarshal(payload, ch); err != nil {
		return nil, fmt.Errorf("domain: decode change: %w", err)
	}
	return ch, nil
}

// ChangeKind maps a stored kind to the API enum.
func ChangeKind(kind string) typev1.ChangeKind {
	switch kind {
	case resource.KindCreated:
		return typev1.ChangeKind_CHANGE_KIND_CREATED
	case resource.KindUpdated:
		return typev1.ChangeKind_CHANGE_KIND_UPDATED
	case resource.KindDeleted:
		return typev1.ChangeKind_CHANGE_KIND_DELETED
	}
	return typev1.ChangeKind_CHANGE_KIND_UNSPECIFIED
}

// Visible reports whether p may read a record under licence l.
func Visible(p principal.Principal, l typev1.License) bool {
	_, ent := visibilityOf(l)
	return ent == "" || p.Entitled(ent)
}

func denyRestricted(p principal.Principal, name string, l typev1.License) error {
	if Visible(p, l) {
		return nil
	}
	_, ent := visibilityOf(l)
	return apperr.PermissionDenied("%s is licensed under %s terms: it needs the %q entitlement, which %s lacks", name, strings.TrimPrefix(l.String(), "LICENSE_"), ent, p.ID)
}

// visibleWhere is the list condition hiding records the caller may not read.
func visibleWhere(p principal.Principal) (string, []any) {
	if p.Entitled(EntitlementACLED) {
		return "", nil
	}
	return "t.license <> ?", []any{int64(typev1.License_LICENSE_ACLED)}
}

// actorExists is used for reference checks: an event's participants, speakers and an
// actor's parent must name live actors.
func (s *Service) actorsExist(ctx context.Context, field string, names []string) error {
	var v violations
	seen := map[string]bool{}
	for i, n := range names {
		if n == "" || seen[n] {
			continue
		}
		seen[n] = true
		if _, err := s.store.Get(ctx, store.Actors, n, false); err != nil {
			if apperr.Is(err, apperr.CodeNotFound) {
				v.add(fmt.Sprintf("%s[%d]", field, i), "names %s, which does not exist: create the actor first", n)
				continue
			}
			return err
		}
	}
	if len(v.list) > 0 {
		msgs := make([]string, len(v.list))
		for i, fv := range v.list {
			msgs[i] = fv.Field + " " + fv.Description
		}
		return apperr.FailedPrecondition("unknown actor: %s", strings.Join(msgs, "; "))
	}
	return nil
}

func eventActorRefs(e *eventsv1.Event) []string {
	var refs []string
	for _, p := range e.GetParticipants() {
		refs = append(refs, p.GetActor())
	}
	for _, q := range e.GetQuotes() {
		refs = append(refs, q.GetSpeaker())
	}
	return refs
}

// checkEvent is the write hook for events: validate, derive, check references.
func (s *Service) checkEvent(ctx context.Context, prefix string) resource.Check {
	return func(_, m proto.Message) error {
		e := m.(*eventsv1.Event)
		if err := ValidateEvent(e, prefix); err != nil {
			return err
		}
		e.License = normalizeLicense(e.GetLicense())
		e.Visibility, e.RequiredEntitlement = visibilityOf(e.GetLicense())
		return s.actorsExist(ctx, "participants", eventActorRefs(e))
	}
}

func (s *Service) checkActor(ctx context.Context, prefix string) resource.Check {
	return func(_, m proto.Message) error {
		a := m.(*eventsv1.Actor)
		if err := ValidateActor(a, prefix); err != nil {
			return err
		}
		if a.GetParent() != "" && a.GetParent() == a.GetName() {
			return apperr.Invalid(prefix+"parent", "an actor cannot be its own parent")
		}
		a.License = normalizeLicense(a.GetLicense())
		a.Visibility, a.RequiredEntitlement = visibilityOf(a.GetLicense())
		return s.actorsExist(ctx, "parent", []string{a.GetParent()})
	}
}

// collectionOf returns the collection a resource name belongs to.
func collectionOf(name string) (*resource.Collection, error) {
	switch {
	case strings.HasPrefix(name, "events/"):
		return store.Events, nil
	case strings.HasPrefix(name, "actors/"):
		return store.Actors, nil
	}
	return nil, apperr.Invalid("name", fmt.Sprintf("%q is neither events/{event} nor actors/{actor}", name))
}

func licenseOf(m proto.Message) typev1.License {
	switch r := m.(type) {
	case *eventsv1.Event:
		return r.GetLicense()
	case *eventsv1.Actor:
		return r.GetLicense()
	}
	return typev1.License_LICENSE_UNSPECIFIED
}

// Get returns a resource (now, or at readTime when set) the caller may read.
func (s *Service) Get(ctx context.Context, p principal.Principal, name string, readTime *timestamppb.Timestamp, showDeleted bool) (proto.Message, error) {
	c, err := collectionOf(name)
	if err != nil {
		return nil, err
	}
	var m proto.Message
	if readTime != nil {
		m, err = s.store.GetAt(ctx, c, name, readTime.AsTime(), showDeleted)
	} else {
		m, err = s.store.Get(ctx, c, name, showDeleted)
	}
	if err != nil {
		return nil, err
	}
	if err := denyRestricted(p, name, licenseOf(m)); err != nil {
		return nil, err
	}
	return m, nil
}

// ListQuery is a List call.
type ListQuery struct {
	Filter       string
	OrderBy      string
	PageSize     int32
	PageToken    string
	ShowDeleted  bool
	IncludeTotal bool
}

// List lists events or actors the caller may read.
func (s *Service) List(ctx context.Context, p principal.Principal, c *resource.Collection, q ListQuery) (resource.ListResult, error) {
	where, args := visibleWhere(p)
	return s.store.List(ctx, c, resource.ListRequest{
		Filter: q.Filter, OrderBy: q.OrderBy, PageSize: q.PageSize, PageToken: q.PageToken,
		ShowDeleted: q.ShowDeleted, IncludeTotal: q.IncludeTotal, Where: where, WhereArgs: args,
	})
}

// Create creates an event or an actor.
func (s *Service) Create(ctx context.Context, call Call, c *resource.Collection, id string, m proto.Message) (proto.Message, error) {
	if err := requireWriter(call.Principal); err != nil {
		return nil, err
	}
	if id == "" {
		return nil, apperr.Invalid(idField(c), "is required")
	}
	return s.store.Create(ctx, c, call.meta(), id, m, s.check(ctx, c, singular(c)+"."))
}

// Update updates the fields named by mask.
func (s *Service) Update(ctx context.Context, call Call, c *resource.Collection, m proto.Message, mask *fieldmaskpb.FieldMask) (proto.Message, error) {
	if err := requireWriter(call.Principal); err != nil {
		return nil, err
	}
	name := resource.Name(m)
	if !strings.HasPrefix(name, c.Name+"/") {
		return nil, apperr.Invalid(singular(c)+".name", fmt.Sprintf("must be %s/{id}, not %q", c.Name, name))
	}
	if cur, err := s.store.Get(ctx, c, name, false); err != nil {
		return nil, err
	} else if err := denyRestricted(call.Principal, name, licenseOf(cur)); err != nil {
		return nil, err
	}
	return s.store.Update(ctx, c, call.meta(), m, mask.GetPaths(), s.check(ctx, c, singular(c)+"."))
}

// Delete deletes a resource, leaving a tombstone.
func (s *Service) Delete(ctx context.Context, call Call, c *resource.Collection, name, etag string) (proto.Message, error) {
	if err := requireWriter(call.Principal); err != nil {
		return nil, err
	}
	return s.store.Delete(ctx, c, call.meta(), name, etag, func(cur proto.Message) error {
		return denyRestricted(call.Principal, name, licenseOf(cur))
	})
}

// BatchCreate creates many resources in one transaction.
func (s *Service) BatchCreate(ctx context.Context, call Call, c *resource.Collection, items []resource.Item, policy typev1.ExistingPolicy) ([]proto.Message, []resource.Outcome, error) {
	if err := requireWriter(call.Principal); err != nil {
		return nil, nil, err
	}
	for i, it := range items {
		if it.ID == "" {
			return nil, nil, apperr.Invalid(fmt.Sprintf("requests[%d].%s", i, idField(c)), "is required")
		}
	}
	pol := resource.PolicyFail
	switch policy {
	case typev1.ExistingPolicy_EXISTING_POLICY_SKIP:
		pol = resource.PolicySkip
	case typev1.ExistingPolicy_EXISTING_POLICY_REPLACE:
		pol = resource.PolicyReplace
	}
	return s.store.BatchCreate(ctx, c, call.meta(), items, pol, s.check(ctx, c, singular(c)+"."))
}

// History returns the changes of one resource the caller may read, oldest first.
func (s *Service) History(ctx context.Context, p principal.Principal, name string, after int64, limit int) ([]*eventsv1.Change, int64, error) {
	if _, err := collectionOf(name); err != nil {
		return nil, 0, err
	}
	payloads, last, err := s.store.History(ctx, name, after, limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*eventsv1.Change, 0, len(payloads))
	for _, b := range payloads {
		ch, err := DecodeChange(b)
		if err != nil {
			return nil, 0, err
		}
		if !Visible(p, changeLicense(ch)) {
			return nil, 0, denyRestricted(p, name, changeLicense(ch))
		}
		out = append(out, ch)
	}
	if after == 0 && len(out) == 0 {
		return nil, 0, apperr.NotFound("%s has no history: it never existed", name)
	}
	return out, last, nil
}

func changeLicense(ch *eventsv1.Change) typev1.License {
	if e := ch.GetEvent(); e != nil {
		return e.GetLicense()
	}
	return ch.GetActor().GetLicense()
}

// ChangeVisible reports whether p may see a change (for Watch).
func ChangeVisible(p principal.Principal, ch *eventsv1.Change) bool {
	return Visible(p, changeLicense(ch))
}

func (s *Service) check(ctx context.Context, c *resource.Collection, prefix string) resource.Check {
	if c == store.Actors {
		return s.checkActor(ctx, prefix)
	}
	return s.checkEvent(ctx, prefix)
}

func singular(c *resource.Collection) string { return strings.TrimSuffix(c.Name, "s") }

func idField(c *resource.Collection) string { return singular(c) + "_id" }
