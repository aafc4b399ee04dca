DROP TABLE remote_consents;
DROP TABLE usager_sessions;
