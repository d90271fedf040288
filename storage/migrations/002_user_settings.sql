-- Per-user settings (/settings). NULL means "the operator's default" (FOCUS_*_MINUTES), so a
-- changed default reaches everyone who never chose. The guardrails are not settings.
ALTER TABLE users ADD COLUMN default_minutes INTEGER
    CHECK (default_minutes IS NULL OR default_minutes BETWEEN 5 AND 90);
ALTER TABLE users ADD COLUMN block_minutes INTEGER
    CHECK (block_minutes IS NULL OR block_minutes BETWEEN 10 AND 90);
ALTER TABLE users ADD COLUMN break_minutes INTEGER
    CHECK (break_minutes IS NULL OR break_minutes BETWEEN 5 AND 30);
-- Quiet: break messages and the summary only, no check-ins.
ALTER TABLE users ADD COLUMN quiet INTEGER NOT NULL DEFAULT 0 CHECK (quiet IN (0, 1));
