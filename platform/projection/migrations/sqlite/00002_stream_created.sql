-- The incarnation of the stream a projection's position counts in: the stream's creation
-- time (Unix nanoseconds) as JetStream reports it; 0 while unknown. A stream deleted and
-- created again numbers its messages from 1 again, so a position in the old one means
-- nothing in the new one.

-- +goose Up
ALTER TABLE projection_positions ADD COLUMN stream_created INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE projection_positions DROP COLUMN stream_created;
