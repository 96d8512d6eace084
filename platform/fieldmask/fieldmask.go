// Package fieldmask applies AIP-134 update masks to protobuf resources and reports which
// fields a change touched, generically over any message.
package fieldmask

import (
	"fmt"
	"sort"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Error is a mask path the resource does not accept.
type Error struct {
	Path string
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("%q: %s", e.Path, e.Msg) }

// Apply copies the fields named by paths from src to dst. "*" alone means every field not
// in outputOnly. A path may name a nested field ("location.place"); an output-only
// top-level field, an unknown field or a path through a repeated field is an *Error.
// Unset fields in src clear the field in dst, as AIP-134 specifies.
func Apply(dst, src proto.Message, paths []string, outputOnly map[string]bool) error {
	if len(paths) == 0 {
		return &Error{Path: "", Msg: "update_mask must name at least one field (or \"*\")"}
	}
	d, s := dst.ProtoReflect(), src.ProtoReflect()
	if d.Descriptor().FullName() != s.Descriptor().FullName() {
		return fmt.Errorf("fieldmask: %s and %s differ", d.Descriptor().FullName(), s.Descriptor().FullName())
	}
	if len(paths) == 1 && paths[0] == "*" {
		fields := d.Descriptor().Fields()
		for i := 0; i < fields.Len(); i++ {
			fd := fields.Get(i)
			if outputOnly[string(fd.Name())] {
				continue
			}
			copyField(d, s, fd)
		}
		return nil
	}
	for _, p := range paths {
		if p == "*" {
			return &Error{Path: p, Msg: `"*" must be the only path`}
		}
		if err := applyPath(d, s, p, outputOnly); err != nil {
			return err
		}
	}
	return nil
}

func applyPath(d, s protoreflect.Message, path string, outputOnly map[string]bool) error {
	parts := strings.Split(path, ".")
	if outputOnly[parts[0]] {
		return &Error{Path: path, Msg: "is output only and cannot be updated"}
	}
	for i, name := range parts {
		fd := d.Descriptor().Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return &Error{Path: path, Msg: fmt.Sprintf("%s has no field %q", d.Descriptor().Name(), name)}
		}
		if i == len(parts)-1 {
			copyField(d, s, fd)
			return nil
		}
		if fd.Message() == nil || fd.IsList() || fd.IsMap() {
			return &Error{Path: path, Msg: fmt.Sprintf("%q is not a singular message field", name)}
		}
		// Descend; creating the destination sub-message only when the source has one.
		if !s.Has(fd) {
			if d.Has(fd) {
				d = d.Mutable(fd).Message()
				s = s.Get(fd).Message() // an empty, read-only default message
				continue
			}
			// Nothing to clear in a missing destination; still validate the rest of the path.
			return validateRest(fd.Message(), parts[i+1:], path)
		}
		d = d.Mutable(fd).Message()
		s = s.Get(fd).Message()
	}
	return nil
}

func validateRest(md protoreflect.MessageDescriptor, rest []string, path string) error {
	for i, name := range rest {
		fd := md.Fields().ByName(protoreflect.Name(name))
		if fd == nil {
			return &Error{Path: path, Msg: fmt.Sprintf("%s has no field %q", md.Name(), name)}
		}
		if i < len(rest)-1 {
			if fd.Message() == nil || fd.IsList() || fd.IsMap() {
				return &Error{Path: path, Msg: fmt.Sprintf("%q is not a singular message field", name)}
			}
			md = fd.Message()
		}
	}
	return nil
}

func copyField(d, s protoreflect.Message, fd protoreflect.FieldDescriptor) {
	if !s.Has(fd) {
		d.Clear(fd)
		return
	}
	switch {
	case fd.IsList():
		dl := d.Mutable(fd).List()
		dl.Truncate(0)
		sl := s.Get(fd).List()
		for i := 0; i < sl.Len(); i++ {
			dl.Append(cloneValue(fd, sl.Get(i)))
		}
	case fd.IsMap():
		d.Clear(fd)
		dm := d.Mutable(fd).Map()
		s.Get(fd).Map().Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
			dm.Set(k, cloneValue(fd.MapValue(), v))
			return true
		})
	default:
		d.Set(fd, cloneValue(fd, s.Get(fd)))
	}
}

func cloneValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) protoreflect.Value {
	if fd.Message() != nil {
		return protoreflect.ValueOfMessage(proto.Clone(v.Message().Interface()).ProtoReflect())
	}
	if b, ok := v.Interface().([]byte); ok {
		return protoreflect.ValueOfBytes(append([]byte(nil), b...))
	}
	return v
}

// Changed lists the top-level fields whose values differ between before and after,
// sorted, ignoring the fields in ignore (bookkeeping like etag and update_time). A nil
// before means a creation: every set field is listed.
func Changed(before, after proto.Message, ignore map[string]bool) []string {
	a := after.ProtoReflect()
	var b protoreflect.Message
	if before != nil {
		b = before.ProtoReflect()
	}
	var out []string
	fields := a.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		name := string(fd.Name())
		if ignore[name] {
			continue
		}
		if b == nil {
			if a.Has(fd) {
				out = append(out, name)
			}
			continue
		}
		if a.Has(fd) != b.Has(fd) || (a.Has(fd) && !fieldEqual(fd, a.Get(fd), b.Get(fd))) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func fieldEqual(fd protoreflect.FieldDescriptor, x, y protoreflect.Value) bool {
	// Compare through single-field messages so lists, maps and nested messages all use
	// proto.Equal's semantics.
	return x.Equal(y)
}
