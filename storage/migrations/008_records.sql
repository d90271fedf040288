-- Records you control (issue 13): sessions can be cancelled (a stray start), corrected and
-- deleted by their owner.
--
-- "Cancelled" is a column of its own rather than a third outcome: SQLite can't change the
-- CHECK on sessions.outcome, and rebuilding sessions (which deliveries and events reference
-- with ON DELETE CASCADE) would mean turning foreign keys off, which can't be done inside
-- this migration's transaction. A flag also keeps the real outcome, so "undo" gives back
-- exactly what was recorded.
ALTER TABLE sessions ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0 CHECK (cancelled IN (0, 1));

-- The event log gains 'edit' (a correction by the owner), 'cancelled' and 'restored'. Nothing
-- references events, so it is rebuilt with its rows kept (ids and order included).
CREATE TABLE events_new (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    kind        TEXT    NOT NULL CHECK (kind IN (
                    'started', 'nudge', 'break', 'back', 'skipped', 'paused', 'resumed',
                    'interruption', 'extended', 'ended', 'summary', 'score',
                    'edit', 'cancelled', 'restored')),
    at          INTEGER NOT NULL,
    detail      TEXT
);
INSERT INTO events_new (id, session_id, kind, at, detail)
    SELECT id, session_id, kind, at, detail FROM events;
DROP TABLE events;
ALTER TABLE events_new RENAME TO events;
CREATE INDEX events_session ON events(session_id, at);

-- Every figure leaves cancelled sessions out: the indexes of /stats become partial on
-- cancelled = 0 (the queries say AND cancelled = 0); sessions_user_facts also holds the
-- column itself, since SQLite counts an index as covering only when it has every column the
-- query names, the partial index's own condition included.
DROP INDEX sessions_user_facts;
CREATE INDEX sessions_user_facts ON sessions(
    user_id, started_at, ended_at, planned_minutes, focused_ms, time_scale, outcome,
    interruptions, score, label IS NOT NULL, cancelled
) WHERE cancelled = 0;
DROP INDEX sessions_user_labelled;
CREATE INDEX sessions_user_labelled ON sessions(user_id, started_at, ended_at, outcome)
    WHERE label IS NOT NULL AND cancelled = 0;
