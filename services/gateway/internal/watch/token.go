package watch

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// A resume token is the position of a watch in every stream it merges. It is base64url
// of a version byte followed, for each stream with a position, in increasing id order:
//
//   - version 1: (stream id, sequence) uvarint pairs;
//   - version 2: (stream id, sequence, incarnation) triples;
//   - version 3: (stream id, sequence, incarnation, change) quadruples.
//
// The sequence is the JetStream sequence of the last message the client was sent (or
// skipped past). A stream's incarnation is its creation time (Unix nanoseconds) as
// JetStream reports it: a stream deleted and created again numbers its messages from 1
// again, and a position counted in the old one must not be read in the new one (see
// Service.start). The change is the highest change-log sequence the watch has passed in
// that stream: after a purge and a redrive the stream holds copies of changes the client
// already had at new sequences, and a resumed watch skips them by it (see scan).
//
// Each token holds the lowest version that carries what is known (a change: 3; an
// incarnation: 2), so a position has exactly one token; tokens of gateways before a
// version are still accepted. The format is private to the gateway; clients treat
// tokens as opaque.
const (
	tokenVersion            = 1
	tokenVersionIncarnation = 2
	tokenVersionChange      = 3
)

// maxTokenLen bounds a token before decoding (the proto allows 512 characters).
const maxTokenLen = 512

// ErrBadToken is returned for a token that is not one the gateway made.
var ErrBadToken = errors.New("resume_token is malformed: pass back a token a watch returned, unchanged")

// A position is where a watch stands in each stream it merges; index i is the stream
// with id i+1. inc and change may be nil (nothing known) or shorter than seq.
type position struct {
	// seq is the JetStream sequence of the last message passed (0: none, the start).
	seq []uint64
	// inc is each stream's incarnation (0: unknown).
	inc []int64
	// change is the highest change-log sequence passed in each stream (0: unknown).
	change []int64
}

func at(s []int64, i int) int64 {
	if i < len(s) {
		return s[i]
	}
	return 0
}

// version is the token version that carries p.
func (p position) version() byte {
	v := byte(tokenVersion)
	for i, seq := range p.seq {
		if seq == 0 {
			continue
		}
		if at(p.change, i) != 0 {
			return tokenVersionChange
		}
		if at(p.inc, i) != 0 {
			v = tokenVersionIncarnation
		}
	}
	return v
}

// EncodeToken encodes a position with no incarnation or change known; pos[i] belongs to
// the stream with id i+1.
func EncodeToken(pos []uint64) string {
	return string(appendToken(nil, position{seq: pos}))
}

// appendToken appends the token of p to dst: a watch appends one to every change it
// sends (tokenBytes), so this allocates nothing beyond dst's growth.
func appendToken(dst []byte, p position) []byte {
	// Two streams today: their raw form fits on the stack.
	raw := make([]byte, 0, 64)
	v := p.version()
	raw = append(raw, v)
	for i, seq := range p.seq {
		if seq == 0 {
			continue
		}
		raw = binary.AppendUvarint(raw, uint64(i+1))
		raw = binary.AppendUvarint(raw, seq)
		if v >= tokenVersionIncarnation {
			raw = binary.AppendUvarint(raw, uint64(at(p.inc, i)))
		}
		if v >= tokenVersionChange {
			raw = binary.AppendUvarint(raw, uint64(at(p.change, i)))
		}
	}
	return base64.RawURLEncoding.AppendEncode(dst, raw)
}

// tokenLen is the length of the token of p.
func tokenLen(p position) int {
	n := 1
	v := p.version()
	for i, seq := range p.seq {
		if seq == 0 {
			continue
		}
		n += protowire.SizeVarint(uint64(i+1)) + protowire.SizeVarint(seq)
		if v >= tokenVersionIncarnation {
			n += protowire.SizeVarint(uint64(at(p.inc, i)))
		}
		if v >= tokenVersionChange {
			n += protowire.SizeVarint(uint64(at(p.change, i)))
		}
	}
	return base64.RawURLEncoding.EncodedLen(n)
}

// DecodeToken decodes a token for n streams into its sequences, ignoring whatever else
// it carries. Streams absent from the token are at 0 (their beginning): a stream added
// after the token was made is read from its start.
func DecodeToken(tok string, n int) ([]uint64, error) {
	p, err := decodeToken(tok, n)
	return p.seq, err
}

// decodeToken decodes a token for n streams. The position's inc is nil for a version 1
// token and change nil below version 3; both are 0 for streams the token does not hold.
func decodeToken(tok string, n int) (position, error) {
	if len(tok) == 0 || len(tok) > maxTokenLen {
		return position{}, ErrBadToken
	}
	// The decoder skips CR and LF; refusing them keeps one token per position.
	if strings.ContainsAny(tok, "\r\n") {
		return position{}, ErrBadToken
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(tok)
	if err != nil || len(raw) == 0 || raw[0] < tokenVersion || raw[0] > tokenVersionChange {
		return position{}, ErrBadToken
	}
	v := raw[0]
	p := position{seq: make([]uint64, n)}
	if v >= tokenVersionIncarnation {
		p.inc = make([]int64, n)
	}
	if v >= tokenVersionChange {
		p.change = make([]int64, n)
	}
	rest := raw[1:]
	next := func() (uint64, bool) {
		x, k := binary.Uvarint(rest)
		if k <= 0 {
			return 0, false
		}
		rest = rest[k:]
		return x, true
	}
	var lastID uint64
	for len(rest) > 0 {
		id, ok := next()
		if !ok {
			return position{}, ErrBadToken
		}
		seq, ok := next()
		if !ok {
			return position{}, ErrBadToken
		}
		// Ids strictly increase, name a known stream, and carry a non-zero sequence:
		// exactly what appendToken writes, so every position has one token.
		if id <= lastID || id > uint64(n) || seq == 0 {
			return position{}, ErrBadToken
		}
		lastID = id
		p.seq[id-1] = seq
		if p.inc != nil {
			inc, ok := next()
			if !ok {
				return position{}, ErrBadToken
			}
			p.inc[id-1] = int64(inc)
		}
		if p.change != nil {
			change, ok := next()
			// A change sequence is positive: anything else is not one a watch passed.
			if !ok || int64(change) < 0 {
				return position{}, ErrBadToken
			}
			p.change[id-1] = int64(change)
		}
	}
	// Uvarint accepts padded (non-minimal) varints, and a version 2 or 3 token could
	// carry nothing its version adds; re-encoding rejects both, so a position still has
	// exactly one token.
	if string(appendToken(nil, p)) != tok {
		return position{}, ErrBadToken
	}
	return p, nil
}

// pass moves p past it; p.change must have a slot for every stream.
func (p position) pass(it item) {
	p.seq[it.stream] = it.seq
	p.change[it.stream] = it.passed
}
