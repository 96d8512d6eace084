-- How far compaction has got: every entry at or before compacted_seq has had the older
-- entries of its resource deleted. Compaction works through the log in short
-- transactions from here, so an interrupted run resumes where it stopped and a later run
-- does not read again what earlier runs finished.

-- +goose Up
ALTER TABLE changelog_head ADD COLUMN compacted_seq BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE changelog_head DROP COLUMN compacted_seq;
