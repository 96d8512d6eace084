package watch

import (
	"context"
	"errors"
	"strconv"

	"github.com/guarantor/guarantor/platform/apperr"
	"github.com/guarantor/guarantor/platform/changelog"
)

// Request is what every service's Watch RPC asks for.
type Request struct {
	// ResourceVersion is the version to resume after; 0 means "from now", as the API
	// documents (a client that listed first passes the list's resource_version).
	ResourceVersion int64
	// Collections limits the stream to these collections; empty means all.
	Collections []string
	// Name limits the stream to one resource; empty means all.
	Name string
}

// Serve runs Stream for a Watch RPC: it sets opts.From and opts.Match from req and turns a
// version older than the retained history into OUT_OF_RANGE, telling the client to list
// again and watch from the list's version.
func Serve(ctx context.Context, opts Options, req Request, send func(changelog.Entry) error, bookmark func(seq int64) error) error {
	collections := make(map[string]bool, len(req.Collections))
	for _, c := range req.Collections {
		collections[c] = true
	}
	opts.Match = func(e changelog.Entry) bool {
		if len(collections) > 0 && !collections[e.Collection] {
			return false
		}
		return req.Name == "" || e.ResourceName == req.Name
	}
	opts.From = req.ResourceVersion
	if opts.From == 0 {
		opts.From = FromNow
	}
	err := Stream(ctx, opts, send, bookmark)
	if errors.Is(err, ErrCompacted) {
		return apperr.OutOfRange("resource_version %s is older than the change log keeps: list again and watch from the list's resource_version",
			strconv.FormatInt(req.ResourceVersion, 10))
	}
	if errors.Is(err, ErrAhead) {
		return apperr.OutOfRange("resource_version %s is ahead of the change log, which holds fewer changes (restored from an older backup?): list again and watch from the list's resource_version",
			strconv.FormatInt(req.ResourceVersion, 10))
	}
	return err
}
