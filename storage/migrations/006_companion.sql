-- The companion (nudges/companion.py): what the person answered, kept where it was asked.
-- How they felt at the start (optional; NULL: no answer, which is fine).
ALTER TABLE sessions ADD COLUMN start_energy TEXT
    CHECK (start_energy IS NULL OR start_energy IN ('fresh', 'ok', 'tired'));
-- The check-in spacing learnt from their history when the session started (NULL: the
-- standard 15), fixed for the session like its other plan parameters.
ALTER TABLE sessions ADD COLUMN checkin_minutes INTEGER
    CHECK (checkin_minutes IS NULL OR checkin_minutes BETWEEN 5 AND 90);
-- The answer to a proactive message: 👍 / 😵 on a check-in, the longer break accepted on a
-- break message; a 😵's reason; when (UTC ms) and at which active time (ms) it came. Flow is
-- derived from these, never stored as a flag.
ALTER TABLE deliveries ADD COLUMN answer TEXT
    CHECK (answer IS NULL OR answer IN ('ok', 'distracted', 'longer'));
ALTER TABLE deliveries ADD COLUMN answer_reason TEXT
    CHECK (answer_reason IS NULL OR answer_reason IN ('phone', 'people', 'wandering', 'tired', 'other'));
ALTER TABLE deliveries ADD COLUMN answered_at INTEGER;
ALTER TABLE deliveries ADD COLUMN answer_active_ms INTEGER
    CHECK (answer_active_ms IS NULL OR answer_active_ms >= 0);
-- Answers are found by the message they were given to.
CREATE INDEX deliveries_message ON deliveries(session_id, message_id) WHERE message_id IS NOT NULL;
