package apitype

import (
	"errors"
	"fmt"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/guarantor/guarantor/platform/resource"
)

// Every service's Change message has the same fields (guarantor.events.v1.Change,
// guarantor.guarantees.v1.Change): sequence, id, resource_name, kind, changed_fields,
// principal, request_id, time, for some reason and evidence_event, and a oneof `resource`
// with one field per resource type. Codec works on them by name, so the mapping from the
// change log exists once.

func field(m protoreflect.Message, name string) protoreflect.FieldDescriptor {
	return m.Descriptor().Fields().ByName(protoreflect.Name(name))
}

func resourceOneof(m protoreflect.Message) (protoreflect.OneofDescriptor, error) {
	o := m.Descriptor().Oneofs().ByName("resource")
	if o == nil {
		return nil, fmt.Errorf("apitype: %s has no oneof resource", m.Descriptor().FullName())
	}
	return o, nil
}

// Codec is a service's change encoding, for its Change message type C (e.g.
// *eventsv1.Change): Encode and Decode are its resource.Encoder and resource.Decoder.
// The zero value is ready to use.
type Codec[C proto.Message] struct{}

func (Codec[C]) newChange() protoreflect.Message {
	var zero C
	return zero.ProtoReflect().New()
}

// Encode marshals a change as C.
func (c Codec[C]) Encode(change *resource.Change) ([]byte, error) {
	ch := c.newChange()
	set := func(name string, v protoreflect.Value) {
		if fd := field(ch, name); fd != nil {
			ch.Set(fd, v)
		}
	}
	set("sequence", protoreflect.ValueOfInt64(change.Seq))
	set("id", protoreflect.ValueOfString(change.ID))
	set("resource_name", protoreflect.ValueOfString(change.Name))
	set("kind", protoreflect.ValueOfEnum(protoreflect.EnumNumber(ChangeKind(change.Kind))))
	set("principal", protoreflect.ValueOfString(change.Principal))
	set("request_id", protoreflect.ValueOfString(change.RequestID))
	set("time", protoreflect.ValueOfMessage(timestamppb.New(change.Time).ProtoReflect()))
	set("reason", protoreflect.ValueOfString(change.Note.Reason))
	set("evidence_event", protoreflect.ValueOfString(change.Note.Evidence))
	if len(change.Changed) > 0 {
		set("changed_fields", protoreflect.ValueOfMessage((&fieldmaskpb.FieldMask{Paths: change.Changed}).ProtoReflect()))
	}
	oneof, err := resourceOneof(ch)
	if err != nil {
		return nil, err
	}
	r := change.Resource.ProtoReflect()
	fields := oneof.Fields()
	for i := 0; i < fields.Len(); i++ {
		if fd := fields.Get(i); fd.Message() != nil && fd.Message().FullName() == r.Descriptor().FullName() {
			ch.Set(fd, protoreflect.ValueOfMessage(r))
			return proto.Marshal(ch.Interface())
		}
	}
	return nil, fmt.Errorf("apitype: %s carries no %s", ch.Descriptor().FullName(), r.Descriptor().FullName())
}

// Decode extracts the resource from a stored C.
func (c Codec[C]) Decode(payload []byte) (proto.Message, error) {
	ch := c.newChange()
	if err := proto.Unmarshal(payload, ch.Interface()); err != nil {
		return nil, fmt.Errorf("apitype: decode change: %w", err)
	}
	oneof, err := resourceOneof(ch)
	if err != nil {
		return nil, err
	}
	fd := ch.WhichOneof(oneof)
	if fd == nil {
		return nil, errors.New("apitype: change carries no resource")
	}
	return ch.Get(fd).Message().Interface(), nil
}

// DecodeChange decodes a stored C.
func (c Codec[C]) DecodeChange(payload []byte) (C, error) {
	m := c.newChange().Interface()
	if err := proto.Unmarshal(payload, m); err != nil {
		var zero C
		return zero, fmt.Errorf("apitype: decode change: %w", err)
	}
	return m.(C), nil
}
