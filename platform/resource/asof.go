package resource

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
)

// Decode extracts the resource from a stored change payload with the service's Decoder.
func (s *Store) Decode(payload []byte) (proto.Message, error) { return s.cfg.Decode(payload) }

// ListAt returns the resources of c that existed (were not deleted) at t, as they were
// then, ordered by name, and the change-log version at t. It rebuilds them from the
// change log, so it stays exact whatever changed since; derived "as of" views stand on
// it. A time older than the compacted history is OUT_OF_RANGE.
func (s *Store) ListAt(ctx context.Context, c *Collection, t time.Time) ([]proto.Message, int64, error) {
	entries, version, err := changelog.LatestAt(ctx, s.db, c.Name, t)
	if errors.Is(err, changelog.ErrCompacted) {
		return nil, 0, compacted(t)
	}
	if err != nil {
		return nil, 0, err
	}
	out := make([]proto.Message, 0, len(entries))
	for _, e := range entries {
		m, err := s.cfg.Decode(e.Payload)
		if err != nil {
			return nil, 0, fmt.Errorf("resource: decode change %s: %w", e.ID, err)
		}
		if !Deleted(m) {
			out = append(out, m)
		}
	}
	return out, version, nil
}

// compacted is the answer to a read as of a time older than the history kept.
func compacted(t time.Time) error {
	return apperr.OutOfRange("%s is older than the history the change log keeps", t.UTC().Format(time.RFC3339Nano))
}
