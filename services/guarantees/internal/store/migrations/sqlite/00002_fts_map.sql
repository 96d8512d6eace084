-- Each resource's row in its FTS5 index, so that an update replaces it by rowid instead of
-- scanning the index for the (unindexable) name.

-- +goose Up
CREATE TABLE frameworks_fts_map (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO frameworks_fts_map (name, fts_rowid) SELECT name, MAX(rowid) FROM frameworks_fts GROUP BY name;
CREATE TABLE guarantees_fts_map (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO guarantees_fts_map (name, fts_rowid) SELECT name, MAX(rowid) FROM guarantees_fts GROUP BY name;

-- +goose Down
DROP TABLE guarantees_fts_map;
DROP TABLE frameworks_fts_map;
