-- 0005_directory_profile: optional profile fields of the tenant fixture's directory, shown by
-- the directory reads (lifecycle spec 1). NULL where the fixture does not give them.
ALTER TABLE users ADD COLUMN mail TEXT;
ALTER TABLE users ADD COLUMN account_enabled INTEGER CHECK (account_enabled IN (0, 1));
ALTER TABLE users ADD COLUMN user_type TEXT CHECK (user_type IN ('Member', 'Guest'));
ALTER TABLE teams ADD COLUMN description TEXT;
ALTER TABLE teams ADD COLUMN visibility TEXT
    CHECK (visibility IN ('private', 'public', 'hiddenMembership'));
-- RFC 3339, UTC, nanoseconds, fixed width.
ALTER TABLE chats ADD COLUMN created_date_time TEXT;
