-- Events and actors. `data` holds the whole resource (binary protobuf); the other columns
-- are extracted from it on every write so filters and orderings run on indexed SQL.
-- Times are Unix nanoseconds.

-- +goose Up
CREATE TABLE actors (
    name         TEXT    PRIMARY KEY,
    data         BLOB    NOT NULL,
    revision     INTEGER NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    kind         INTEGER NOT NULL,
    display_name TEXT    NOT NULL,
    country_code TEXT    NOT NULL,
    parent       TEXT    NOT NULL,
    license      INTEGER NOT NULL
);
CREATE INDEX actors_display_name ON actors (display_name, name);
CREATE INDEX actors_country ON actors (country_code);
CREATE TABLE actor_tags (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX actor_tags_value ON actor_tags (value, name);
CREATE TABLE actor_external_ids (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX actor_external_ids_value ON actor_external_ids (value, name);
CREATE VIRTUAL TABLE actors_fts USING fts5(name UNINDEXED, body);

CREATE TABLE events (
    name         TEXT    PRIMARY KEY,
    data         BLOB    NOT NULL,
    revision     INTEGER NOT NULL,
    deleted      INTEGER NOT NULL DEFAULT 0,
    create_time  INTEGER NOT NULL,
    update_time  INTEGER NOT NULL,
    type         INTEGER NOT NULL,
    sub_type     TEXT    NOT NULL,
    when_time    INTEGER NOT NULL,
    country_code TEXT    NOT NULL,
    cameo_code   TEXT    NOT NULL,
    license      INTEGER NOT NULL
);
CREATE INDEX events_when ON events (when_time, name);
CREATE INDEX events_type_when ON events (type, when_time);
CREATE INDEX events_country_when ON events (country_code, when_time);
CREATE INDEX events_cameo ON events (cameo_code);
CREATE INDEX events_update_time ON events (update_time);
CREATE INDEX events_create_time ON events (create_time);
CREATE TABLE event_participants (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX event_participants_value ON event_participants (value, name);
CREATE TABLE event_tags (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX event_tags_value ON event_tags (value, name);
CREATE TABLE event_external_ids (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
CREATE INDEX event_external_ids_value ON event_external_ids (value, name);
CREATE VIRTUAL TABLE events_fts USING fts5(name UNINDEXED, body);

-- +goose Down
DROP TABLE events_fts;
DROP TABLE event_external_ids;
DROP TABLE event_tags;
DROP TABLE event_participants;
DROP TABLE events;
DROP TABLE actors_fts;
DROP TABLE actor_external_ids;
DROP TABLE actor_tags;
DROP TABLE actors;
