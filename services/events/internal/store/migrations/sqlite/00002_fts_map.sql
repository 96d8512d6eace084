-- Each resource's row in its FTS5 index, so that an update replaces it by rowid instead of
-- scanning the index for the (unindexable) name.

-- +goose Up
CREATE TABLE actors_fts_map (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO actors_fts_map (name, fts_rowid) SELECT name, MAX(rowid) FROM actors_fts GROUP BY name;
CREATE TABLE events_fts_map (name TEXT PRIMARY KEY, fts_rowid INTEGER NOT NULL);
INSERT INTO events_fts_map (name, fts_rowid) SELECT name, MAX(rowid) FROM events_fts GROUP BY name;

-- +goose Down
DROP TABLE events_fts_map;
DROP TABLE actors_fts_map;
