-- 0012_username_nocase: usernames are unique whatever their case, as the
-- login (which finds a user by lower(username)) and its failure counter
-- read them. A database holding names that differ only in case keeps the
-- oldest account's; the others are renamed to name-ID (their ids show in
-- the admin's user list), which their users log in with from now on.

UPDATE users SET username = username || '-' || id
WHERE EXISTS (SELECT 1 FROM users AS older WHERE lower(older.username) = lower(users.username) AND older.id < users.id);

CREATE UNIQUE INDEX users_username_lower ON users (lower(username));
