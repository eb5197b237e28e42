-- 0004_credits: the credit ledger. A balance is the grants less the cost
-- of the usage records of the same user.

CREATE TABLE credit_grants (
	id         BIGSERIAL PRIMARY KEY,
	user_id    BIGINT NOT NULL,
	amount     DOUBLE PRECISION NOT NULL,
	note       TEXT NOT NULL DEFAULT '',
	granted_by BIGINT NOT NULL DEFAULT 0,
	created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX credit_grants_user ON credit_grants (user_id);
