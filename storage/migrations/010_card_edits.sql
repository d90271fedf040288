-- A summary no crash can take (issue 14): what a session's start card still has to show.
-- A summary whose send's fate is unknown (a 5xx, a timeout, a crash between claim and
-- confirm) is never sent again as a message (at most once); its card is turned into it
-- instead (an edit repeated is still one message). A session whose summary went out has its
-- card shown ended, retried here when that edit failed for a passing reason.
-- shows: 'summary' (the card becomes the summary, with its score buttons) or 'ended'.
-- status: 'pending' (to do at due_at), 'done', or 'failed' (no card, refused, or tried
-- `attempts` times: given up, and logged once).
CREATE TABLE card_edits (
    session_id  INTEGER PRIMARY KEY REFERENCES sessions(id) ON DELETE CASCADE,
    shows       TEXT    NOT NULL CHECK (shows IN ('summary', 'ended')),
    status      TEXT    NOT NULL CHECK (status IN ('pending', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    due_at      INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT
);
CREATE INDEX card_edits_pending ON card_edits(due_at) WHERE status = 'pending';
-- Claims left unconfirmed (the crash case): found on each dispatcher run without a scan.
CREATE INDEX deliveries_sending ON deliveries(at) WHERE status = 'sending';
