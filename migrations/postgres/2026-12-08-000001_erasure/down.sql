DROP TABLE usager_erasures;
