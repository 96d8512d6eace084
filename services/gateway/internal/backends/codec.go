package backends

import (
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Frame is one gRPC message carried through the gateway without being decoded: the
// proxy reads a Frame from the client and writes the same bytes to the backend (and
// back), so the hot path never pays for protobuf decoding and re-encoding.
type Frame struct {
	data mem.BufferSlice
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
