-- 0009 was given to HTTP file upload (XEP-0363, package upload). Upload keeps
-- its metadata on disk next to the files (<dir>/<id>/meta.json) and its
-- pending slots in memory, so it needs no table: this migration changes
-- nothing and keeps the numbering without a gap.
SELECT 1;
