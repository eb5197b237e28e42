-- 0018_run_trace_parent: the W3C traceparent of the request that posted a
-- run, which the run's span links to, whichever server executes it.

ALTER TABLE runs ADD COLUMN trace_parent TEXT NOT NULL DEFAULT '';
