-- Where each projection of another service's stream stands: the highest stream
-- sequence it has applied. Written in the same transaction as the projected rows, so the
-- two never disagree. Times are Unix nanoseconds.

-- +goose Up
CREATE TABLE projection_positions (
    name        TEXT    PRIMARY KEY, -- the projection (and its durable consumer) name
    stream_seq  BIGINT  NOT NULL,
    update_time BIGINT  NOT NULL
);

-- +goose Down
DROP TABLE projection_positions;
