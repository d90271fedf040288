-- Which session a reminder's start button started (issue 13: /export's `reminded` column).
-- Left empty for "Not today", for a reminder nobody answered, and for rows from before.
ALTER TABLE reminders ADD COLUMN session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL;
