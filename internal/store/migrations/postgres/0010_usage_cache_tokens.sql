-- 0010_usage_cache_tokens: the part of a call's input read from the
-- provider's prompt cache and the part written to it, beside the input
-- tokens (which count both). Each has its own price; older records have
-- neither (0).

ALTER TABLE usage_records ADD COLUMN cached_input_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE usage_records ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
