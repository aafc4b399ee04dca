ALTER TABLE structures DROP COLUMN kind;
DROP TABLE habilitation_messages;
DROP TABLE habilitation_aidants;
DROP TABLE habilitation_requests;
