-- 0008_run_options: per-run settings (tools, reasoning, locale) as JSON.

ALTER TABLE runs ADD COLUMN options TEXT NOT NULL DEFAULT '{}';
