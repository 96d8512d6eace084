package importers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"

	"github.com/guarantor/guarantor/cmd/guarantor/internal/jsonl"
)

// Result is what became of one item of a batch: its outcome, or why it was refused.
type Result struct {
	Outcome typev1.BatchOutcome
	Reason  string
}

// SendFunc sends one batch call and returns the outcome of each item, in order.
type SendFunc[T any] func(ctx context.Context, items []T) ([]typev1.BatchOutcome, error)

// WriteBatch writes items through send, at most maxBatchItems per call. Batch calls are
// all or nothing, so when the server refuses a batch because of some items it is sent
// again without them: the items it names (field violations "requests[i]...", or a
// message starting "requests[i]") are refused with its reason; when it names none (the
// events service's "unknown actor" precondition does not say which item), the batch is
// split in halves until the culprit is alone. Errors that are not about items (the server
// is down, the caller may not write) end the import.
func WriteBatch[T any](ctx context.Context, items []T, send SendFunc[T]) ([]Result, error) {
	out := make([]Result, len(items))
	var write func(idx []int) error
	write = func(idx []int) error {
		for len(idx) > 0 {
			batch := make([]T, len(idx))
			for k, i := range idx {
				batch[k] = items[i]
			}
			outcomes, err := sendRetrying(ctx, batch, send)
			if err == nil {
				if len(outcomes) != len(idx) {
					return fmt.Errorf("the server answered %d outcomes for %d items", len(outcomes), len(idx))
				}
				for k, i := range idx {
					out[i].Outcome = outcomes[k]
				}
				return nil
			}
			if !aboutItems(err) {
				return err
			}
			if blamed := blame(err, len(idx)); len(blamed) > 0 {
				var rest []int
				for k, i := range idx {
					if reason, bad := blamed[k]; bad {
						out[i].Reason = reason
						continue
					}
					rest = append(rest, i)
				}
				idx = rest
				continue
			}
			if len(idx) == 1 {
				out[idx[0]].Reason = describe(err)
				return nil
			}
			half := len(idx) / 2
			if err := write(idx[:half]); err != nil {
				return err
			}
			idx = idx[half:]
		}
		return nil
	}
	for start := 0; start < len(items); start += maxBatchItems {
		idx := make([]int, 0, maxBatchItems)
		for i := start; i < min(start+maxBatchItems, len(items)); i++ {
			idx = append(idx, i)
		}
		if err := write(idx); err != nil {
			return out, err
		}
	}
	return out, nil
}

// sendRetrying sends a batch, and sends it again a few times while the server says a
// reference is not known yet but may be soon: the guarantees service checks actors
// against its projection of the events stream, which lags the events service by a moment.
func sendRetrying[T any](ctx context.Context, batch []T, send SendFunc[T]) ([]typev1.BatchOutcome, error) {
	wait := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		outcomes, err := send(ctx, batch)
		st, _ := status.FromError(err)
		if err == nil || attempt == 8 || st.Code() != codes.FailedPrecondition || !strings.Contains(st.Message(), "retry") {
			return outcomes, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}

// itemsError is a refused batch call with the items to blame already worked out by the
// sender (the events of a batch whose actors the server refused).
type itemsError struct {
	err    error
	blamed map[int]string
}

func (e *itemsError) Error() string { return e.err.Error() }
func (e *itemsError) Unwrap() error { return e.err }

// aboutItems reports whether err may be caused by some items of a batch.
func aboutItems(err error) bool {
	var ie *itemsError
	if errors.As(err, &ie) {
		return true
	}
	return jsonl.AboutItems(err)
}

// blame maps the items an error names to the reason.
func blame(err error, n int) map[int]string {
	var ie *itemsError
	if errors.As(err, &ie) {
		return ie.blamed
	}
	return jsonl.BlameItems(err, "requests", n)
}

// describe is an error's message with its field violations, for a report.
func describe(err error) string {
	st, ok := status.FromError(err)
	if !ok {
		return err.Error()
	}
	msg := st.Message()
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				msg += "; " + v.GetField() + ": " + v.GetDescription()
			}
		}
	}
	return msg
}

func isStatus(err error) bool {
	_, ok := status.FromError(err)
	return ok
}
