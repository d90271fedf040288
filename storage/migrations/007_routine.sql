-- Around the sessions: a daily goal, a reminder to start, quiet hours, a weekly review.
-- One row of settings per person who chose any of them (erased with the user), and one row
-- per proactive message outside sessions: the rows are the timers.
CREATE TABLE routine (
    user_id          INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    goal_minutes     INTEGER CHECK (goal_minutes IS NULL OR goal_minutes BETWEEN 10 AND 720),
    -- The reminder's local time as a minute of the day; NULL: no reminder.
    remind_minute    INTEGER CHECK (remind_minute IS NULL OR remind_minute BETWEEN 0 AND 1439),
    remind_weekdays  INTEGER NOT NULL DEFAULT 0 CHECK (remind_weekdays IN (0, 1)),
    -- 1 after the bot asked whether to keep reminders (3 in a row unanswered): none is sent
    -- until the person answers. Silence is not consent.
    remind_held      INTEGER NOT NULL DEFAULT 0 CHECK (remind_held IN (0, 1)),
    quiet_start      INTEGER CHECK (quiet_start IS NULL OR quiet_start BETWEEN 0 AND 1439),
    quiet_end        INTEGER CHECK (quiet_end IS NULL OR quiet_end BETWEEN 0 AND 1439),
    -- A session started in quiet hours has no check-ins, unless this is 1.
    quiet_checkins   INTEGER NOT NULL DEFAULT 0 CHECK (quiet_checkins IN (0, 1)),
    review           INTEGER NOT NULL DEFAULT 0 CHECK (review IN (0, 1)),
    review_weekday   INTEGER NOT NULL DEFAULT 6 CHECK (review_weekday BETWEEN 0 AND 6),
    review_minute    INTEGER NOT NULL DEFAULT 1080 CHECK (review_minute BETWEEN 0 AND 1439),
    -- When the reminders' dispatcher must look at this person next (UTC ms); NULL: never.
    next_remind_at   INTEGER,
    next_review_at   INTEGER,
    -- /start, the first /goal or /remind asked "what time is it for you?" once.
    zone_asked       INTEGER NOT NULL DEFAULT 0 CHECK (zone_asked IN (0, 1)),
    CHECK ((quiet_start IS NULL) = (quiet_end IS NULL)),
    CHECK (quiet_start IS NULL OR quiet_start != quiet_end)
);
CREATE INDEX routine_next_remind ON routine(next_remind_at) WHERE next_remind_at IS NOT NULL;
CREATE INDEX routine_next_review ON routine(next_review_at) WHERE next_review_at IS NOT NULL;

-- One row per (person, local day, kind): a reminder (or the question that replaces it) on
-- that day, or the weekly review of that ISO week ('2026-W11'). The primary key makes a
-- second send impossible: claimed ('sending') before the send, then 'sent' or 'dropped'.
CREATE TABLE reminders (
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day          TEXT    NOT NULL,
    kind         TEXT    NOT NULL CHECK (kind IN ('remind', 'review')),
    ask          INTEGER NOT NULL DEFAULT 0 CHECK (ask IN (0, 1)),
    status       TEXT    NOT NULL CHECK (status IN ('sending', 'sent', 'dropped')),
    due_at       INTEGER NOT NULL,
    at           INTEGER NOT NULL,
    message_id   INTEGER,
    reason       TEXT,
    answered_at  INTEGER,
    PRIMARY KEY (user_id, day, kind)
);
CREATE INDEX reminders_user_due ON reminders(user_id, kind, due_at);
