package resource

import "google.golang.org/protobuf/proto"

// Typed converts resources read from a collection to their message type, e.g. a List's
// items to []*eventsv1.Event for the response.
func Typed[T proto.Message](ms []proto.Message) []T {
	out := make([]T, len(ms))
	for i, m := range ms {
		out[i] = m.(T)
	}
	return out
}
