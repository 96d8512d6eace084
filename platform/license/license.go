// Package license applies the suite's licence rules to any resource that carries the
// shared fields `license`, `visibility` and `required_entitlement`
// (guarantor.type.v1): a record without a licence is stored as LICENSE_PUBLIC, the
// visibility is derived from the licence, and records under restrictive terms reach only
// principals holding the matching entitlement.
//
// The fields are read by reflection, like platform/resource's standard fields, so every
// service applies the same rules to its own resource types.
package license

import (
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/principal"
)

// EntitlementACLED unlocks records under ACLED's licence, whose terms forbid giving other
// users direct access to raw rows.
const EntitlementACLED = "acled"

// Rule derives who may read a record under l: its visibility and the entitlement a
// principal needs (empty when none).
func Rule(l typev1.License) (typev1.Visibility, string) {
	if l == typev1.License_LICENSE_ACLED {
		return typev1.Visibility_VISIBILITY_RESTRICTED, EntitlementACLED
	}
	return typev1.Visibility_VISIBILITY_PUBLIC, ""
}

// Normalize stores an unset licence as LICENSE_PUBLIC, as the API documents.
func Normalize(l typev1.License) typev1.License {
	if l == typev1.License_LICENSE_UNSPECIFIED {
		return typev1.License_LICENSE_PUBLIC
	}
	return l
}

func field(r protoreflect.Message, name string) protoreflect.FieldDescriptor {
	return r.Descriptor().Fields().ByName(protoreflect.Name(name))
}

// Of returns m's licence (LICENSE_UNSPECIFIED when m has no `license` field).
func Of(m proto.Message) typev1.License {
	if m == nil {
		return typev1.License_LICENSE_UNSPECIFIED
	}
	r := m.ProtoReflect()
	fd := field(r, "license")
	if fd == nil {
		return typev1.License_LICENSE_UNSPECIFIED
	}
	return typev1.License(r.Get(fd).Enum())
}

// Stamp normalises m's licence and sets the derived `visibility` and
// `required_entitlement`. Services call it in their write check, so the derived fields
// are stored and always agree with the licence.
func Stamp(m proto.Message) {
	r := m.ProtoReflect()
	l := Normalize(Of(m))
	vis, ent := Rule(l)
	if fd := field(r, "license"); fd != nil {
		r.Set(fd, protoreflect.ValueOfEnum(protoreflect.EnumNumber(l)))
	}
	if fd := field(r, "visibility"); fd != nil {
		r.Set(fd, protoreflect.ValueOfEnum(protoreflect.EnumNumber(vis)))
	}
	if fd := field(r, "required_entitlement"); fd != nil {
		r.Set(fd, protoreflect.ValueOfString(ent))
	}
}

// Visible reports whether p may read a record under licence l.
func Visible(p principal.Principal, l typev1.License) bool {
	_, ent := Rule(l)
	return ent == "" || p.Entitled(ent)
}

// Deny returns PERMISSION_DENIED when p may not read the record name under licence l.
func Deny(p principal.Principal, name string, l typev1.License) error {
	if Visible(p, l) {
		return nil
	}
	_, ent := Rule(l)
	return apperr.PermissionDenied("%s is licensed under %s terms: it needs the %q entitlement, which %s lacks",
		name, strings.TrimPrefix(l.String(), "LICENSE_"), ent, p.ID)
}

// Where is the List condition (table alias "t", an integer `license` column) that hides
// the records p may not read, with its arguments; empty when p may read everything.
func Where(p principal.Principal) (string, []any) {
	if p.Entitled(EntitlementACLED) {
		return "", nil
	}
	return "t.license <> ?", []any{int64(typev1.License_LICENSE_ACLED)}
}
