-- A companion's summary and plan (issue "A companion, not only a timer").
-- settled_blocks: the nominal lengths of the focus blocks an /extend left behind ("25,25"),
-- which keep their lengths when the longer plan stretches the blocks still ahead; NULL: none.
ALTER TABLE sessions ADD COLUMN settled_blocks TEXT;
-- note: what the person replied to the summary, in their words (exported, shown in /history).
ALTER TABLE sessions ADD COLUMN note TEXT CHECK (note IS NULL OR length(note) BETWEEN 1 AND 500);
-- ended_by: who ended it — the timer, the person, or the 30-minute pause limit; NULL for
-- sessions ended before this version (and while running).
ALTER TABLE sessions ADD COLUMN ended_by TEXT
    CHECK (ended_by IS NULL OR ended_by IN ('time', 'stop', 'pause_limit', 'gone'));
-- The messages a reply to which is a note for a session: its summary, a score's answer.
CREATE TABLE note_targets (
    chat_id     INTEGER NOT NULL,
    message_id  INTEGER NOT NULL,
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, message_id)
) WITHOUT ROWID;
CREATE INDEX note_targets_session ON note_targets(session_id);
