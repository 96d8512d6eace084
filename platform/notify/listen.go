package notify

import (
	"context"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
)

// ListenPostgres holds a connection that LISTENs on channel and forwards every NOTIFY (from
// this replica or any other) to n. It reconnects with jittered exponential backoff until ctx
// ends, and returns nil then.
//
// NOTIFYs sent while the connection is down are lost, so after every (re)connection it calls
// n.Notify(0): readers re-check the database and catch up on whatever they missed.
func ListenPostgres(ctx context.Context, dsn, channel string, n *Notifier, log *zap.Logger) error {
	if log == nil {
		log = zap.NewNop()
	}
	log = log.With(zap.String("channel", channel))
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 100 * time.Millisecond
	b.MaxInterval = 10 * time.Second
	for {
		err := listenOnce(ctx, dsn, channel, n, b)
		if ctx.Err() != nil {
			return nil
		}
		wait := b.NextBackOff()
		log.Warn("postgres listener disconnected, reconnecting", zap.Error(err), zap.Duration("backoff", wait))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// listenOnce runs one connection's lifetime; it resets b once LISTEN is in place.
func listenOnce(ctx context.Context, dsn, channel string, n *Notifier, b *backoff.ExponentialBackOff) error {
	connectCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := pgx.Connect(connectCtx, dsn)
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		closeCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = conn.Close(closeCtx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{channel}.Sanitize()); err != nil {
		return err
	}
	b.Reset()
	n.Notify(0) // see the function comment: wake readers to cover the disconnected window
	for {
		msg, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		seq, err := strconv.ParseInt(msg.Payload, 10, 64)
		if err != nil {
			seq = 0 // a foreign payload still means "something changed"
		}
		n.Notify(seq)
	}
}
