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
// pairs in increasing id order, streams at zero omitted (version 1), or by (stream id,
// sequence, incarnation) triples (version 2). A stream's incarnation is its creation time
// (Unix nanoseconds) as JetStream reports it: a stream deleted and created again
// numbers its messages from 1 again, and a position counted in the old one must not be
// read in the new one (see Service.start). Version 2 is written whenever an incarnation
// is known; version 1 tokens, from gateways before it, are still accepted. The format is
// private to the gateway; clients treat tokens as opaque.
const (
	tokenVersion            = 1
	tokenVersionIncarnation = 2
)

// maxTokenLen bounds a token before decoding (the proto allows 512 characters).
const maxTokenLen = 512

// ErrBadToken is returned for a token that is not one the gateway made.
var ErrBadToken = errors.New("resume_token is malformed: pass back a token a watch returned, unchanged")

// EncodeToken encodes a position with no incarnation known; pos[i] belongs to the
// stream with id i+1.
func EncodeToken(pos []uint64) string {
	return string(appendToken(nil, pos, nil))
}

// withIncarnation reports whether a token of pos and inc carries incarnations (version
// 2): some stream it holds has a known one.
func withIncarnation(pos []uint64, inc []int64) bool {
	for i, seq := range pos {
		if seq != 0 && i < len(inc) && inc[i] != 0 {
			return true
		}
	}
	return false
}

// appendToken appends the token of pos in the incarnations inc (nil: none known) to dst:
// a watch appends one to every change it sends (tokenBytes), so this allocates nothing
// beyond dst's growth.
func appendToken(dst []byte, pos []uint64, inc []int64) []byte {
	// Two streams today: their raw form fits on the stack.
	raw := make([]byte, 0, 64)
	v2 := withIncarnation(pos, inc)
	if v2 {
		raw = append(raw, tokenVersionIncarnation)
	} else {
		raw = append(raw, tokenVersion)
	}
	for i, seq := range pos {
		if seq == 0 {
			continue
		}
		raw = binary.AppendUvarint(raw, uint64(i+1))
		raw = binary.AppendUvarint(raw, seq)
		if v2 {
			raw = binary.AppendUvarint(raw, uint64(inc[i]))
		}
	}
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// tokenLen is the length of the token of pos and inc.
func tokenLen(pos []uint64, inc []int64) int {
	n := 1
	v2 := withIncarnation(pos, inc)
	for i, seq := range pos {
		if seq != 0 {
			n += protowire.SizeVarint(uint64(i+1)) + protowire.SizeVarint(seq)
			if v2 {
				n += protowire.SizeVarint(uint64(inc[i]))
			}
		}
	}
	return base64.RawURLEncoding.EncodedLen(n)
}

// DecodeToken decodes a token for n streams, ignoring the incarnations it may carry.
// Streams absent from the token are at 0 (their beginning): a stream added after the
// token was made is read from its start.
func DecodeToken(tok string, n int) ([]uint64, error) {
	pos, _, err := decodeToken(tok, n)
	return pos, err
}

// decodeToken decodes a token for n streams into its position and the incarnations of
// the streams it holds (nil for a version 1 token; 0 where unknown).
func decodeToken(tok string, n int) ([]uint64, []int64, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return nil, nil, ErrBadToken
	}
	// The decoder skips CR and LF; refusing them keeps one token per position.
	if strings.ContainsAny(tok, "\r\n") {
		return nil, nil, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) == 0 || (raw[0] != tokenVersion && raw[0] != tokenVersionIncarnation) {
		return nil, nil, ErrBadToken
	}
	pos := make([]uint64, n)
	var inc []int64
	if raw[0] == tokenVersionIncarnation {
		inc = make([]int64, n)
	}
	rest := raw[1:]
	var lastID uint64
	for len(rest) > 0 {
		id, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, nil, ErrBadToken
		}
		rest = rest[k:]
		seq, k := binary.Uvarint(rest)
		if k <= 0 {
			return nil, nil, ErrBadToken
		}
		rest = rest[k:]
		// Ids strictly increase, name a known stream, and carry a non-zero sequence:
		// exactly what EncodeToken writes, so every position has one token.
		if id <= lastID || id > uint64(n) || seq == 0 {
			return nil, nil, ErrBadToken
		}
		lastID = id
		pos[id-1] = seq
		if inc != nil {
			v, k := binary.Uvarint(rest)
			if k <= 0 {
				return nil, nil, ErrBadToken
			}
			rest = rest[k:]
			inc[id-1] = int64(v)
		}
	}
	// Uvarint accepts padded (non-minimal) varints, and a version 2 token could carry no
	// incarnation at all; re-encoding rejects both, so a position still has exactly one
	// token.
	if string(appendToken(nil, pos, inc)) != tok {
		return nil, nil, ErrBadToken
	}
	return pos, inc, nil
}
