-- Version 3: where a run's data came from (the benchmark's source line: files found, and for
-- CIFAR-10 imported from a JPEG copy the note that its pixels are not the original ones).
-- NULL for runs recorded before this version.
ALTER TABLE runs ADD COLUMN data_source TEXT;
