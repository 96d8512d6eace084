-- Frameworks and guarantees, and the projection of the events service's actors and
-- events that references are checked against. `data` holds the whole resource (binary
-- protobuf); the other columns are extracted from it on every write so filters and
-- orderings run on indexed SQL. Times are Unix nanoseconds. Full-text search uses the
-- `search` tsvector column (the SQLite schema uses FTS5 tables instead).

-- +goose Up
CREATE TABLE frameworks (
    name         TEXT    PRIMARY KEY,
    data         BYTEA   NOT NULL,
    revision     BIGINT  NOT NULL,
    deleted      SMALLINT NOT NULL DEFAULT 0,
    create_time  BIGINT  NOT NULL,
    update_time  BIGINT  NOT NULL,
    kind         BIGINT  NOT NULL,
    stage        BIGINT  NOT NULL,
    status       BIGINT  NOT NULL,
    adopted_time BIGINT  NOT NULL,
    license      BIGINT  NOT NULL,
    search       tsvector NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX frameworks_search ON frameworks USING GIN (search);
CREATE INDEX frameworks_adopted ON frameworks (adopted_time, name);
CREATE INDEX frameworks_create_time ON frameworks (create_time);
CREATE INDEX frameworks_update_time ON frameworks (update_time);
CREATE TABLE framework_parties (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX framework_parties_value ON framework_parties (value, name);
CREATE TABLE framework_third_parties (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX framework_third_parties_value ON framework_third_parties (value, name);
CREATE TABLE framework_tags (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX framework_tags_value ON framework_tags (value, name);

CREATE TABLE guarantees (
    name          TEXT    PRIMARY KEY,
    data          BYTEA   NOT NULL,
    revision      BIGINT  NOT NULL,
    deleted       SMALLINT NOT NULL DEFAULT 0,
    create_time   BIGINT  NOT NULL,
    update_time   BIGINT  NOT NULL,
    framework     TEXT    NOT NULL,
    guarantor     TEXT    NOT NULL, -- the actor's name, or "undisclosed"
    beneficiary   TEXT    NOT NULL,
    domain        BIGINT  NOT NULL,
    capability    BIGINT  NOT NULL,
    role          BIGINT  NOT NULL,
    status        BIGINT  NOT NULL,
    binding_level BIGINT  NOT NULL,
    status_time   BIGINT  NOT NULL,
    license       BIGINT  NOT NULL,
    search        tsvector NOT NULL DEFAULT ''::tsvector
);
CREATE INDEX guarantees_search ON guarantees USING GIN (search);
CREATE INDEX guarantees_create_time ON guarantees (create_time, name);
CREATE INDEX guarantees_update_time ON guarantees (update_time);
CREATE INDEX guarantees_status_time ON guarantees (status_time);
CREATE INDEX guarantees_framework ON guarantees (framework);
CREATE INDEX guarantees_guarantor ON guarantees (guarantor);
CREATE INDEX guarantees_beneficiary ON guarantees (beneficiary);
CREATE INDEX guarantees_cell ON guarantees (domain, capability);
CREATE TABLE guarantee_tags (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX guarantee_tags_value ON guarantee_tags (value, name);

-- The actors and events of the events service's stream (see internal/refs): one row per
-- resource, kept at its highest change sequence, tombstones marked deleted.
CREATE TABLE refs (
    name       TEXT    PRIMARY KEY,
    seq        BIGINT  NOT NULL, -- the events service's change sequence of the row
    deleted    SMALLINT NOT NULL,
    event_time BIGINT  NOT NULL  -- for events: when.time (0 when unknown)
);

-- +goose Down
DROP TABLE refs;
DROP TABLE guarantee_tags;
DROP TABLE guarantees;
DROP TABLE framework_tags;
DROP TABLE framework_third_parties;
DROP TABLE framework_parties;
DROP TABLE frameworks;
