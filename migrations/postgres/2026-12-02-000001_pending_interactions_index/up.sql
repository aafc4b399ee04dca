-- The bound on pending authorization requests per address counts the *pending* ones:
-- the index on (client_addr, expires_at) made it read every request of the last 15
-- minutes from that address, finished or not (every flow from one proxy: thousands of
-- rows on each authorize). With the status in the index the count reads only the
-- pending ones.
DROP INDEX oidc_interactions_addr;
CREATE INDEX oidc_interactions_addr_pending ON oidc_interactions (client_addr, status, expires_at);
