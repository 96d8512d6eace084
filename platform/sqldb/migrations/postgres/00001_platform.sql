-- Platform tables shared by every service: the change log, idempotency records and the
-- outbox relay's cursor. Times are unix nanoseconds (BIGINT) so both engines store and
-- compare them identically.

-- +goose Up
CREATE TABLE changes (
    seq           BIGINT PRIMARY KEY, -- assigned by changelog.Append, gapless, in commit order
    id            TEXT   NOT NULL UNIQUE,
    resource_name TEXT   NOT NULL,
    collection    TEXT   NOT NULL,
    kind          TEXT   NOT NULL,
    subject       TEXT   NOT NULL,
    payload       BYTEA  NOT NULL,
    principal     TEXT   NOT NULL DEFAULT '',
    request_id    TEXT   NOT NULL DEFAULT '',
    trace_parent  TEXT   NOT NULL DEFAULT '',
    time          BIGINT NOT NULL
);
CREATE INDEX changes_resource_seq ON changes (resource_name, seq);

CREATE TABLE changelog_head (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    last_seq       BIGINT  NOT NULL,
    oldest_seq     BIGINT  NOT NULL,
    last_time      BIGINT  NOT NULL,
    compacted_time BIGINT  NOT NULL
);
INSERT INTO changelog_head (id, last_seq, oldest_seq, last_time, compacted_time) VALUES (1, 0, 1, 0, 0);

CREATE TABLE requests (
    principal   TEXT   NOT NULL,
    request_id  TEXT   NOT NULL,
    method      TEXT   NOT NULL,
    response    BYTEA  NOT NULL,
    fingerprint TEXT   NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (principal, request_id)
);
CREATE INDEX requests_created_at ON requests (created_at);

CREATE TABLE outbox_cursor (
    stream   TEXT   PRIMARY KEY,
    last_seq BIGINT NOT NULL
);

-- +goose Down
DROP TABLE outbox_cursor;
DROP TABLE requests;
DROP TABLE changelog_head;
DROP TABLE changes;
