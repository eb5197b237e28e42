-- 0013_user_identities: users' accounts at OAuth2 providers (GitHub,
-- Google), by the provider's stable account id, so that signing in there
-- signs the linked user in here. An account links one user.

CREATE TABLE user_identities (
	provider   TEXT NOT NULL,
	subject    TEXT NOT NULL,
	user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (provider, subject)
);
CREATE INDEX user_identities_user ON user_identities (user_id);
