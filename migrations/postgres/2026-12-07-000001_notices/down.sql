DROP TABLE helper_digests;
DROP TABLE expiry_reminders;
DROP TABLE use_notices;
