-- Resource names compare byte by byte, whatever the database's collation. Readers find
-- a collection's changes as the range 'events/' <= resource_name < 'events0' ('0'
-- follows '/'), which holds only in byte order: a linguistic collation such as glibc's
-- en_US.UTF-8, the default of many clusters, ignores '/' and left that range empty.
-- This rewrites the column and rebuilds its index, locking the table while it runs.

-- +goose Up
ALTER TABLE changes ALTER COLUMN resource_name TYPE TEXT COLLATE "C";

-- +goose Down
ALTER TABLE changes ALTER COLUMN resource_name TYPE TEXT COLLATE "default";
