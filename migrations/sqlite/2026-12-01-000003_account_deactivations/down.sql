DROP TABLE account_deactivations;
