-- 0005_schedules: scheduled tasks and their runs.

CREATE TABLE schedules (
	id           TEXT PRIMARY KEY,
	owner_id     INTEGER NOT NULL,
	name         TEXT NOT NULL,
	cron         TEXT NOT NULL,
	time_zone    TEXT NOT NULL DEFAULT '',
	agent_id     TEXT NOT NULL,
	prompt       TEXT NOT NULL,
	session_mode TEXT NOT NULL,
	session_id   TEXT NOT NULL DEFAULT '',
	enabled      INTEGER NOT NULL DEFAULT 0,
	next_run_at  TEXT,
	last_run_at  TEXT,
	created_at   TEXT NOT NULL,
	updated_at   TEXT NOT NULL
);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE enabled;
CREATE INDEX schedules_owner ON schedules (owner_id, created_at);

CREATE TABLE schedule_runs (
	id            TEXT PRIMARY KEY,
	schedule_id   TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
	trigger_kind  TEXT NOT NULL,
	scheduled_for TEXT,
	status        TEXT NOT NULL,
	session_id    TEXT NOT NULL DEFAULT '',
	run_id        TEXT NOT NULL DEFAULT '',
	error         TEXT NOT NULL DEFAULT '',
	started_at    TEXT NOT NULL,
	ended_at      TEXT
);
CREATE INDEX schedule_runs_schedule ON schedule_runs (schedule_id, started_at);
CREATE INDEX schedule_runs_open ON schedule_runs (status) WHERE status = 'running';
