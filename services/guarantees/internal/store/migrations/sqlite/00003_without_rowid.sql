-- Side tables as WITHOUT ROWID tables: each is only ever reached through its primary key
-- or its reverse index, so the rowid table beside the primary-key index was one more
-- B-tree page to write on every change (a Create wrote about 31 pages to the WAL, a
-- syscall and a checksum each). The data is copied as is.

-- +goose Up
CREATE TABLE framework_parties_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO framework_parties_new (name, value) SELECT name, value FROM framework_parties;
DROP TABLE framework_parties;
ALTER TABLE framework_parties_new RENAME TO framework_parties;
CREATE INDEX framework_parties_value ON framework_parties (value, name);

CREATE TABLE framework_third_parties_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO framework_third_parties_new (name, value) SELECT name, value FROM framework_third_parties;
DROP TABLE framework_third_parties;
ALTER TABLE framework_third_parties_new RENAME TO framework_third_parties;
CREATE INDEX framework_third_parties_value ON framework_third_parties (value, name);

CREATE TABLE framework_tags_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO framework_tags_new (name, value) SELECT name, value FROM framework_tags;
DROP TABLE framework_tags;
ALTER TABLE framework_tags_new RENAME TO framework_tags;
CREATE INDEX framework_tags_value ON framework_tags (value, name);

CREATE TABLE guarantee_tags_new (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value)) WITHOUT ROWID;
INSERT INTO guarantee_tags_new (name, value) SELECT name, value FROM guarantee_tags;
DROP TABLE guarantee_tags;
ALTER TABLE guarantee_tags_new RENAME TO guarantee_tags;
CREATE INDEX guarantee_tags_value ON guarantee_tags (value, name);

CREATE TABLE frameworks_fts_map_new (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO frameworks_fts_map_new (name, fts_rowid) SELECT name, fts_rowid FROM frameworks_fts_map;
DROP TABLE frameworks_fts_map;
ALTER TABLE frameworks_fts_map_new RENAME TO frameworks_fts_map;

CREATE TABLE guarantees_fts_map_new (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO guarantees_fts_map_new (name, fts_rowid) SELECT name, fts_rowid FROM guarantees_fts_map;
DROP TABLE guarantees_fts_map;
ALTER TABLE guarantees_fts_map_new RENAME TO guarantees_fts_map;

-- +goose Down
CREATE TABLE guarantees_fts_map_old (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO guarantees_fts_map_old (name, fts_rowid) SELECT name, fts_rowid FROM guarantees_fts_map;
DROP TABLE guarantees_fts_map;
ALTER TABLE guarantees_fts_map_old RENAME TO guarantees_fts_map;

CREATE TABLE frameworks_fts_map_old (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO frameworks_fts_map_old (name, fts_rowid) SELECT name, fts_rowid FROM frameworks_fts_map;
DROP TABLE frameworks_fts_map;
ALTER TABLE frameworks_fts_map_old RENAME TO frameworks_fts_map;

CREATE TABLE guarantee_tags_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO guarantee_tags_old (name, value) SELECT name, value FROM guarantee_tags;
DROP TABLE guarantee_tags;
ALTER TABLE guarantee_tags_old RENAME TO guarantee_tags;
CREATE INDEX guarantee_tags_value ON guarantee_tags (value, name);

CREATE TABLE framework_tags_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO framework_tags_old (name, value) SELECT name, value FROM framework_tags;
DROP TABLE framework_tags;
ALTER TABLE framework_tags_old RENAME TO framework_tags;
CREATE INDEX framework_tags_value ON framework_tags (value, name);

CREATE TABLE framework_third_parties_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO framework_third_parties_old (name, value) SELECT name, value FROM framework_third_parties;
DROP TABLE framework_third_parties;
ALTER TABLE framework_third_parties_old RENAME TO framework_third_parties;
CREATE INDEX framework_third_parties_value ON framework_third_parties (value, name);

CREATE TABLE framework_parties_old (name TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (name, value));
INSERT INTO framework_parties_old (name, value) SELECT name, value FROM framework_parties;
DROP TABLE framework_parties;
ALTER TABLE framework_parties_old RENAME TO framework_parties;
CREATE INDEX framework_parties_value ON framework_parties (value, name);
