-- 0006_audit: login and operation logs.

CREATE TABLE login_logs (
	id         BIGSERIAL PRIMARY KEY,
	user_id    BIGINT NOT NULL DEFAULT 0,
	username   TEXT NOT NULL,
	address    TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	success    BOOLEAN NOT NULL DEFAULT FALSE,
	reason     TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_logs_created ON login_logs (created_at);

CREATE TABLE operation_logs (
	id          BIGSERIAL PRIMARY KEY,
	user_id     BIGINT NOT NULL DEFAULT 0,
	username    TEXT NOT NULL DEFAULT '',
	method      TEXT NOT NULL,
	path        TEXT NOT NULL,
	status      INTEGER NOT NULL,
	duration_us BIGINT NOT NULL DEFAULT 0,
	address     TEXT NOT NULL DEFAULT '',
	user_agent  TEXT NOT NULL DEFAULT '',
	request_id  TEXT NOT NULL DEFAULT '',
	body        TEXT NOT NULL DEFAULT '',
	created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX operation_logs_created ON operation_logs (created_at);
