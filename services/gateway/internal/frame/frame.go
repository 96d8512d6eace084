// Package frame carries gRPC messages through the gateway as bytes: the proxy forwards
// what it has no reason to read without decoding and re-encoding it, and the watch sends
// a change encoded once for all of its watchers.
package frame

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Frame is one gRPC message as bytes: the proxy reads a Frame from the client and
// writes the same bytes to the backend (and back), so the hot path never pays for
// protobuf decoding and re-encoding.
type Frame struct {
	data mem.BufferSlice
}

// Of is a message made of the concatenation of parts, which it does not copy: the
// caller must not modify them until the message is sent (in practice, never: shared
// parts are read-only). A protobuf message may be written as the concatenation of its
// fields' encodings, which is how the watch builds a response around a change.
func Of(parts ...[]byte) *Frame {
	f := &Frame{data: make(mem.BufferSlice, 0, len(parts))}
	for _, p := range parts {
		if len(p) > 0 {
			f.data = append(f.data, mem.SliceBuffer(p))
		}
	}
	return f
}

// Len is the message's size in bytes.
func (f *Frame) Len() int { return f.data.Len() }

// Codec is a gRPC codec that passes *Frame through as raw bytes and handles every
// other message as protobuf. It is installed on the gateway's server (so the
// proxied services need no registered types) and on the backend connections (so the
// dossier's typed clients share them with the proxy).
type Codec struct{}

var protoCodec = encoding.GetCodecV2(proto.Name)

var _ encoding.CodecV2 = Codec{}

// Marshal implements encoding.CodecV2.
func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if f, ok := v.(*Frame); ok {
		// gRPC frees what Marshal returns once it is written, which releases the
		// reference Unmarshal took; the frame gives its buffers away.
		out := f.data
		f.data = nil
		return out, nil
	}
	return protoCodec.Marshal(v)
}

// Unmarshal implements encoding.CodecV2.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if f, ok := v.(*Frame); ok {
		// gRPC frees data when Unmarshal returns; keep it until Marshal hands it on.
		data.Ref()
		f.data = data
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// Name implements encoding.CodecV2: it stands in for the proto codec.
func (Codec) Name() string { return proto.Name }
