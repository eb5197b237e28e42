-- 0009_runs_session_active: a session's active runs, found without reading
-- its finished ones. Posting a message, claiming a run and ending one each
-- look for them; with only the (session_id, seq) key, each read every run
-- the session ever had. Queries must name the statuses literally, as the
-- index does, for the planner to use it.

CREATE INDEX runs_session_active ON runs (session_id, seq) WHERE status IN ('queued', 'running');
