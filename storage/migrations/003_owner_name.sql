-- In a group, each message says whose session it is: the owner's first name, as Telegram
-- gave it when the session started (erased with the user, like everything else).
ALTER TABLE sessions ADD COLUMN owner_name TEXT CHECK (owner_name IS NULL OR length(owner_name) <= 64);
