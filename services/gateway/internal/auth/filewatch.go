package auth

import (
	"context"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchFile calls changed whenever the file at path may have changed, until ctx ends,
// and once as soon as it watches (the caller read the file before).
//
// It watches the file's directory rather than the file: editors replace files by
// renaming, and a Kubernetes Secret volume swaps a `..data` symlink to a new directory,
// so the file's own inode never sees a write. Any event in the directory triggers a
// check, and the callers compare content, so spurious calls cost a read. A poll every
// interval backs fsnotify up (network filesystems, inotify limits).
func watchFile(ctx context.Context, path string, poll time.Duration, log *zap.Logger, changed func()) {
	if poll <= 0 {
		poll = 30 * time.Second
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	w, err := fsnotify.NewWatcher()
	if err == nil {
		if err = w.Add(filepath.Dir(path)); err == nil {
			events, errs = w.Events, w.Errors
		}
		defer func() { _ = w.Close() }()
	}
	if err != nil {
		log.Warn("file watch unavailable; polling only", zap.String("path", path), zap.Duration("interval", poll), zap.Error(err))
	}
	// The file was read before this watch existed: a change made in between sent no
	// event to anyone, so check once now that events will be seen.
	changed()
	tick := time.NewTicker(poll)
	defer tick.Stop()
	// Events come in bursts (a symlink swap is several); wait for the burst to end.
	const settle = 100 * time.Millisecond
	var debounce <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-events:
			debounce = time.After(settle)
		case err := <-errs:
			log.Warn("file watch error", zap.String("path", path), zap.Error(err))
		case <-debounce:
			debounce = nil
			changed()
		case <-tick.C:
			changed()
		}
	}
}
