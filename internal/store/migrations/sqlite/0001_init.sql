-- 0001_init: users, API keys, tokens, environments.
--
-- Times are TEXT in UTC, fixed-width RFC 3339 with microseconds
-- ("2006-01-02T15:04:05.000000Z"), so they compare and sort as text.
-- JSON values are TEXT.

CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	username      TEXT NOT NULL UNIQUE,
	email         TEXT NOT NULL DEFAULT '',
	nickname      TEXT NOT NULL DEFAULT '',
	role          TEXT NOT NULL,
	password_hash TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	updated_at    TEXT NOT NULL
);

CREATE TABLE api_keys (
	id           TEXT PRIMARY KEY,
	user_id      INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	description  TEXT NOT NULL DEFAULT '',
	hash         TEXT NOT NULL UNIQUE,
	created_at   TEXT NOT NULL,
	expires_at   TEXT,
	last_used_at TEXT
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
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	issued_at  TEXT NOT NULL,
	expires_at TEXT NOT NULL
);
CREATE INDEX tokens_user_id ON tokens (user_id);
CREATE INDEX tokens_expires_at ON tokens (expires_at);

-- owner_id has no foreign key on purpose: deleting a user must not drop the
-- rows of sandboxes that may still be running; the sandbox manager ends them.
CREATE TABLE environments (
	id            TEXT PRIMARY KEY,
	name          TEXT NOT NULL DEFAULT '',
	owner_id      INTEGER NOT NULL,
	status        TEXT NOT NULL,
	reason        TEXT NOT NULL DEFAULT '',
	image         TEXT NOT NULL DEFAULT '',
	resources     TEXT NOT NULL DEFAULT '{}',
	timeout       INTEGER NOT NULL DEFAULT 0,
	env           TEXT NOT NULL DEFAULT '{}',
	command       TEXT NOT NULL DEFAULT '[]',
	labels        TEXT NOT NULL DEFAULT '{}',
	node_selector TEXT NOT NULL DEFAULT '{}',
	tolerations   TEXT NOT NULL DEFAULT '[]',
	isolation     TEXT NOT NULL DEFAULT '{}',
	endpoint      TEXT NOT NULL DEFAULT '',
	namespace     TEXT NOT NULL DEFAULT '',
	created_at    TEXT NOT NULL,
	started_at    TEXT,
	expires_at    TEXT,
	ended_at      TEXT
);
CREATE INDEX environments_owner_id ON environments (owner_id, created_at);
CREATE INDEX environments_status ON environments (status);
CREATE INDEX environments_created_at ON environments (created_at, id);
