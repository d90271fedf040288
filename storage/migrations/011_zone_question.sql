-- "What time is it for you now?" (asked once, by /start or the first /goal or /remind):
-- 1 while that question waits for its answer, so a typed reply (a city, a zone, a time) is
-- read as the answer only then. ``zone_asked`` (007) says it was asked at all: never again.
ALTER TABLE routine ADD COLUMN zone_pending INTEGER NOT NULL DEFAULT 0
    CHECK (zone_pending IN (0, 1));
