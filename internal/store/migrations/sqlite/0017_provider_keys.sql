-- 0017_provider_keys: users' own LLM provider keys, sealed (AES-256-GCM).

CREATE TABLE provider_keys (
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	provider   TEXT NOT NULL,
	api_key    TEXT NOT NULL,
	created_at TEXT NOT NULL,
	updated_at TEXT NOT NULL,
	PRIMARY KEY (user_id, provider)
);
