-- Side tables as WITHOUT ROWID tables: each is only ever reached through its primary key
-- or its reverse index, so the rowid table beside the primary-key index was one more
-- B-tree page to write on every change (a Create wrote about 31 pages to the WAL, a
-- syscall and a checksum each). The data is copied as is.

-- +goose Up
CREATE TABLE actor_tags_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO actor_tags_new (name, value) SELECT name, value FROM actor_tags;
DROP TABLE actor_tags;
ALTER TABLE actor_tags_new RENAME TO actor_tags;
CREATE INDEX actor_tags_value ON actor_tags (value, name);

CREATE TABLE actor_external_ids_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO actor_external_ids_new (name, value) SELECT name, value FROM actor_external_ids;
DROP TABLE actor_external_ids;
ALTER TABLE actor_external_ids_new RENAME TO actor_external_ids;
CREATE INDEX actor_external_ids_value ON actor_external_ids (value, name);

CREATE TABLE event_participants_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO event_participants_new (name, value) SELECT name, value FROM event_participants;
DROP TABLE event_participants;
ALTER TABLE event_participants_new RENAME TO event_participants;
CREATE INDEX event_participants_value ON event_participants (value, name);

CREATE TABLE event_tags_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO event_tags_new (name, value) SELECT name, value FROM event_tags;
DROP TABLE event_tags;
ALTER TABLE event_tags_new RENAME TO event_tags;
CREATE INDEX event_tags_value ON event_tags (value, name);

CREATE TABLE event_external_ids_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO event_external_ids_new (name, value) SELECT name, value FROM event_external_ids;
DROP TABLE event_external_ids;
ALTER TABLE event_external_ids_new RENAME TO event_external_ids;
CREATE INDEX event_external_ids_value ON event_external_ids (value, name);

CREATE TABLE actors_fts_map_new (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO actors_fts_map_new (name, fts_rowid) SELECT name, fts_rowid FROM actors_fts_map;
DROP TABLE actors_fts_map;
ALTER TABLE actors_fts_map_new RENAME TO actors_fts_map;

CREATE TABLE events_fts_map_new (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO events_fts_map_new (name, fts_rowid) SELECT name, fts_rowid FROM events_fts_map;
DROP TABLE events_fts_map;
ALTER TABLE events_fts_map_new RENAME TO events_fts_map;

-- +goose Down
CREATE TABLE events_fts_map_old (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO events_fts_map_old (name, fts_rowid) SELECT name, fts_rowid FROM events_fts_map;
DROP TABLE events_fts_map;
ALTER TABLE events_fts_map_old RENAME TO events_fts_map;

CREATE TABLE actors_fts_map_old (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO actors_fts_map_old (name, fts_rowid) SELECT name, fts_rowid FROM actors_fts_map;
DROP TABLE actors_fts_map;
ALTER TABLE actors_fts_map_old RENAME TO actors_fts_map;

CREATE TABLE event_external_ids_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO event_external_ids_old (name, value) SELECT name, value FROM event_external_ids;
DROP TABLE event_external_ids;
ALTER TABLE event_external_ids_old RENAME TO event_external_ids;
CREATE INDEX event_external_ids_value ON event_external_ids (value, name);

CREATE TABLE event_tags_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO event_tags_old (name, value) SELECT name, value FROM event_tags;
DROP TABLE event_tags;
ALTER TABLE event_tags_old RENAME TO event_tags;
CREATE INDEX event_tags_value ON event_tags (value, name);

CREATE TABLE event_participants_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO event_participants_old (name, value) SELECT name, value FROM event_participants;
DROP TABLE event_participants;
ALTER TABLE event_participants_old RENAME TO event_participants;
CREATE INDEX event_participants_value ON event_participants (value, name);

CREATE TABLE actor_external_ids_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO actor_external_ids_old (name, value) SELECT name, value FROM actor_external_ids;
DROP TABLE actor_external_ids;
ALTER TABLE actor_external_ids_old RENAME TO actor_external_ids;
CREATE INDEX actor_external_ids_value ON actor_external_ids (value, name);

CREATE TABLE actor_tags_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO actor_tags_old (name, value) SELECT name, value FROM actor_tags;
DROP TABLE actor_tags;
ALTER TABLE actor_tags_old RENAME TO actor_tags;
CREATE INDEX actor_tags_value ON actor_tags (value, name);
