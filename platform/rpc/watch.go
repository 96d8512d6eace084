package rpc

import (
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	typev1 "github.com/guarantor/guarantor/gen/go/guarantor/type/v1"
	"github.com/guarantor/guarantor/platform/apitype"
	"github.com/guarantor/guarantor/platform/changelog"
	"github.com/guarantor/guarantor/platform/principal"
	"github.com/guarantor/guarantor/platform/service"
	"github.com/guarantor/guarantor/platform/watch"
)

// Watcher streams one service's changes: its change codec, who may see a change (licence
// visibility), and how a generated WatchResponse W is built.
type Watcher[C proto.Message, W any] struct {
	Options watch.Options
	Codec   apitype.Codec[C]
	Visible func(principal.Principal, C) bool
	// Response builds the message for one change; a bookmark has a nil change.
	Response func(t typev1.WatchEventType, change C, version int64) *W
}

// Serve replays the change log after req's version to the caller, then live changes,
// with bookmarks while idle. Changes the caller may not see are skipped, not ended on.
func (w Watcher[C, W]) Serve(req watch.Request, stream grpc.ServerStreamingServer[W]) error {
	ctx := stream.Context()
	p, err := service.Caller(ctx)
	if err != nil {
		return err
	}
	return watch.Serve(ctx, w.Options, req,
		func(e changelog.Entry) error {
			ch, err := w.Codec.DecodeChange(e.Payload)
			if err != nil {
				return err
			}
			if !w.Visible(p, ch) {
				return nil
			}
			return stream.Send(w.Response(apitype.WatchType(e.Kind), ch, e.Seq))
		}, func(seq int64) error {
			var none C
			return stream.Send(w.Response(typev1.WatchEventType_WATCH_EVENT_TYPE_BOOKMARK, none, seq))
		})
}
