DROP TABLE consent_requests;
DROP TABLE authorisations;
DROP TABLE mandates;
DROP TABLE usagers;
