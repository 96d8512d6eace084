package resource

import (
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The standard fields are read and written by reflection so the engine works for every
// resource type without generated accessors.

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(protoreflect.Name(name))
}

// Name returns a resource's name.
func Name(m proto.Message) string {
	r := m.ProtoReflect()
	return r.Get(field(r, "name")).String()
}

// Etag returns a resource's etag.
func Etag(m proto.Message) string {
	r := m.ProtoReflect()
	return r.Get(field(r, "etag")).String()
}

// Revision returns a resource's revision (the sequence of its last change).
func Revision(m proto.Message) int64 {
	r := m.ProtoReflect()
	return r.Get(field(r, "revision")).Int()
}

// Deleted reports whether a resource is a tombstone.
func Deleted(m proto.Message) bool {
	r := m.ProtoReflect()
	return r.Has(field(r, "delete_time"))
}

func setString(m proto.Message, name, v string) {
	r := m.ProtoReflect()
	r.Set(field(r, name), protoreflect.ValueOfString(v))
}

func setTime(m proto.Message, name string, t time.Time) {
	r := m.ProtoReflect()
	fd := field(r, name)
	if t.IsZero() {
		r.Clear(fd)
		return
	}
	r.Set(fd, protoreflect.ValueOfMessage(timestamppb.New(t).ProtoReflect()))
}

func getTime(m proto.Message, name string) time.Time {
	r := m.ProtoReflect()
	fd := field(r, name)
	if !r.Has(fd) {
		return time.Time{}
	}
	ts, ok := r.Get(fd).Message().Interface().(*timestamppb.Timestamp)
	if !ok {
		return time.Time{}
	}
	return ts.AsTime()
}

// stamp sets the bookkeeping fields of a resource about to be written by change seq.
func stamp(m proto.Message, seq int64, t time.Time) {
	r := m.ProtoReflect()
	r.Set(field(r, "revision"), protoreflect.ValueOfInt64(seq))
	setString(m, "etag", etagFor(seq))
	setTime(m, "update_time", t)
}

// etagFor derives the etag from the revision: it changes on every change of the resource
// and costs nothing to compute. Quoted like an HTTP strong etag.
func etagFor(seq int64) string { return `"` + strconv.FormatInt(seq, 36) + `"` }

// clearOutputOnly resets the fields clients may not set, so a create or a replace never
// takes them from the request.
func clearOutputOnly(m proto.Message, outputOnly map[string]bool) {
	r := m.ProtoReflect()
	for name := range outputOnly {
		if fd := field(r, name); fd != nil {
			r.Clear(fd)
		}
	}
}

// contentEqual compares two resources ignoring output-only fields: what a client wrote.
func contentEqual(a, b proto.Message, outputOnly map[string]bool) bool {
	ca, cb := proto.Clone(a), proto.Clone(b)
	clearOutputOnly(ca, outputOnly)
	clearOutputOnly(cb, outputOnly)
	return proto.Equal(ca, cb)
}

// ID returns the last segment of a resource name.
func ID(name string) string {
	_, id, _ := strings.Cut(name, "/")
	return id
}
