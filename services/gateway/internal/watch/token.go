package watch

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// A resume token is the position of a watch in every stream it merges: for each
// stream, the JetStream sequence of the last message the client was sent (or skipped
// past). It is base64url of a version byte followed by (stream id, sequence) uvarint
// pairs in increasing id order, streams at zero omitted. The format is private to the
// gateway; clients treat tokens as opaque.
const tokenVersion = 1

// maxTokenLen bounds a token before decoding (the proto allows 512 characters).
const maxTokenLen = 512

// ErrBadToken is returned for a token that is not one the gateway made.
var ErrBadToken = errors.New("resume_token is malformed: pass back a token a watch returned, unchanged")

// EncodeToken encodes a position; pos[i] belongs to the stream with id i+1.
func EncodeToken(pos []uint64) string {
	return string(appendToken(nil, pos))
}

// appendToken appends the token of pos to dst: a watch appends one to every change it
// sends (tokenBytes), so this allocates nothing beyond dst's growth.
func appendToken(dst []byte, pos []uint64) []byte {
	// Two streams today: their raw form fits on the stack.
	raw := make([]byte, 0, 64)
	raw = append(raw, tokenVersion)
	for i, seq := range pos {
		if seq == 0 {
			continue
		}
		raw = binary.AppendUvarint(raw, uint64(i+1))
		raw = binary.AppendUvarint(raw, seq)
	}
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// tokenLen is the length of the token of pos.
func tokenLen(pos []uint64) int {
	n := 1
	for i, seq := range pos {
		if seq != 0 {
			n += protowire.SizeVarint(uint64(i+1)) + protowire.SizeVarint(seq)
		}
	}
	return base64.RawURLEncoding.EncodedLen(n)
}

// DecodeToken decodes a token for n streams. Streams absent from the token are at 0
// (their beginning): a stream added after the token was made is read from its start.
func DecodeToken(tok string, n int) ([]uint64, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return nil, ErrBadToken
	}
	// The decoder skips CR and LF; refusing them keeps one token per position.
	if strings.ContainsAny(tok, "\r\n") {
		return nil, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) == 0 || raw[0] != tokenVersion {
		return nil, ErrBadToken
	}
	pos := make([]uint64, n)
	rest := raw[1:]
	var lastID uint64
	for len(rest) > 0 {
		id, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, ErrBadToken
		}
		rest = rest[k:]
		seq, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, ErrBadToken
		}
		rest = rest[k:]
		// Ids strictly increase, name a known stream, and carry a non-zero sequence:
		// exactly what EncodeToken writes, so every position has one token.
		if id <= lastID || id > uint64(n) || seq == 0 {
			return nil, ErrBadToken
		}
		lastID = id
		pos[id-1] = seq
	}
	// Uvarint accepts padded (non-minimal) varints; re-encoding rejects them so a
	// position still has exactly one token.
	if EncodeToken(pos) != tok {
		return nil, ErrBadToken
	}
	return pos, nil
}
