DROP TABLE membership_invitations;
ALTER TABLE memberships DROP COLUMN manager;
