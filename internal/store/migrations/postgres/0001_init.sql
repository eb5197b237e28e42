-- 0001_init: users, API keys, tokens, environments.

CREATE TABLE users (
	id            BIGSERIAL PRIMARY KEY,
	username      TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL DEFAULT '',
	nickname      TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    TIMESTAMPTZ NOT NULL,
	updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	user_id      BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	description  TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL UNIQUE,
	created_at   TIMESTAMPTZ NOT NULL,
	expires_at   TIMESTAMPTZ,
	last_used_at TIMESTAMPTZ
);
CREATE INDEX api_keys_user_id ON api_keys (user_id, created_at);

-- position keeps the permissions in the order they were given.
CREATE TABLE api_key_permissions (
	api_key_id     TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
	position       INTEGER NOT NULL,
	environment_id TEXT NOT NULL,
	permission     TEXT NOT NULL,
	PRIMARY KEY (api_key_id, environment_id)
);

CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	issued_at  TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- owner_id has no foreign key on purpose: deleting a user must not drop the
-- rows of sandboxes that may still be running; the sandbox manager ends them.
CREATE TABLE environments (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL DEFAULT '',
	owner_id      BIGINT NOT NULL,
	status        TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT '',
	image         TEXT NOT NULL DEFAULT '',
	resources     JSONB NOT NULL DEFAULT '{}',
	timeout       INTEGER NOT NULL DEFAULT 0,
	env           JSONB NOT NULL DEFAULT '{}',
	command       JSONB NOT NULL DEFAULT '[]',
	labels        JSONB NOT NULL DEFAULT '{}',
	node_selector JSONB NOT NULL DEFAULT '{}',
	tolerations   JSONB NOT NULL DEFAULT '[]',
	isolation     JSONB NOT NULL DEFAULT '{}',
	endpoint      TEXT NOT NULL DEFAULT '',
	namespace     TEXT NOT NULL DEFAULT '',
	created_at    TIMESTAMPTZ NOT NULL,
	started_at    TIMESTAMPTZ,
	expires_at    TIMESTAMPTZ,
	ended_at      TIMESTAMPTZ
);
CREATE INDEX environments_owner_id ON environments (owner_id, created_at);
CREATE INDEX environments_status ON environments (status);
CREATE INDEX environments_created_at ON environments (created_at, id);
