-- 0004_credits: the credit ledger. A balance is the grants less the cost
-- of the usage records of the same user.

CREATE TABLE credit_grants (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	user_id    INTEGER NOT NULL,
	amount     REAL NOT NULL,
	note       TEXT NOT NULL DEFAULT '',
	granted_by INTEGER NOT NULL DEFAULT 0,
	created_at TEXT NOT NULL
);
CREATE INDEX credit_grants_user ON credit_grants (user_id);
