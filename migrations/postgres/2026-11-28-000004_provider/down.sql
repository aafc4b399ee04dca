DROP TABLE access_tokens;
DROP TABLE authorization_codes;
DROP TABLE oidc_interactions;
DROP TABLE signing_keys;
DROP TABLE oidc_clients;
