-- 0003_agents: agents, sessions, messages, runs, events and usage records.
--
-- owner_id has no foreign key, as for environments: the runtime, not a
-- cascade, ends what a user's sessions hold.

CREATE TABLE agents (
	id            TEXT PRIMARY KEY,
	owner_id      BIGINT NOT NULL,
	name          TEXT NOT NULL,
	description   TEXT NOT NULL DEFAULT '',
	system_prompt TEXT NOT NULL DEFAULT '',
	model         TEXT NOT NULL DEFAULT '',
	tools         JSONB NOT NULL DEFAULT 'null', -- null means all tools
	max_steps     INTEGER NOT NULL DEFAULT 0,
	environment   JSONB NOT NULL DEFAULT 'null', -- AgentEnvironment or null
	tags          JSONB NOT NULL DEFAULT '[]',
	archived_at   TIMESTAMPTZ,
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX agents_owner_name ON agents (owner_id, name) WHERE archived_at IS NULL;
CREATE INDEX agents_owner_created ON agents (owner_id, created_at);

-- last_event_seq numbers the session's events; bumping it in the
-- transaction that appends them serializes appends per session.
CREATE TABLE sessions (
	id             TEXT PRIMARY KEY,
	agent_id       TEXT NOT NULL REFERENCES agents (id) ON DELETE CASCADE,
	owner_id       BIGINT NOT NULL,
	title          TEXT NOT NULL DEFAULT '',
	tags           JSONB NOT NULL DEFAULT '[]',
	status         TEXT NOT NULL,
	environment_id TEXT NOT NULL DEFAULT '',
	external_key   TEXT NOT NULL DEFAULT '',
	last_event_seq BIGINT NOT NULL DEFAULT 0,
	created_at     TIMESTAMPTZ NOT NULL,
	updated_at     TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX sessions_external_key ON sessions (owner_id, agent_id, external_key) WHERE external_key <> '';
CREATE INDEX sessions_agent_created ON sessions (agent_id, created_at);
CREATE INDEX sessions_owner_created ON sessions (owner_id, created_at);

CREATE TABLE messages (
	id         TEXT PRIMARY KEY,
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	run_id     TEXT NOT NULL DEFAULT '',
	seq        BIGINT NOT NULL,
	role       TEXT NOT NULL,
	content    TEXT NOT NULL DEFAULT '[]', -- TEXT, not JSONB: tool arguments kept byte for byte
	usage      TEXT,
	created_at TIMESTAMPTZ NOT NULL,
	UNIQUE (session_id, seq)
);
CREATE INDEX messages_run ON messages (run_id);

CREATE TABLE runs (
	id                 TEXT PRIMARY KEY,
	session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq                BIGINT NOT NULL,
	status             TEXT NOT NULL,
	error              TEXT NOT NULL DEFAULT '',
	step               INTEGER NOT NULL DEFAULT 0,
	trigger_message_id TEXT NOT NULL DEFAULT '',
	idempotency_key    TEXT NOT NULL DEFAULT '',
	request_hash       TEXT NOT NULL DEFAULT '',
	lease_owner        TEXT NOT NULL DEFAULT '',
	lease_expires_at   TIMESTAMPTZ,
	cancel_requested   BOOLEAN NOT NULL DEFAULT FALSE,
	created_at         TIMESTAMPTZ NOT NULL,
	started_at         TIMESTAMPTZ,
	ended_at           TIMESTAMPTZ,
	UNIQUE (session_id, seq)
);
CREATE UNIQUE INDEX runs_idempotency_key ON runs (session_id, idempotency_key) WHERE idempotency_key <> '';
CREATE INDEX runs_active ON runs (status, created_at) WHERE status IN ('queued', 'running');

CREATE TABLE events (
	session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
	seq        BIGINT NOT NULL,
	run_id     TEXT NOT NULL DEFAULT '',
	type       TEXT NOT NULL,
	data       TEXT NOT NULL DEFAULT '{}', -- TEXT, not JSONB: kept byte for byte as published
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (session_id, seq)
);

-- No foreign keys: usage is kept for billing after sessions go.
CREATE TABLE usage_records (
	id            BIGSERIAL PRIMARY KEY,
	owner_id      BIGINT NOT NULL,
	agent_id      TEXT NOT NULL DEFAULT '',
	session_id    TEXT NOT NULL DEFAULT '',
	run_id        TEXT NOT NULL DEFAULT '',
	message_id    TEXT NOT NULL DEFAULT '',
	provider      TEXT NOT NULL DEFAULT '',
	model         TEXT NOT NULL DEFAULT '',
	input_tokens  BIGINT NOT NULL DEFAULT 0,
	output_tokens BIGINT NOT NULL DEFAULT 0,
	cost          DOUBLE PRECISION NOT NULL DEFAULT 0,
	created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX usage_records_owner ON usage_records (owner_id, created_at);
CREATE INDEX usage_records_session ON usage_records (session_id);
