-- Focus Companion schema, version 1.
-- Times are INTEGER milliseconds since the Unix epoch, UTC. Rendering in the user's timezone
-- happens at the edge, never here.

CREATE TABLE users (
    id          INTEGER PRIMARY KEY,              -- the Telegram user id
    timezone    TEXT    NOT NULL DEFAULT 'UTC',   -- an IANA name or a fixed offset like +02:00
    created_at  INTEGER NOT NULL
);

CREATE TABLE sessions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    chat_id          INTEGER NOT NULL,
    label            TEXT CHECK (label IS NULL OR length(label) BETWEEN 1 AND 200),
    planned_minutes  INTEGER NOT NULL CHECK (planned_minutes BETWEEN 1 AND 180),
    -- The plan's parameters are fixed when the session starts, so a settings change or a
    -- restart with another time scale never reshapes a running session.
    block_minutes    INTEGER NOT NULL CHECK (block_minutes > 0),
    break_minutes    INTEGER NOT NULL CHECK (break_minutes >= 0),
    checkins         INTEGER NOT NULL DEFAULT 1 CHECK (checkins IN (0, 1)),
    time_scale       REAL    NOT NULL DEFAULT 1 CHECK (time_scale > 0),
    started_at       INTEGER NOT NULL,
    planned_end_at   INTEGER,                      -- NULL while paused: the end is not known
    paused_at        INTEGER,
    paused_ms        INTEGER NOT NULL DEFAULT 0 CHECK (paused_ms >= 0),
    ended_at         INTEGER,
    focused_ms       INTEGER CHECK (focused_ms IS NULL OR focused_ms >= 0),
    breaks_taken     INTEGER NOT NULL DEFAULT 0,
    outcome          TEXT CHECK (outcome IN ('completed', 'ended_early')),
    late_summary     INTEGER NOT NULL DEFAULT 0 CHECK (late_summary IN (0, 1)),
    interruptions    INTEGER NOT NULL DEFAULT 0 CHECK (interruptions >= 0),
    score            INTEGER CHECK (score BETWEEN 1 AND 5),
    scored_at        INTEGER,
    next_due_at      INTEGER,                      -- when the dispatcher must look again
    card_message_id  INTEGER,
    -- Bumped by every change of the plan (pause, resume, extend): the dispatcher's reschedule
    -- applies only to the version it computed from, so it never undoes a concurrent change.
    version          INTEGER NOT NULL DEFAULT 0,
    CHECK ((ended_at IS NULL) = (outcome IS NULL)),
    CHECK (ended_at IS NULL OR (paused_at IS NULL AND next_due_at IS NULL))
);

-- One running session per user per chat, whatever races happen.
CREATE UNIQUE INDEX sessions_one_active ON sessions(user_id, chat_id) WHERE ended_at IS NULL;
-- The dispatcher's query: the soonest due running sessions.
CREATE INDEX sessions_due ON sessions(next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX sessions_user_started ON sessions(user_id, started_at);

-- Every proactive message and the summary, keyed by its slot in the session's plan: the
-- primary key makes it impossible to record (and so to send) the same message twice.
CREATE TABLE deliveries (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    slot        TEXT    NOT NULL,                 -- e.g. checkin:1.1, break:1, back:1, summary
    kind        TEXT    NOT NULL CHECK (kind IN ('checkin', 'break', 'back', 'summary')),
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'sending', 'sent', 'dropped')),
    due_at      INTEGER NOT NULL,
    at          INTEGER NOT NULL,                 -- when the status was last set
    message_id  INTEGER,
    reason      TEXT,
    PRIMARY KEY (session_id, slot)
) WITHOUT ROWID;

CREATE INDEX deliveries_pending ON deliveries(status) WHERE status = 'pending';

CREATE TABLE events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN (
                    'started', 'nudge', 'break', 'back', 'skipped', 'paused', 'resumed',
                    'interruption', 'extended', 'ended', 'summary', 'score')),
    at          INTEGER NOT NULL,
    detail      TEXT
);

CREATE INDEX events_session ON events(session_id, at);
