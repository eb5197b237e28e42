-- 0002_environment_pause: what happens when an environment's lifetime
-- ends, and the lifetime left while it is paused with its clock stopped.
ALTER TABLE environments ADD COLUMN on_timeout TEXT NOT NULL DEFAULT '';
ALTER TABLE environments ADD COLUMN paused_remaining INTEGER NOT NULL DEFAULT 0;
