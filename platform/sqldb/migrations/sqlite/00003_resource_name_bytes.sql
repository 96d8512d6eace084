-- Resource names compare byte by byte on PostgreSQL too (see the PostgreSQL migration of
-- the same number). SQLite's default collation, BINARY, already does; this version only
-- keeps the two schemas' numbers in step.

-- +goose Up
SELECT 1;

-- +goose Down
SELECT 1;
