-- Runs once, when the postgresql service initialises an empty data volume
-- (/docker-entrypoint-initdb.d). The temporal and temporal_visibility databases are
-- created by temporal-admin-tools (scripts/setup-postgres.sh); this creates the engine's
-- own role and database next to them. Dev credentials: followup / followup.
CREATE ROLE followup LOGIN PASSWORD 'followup';
CREATE DATABASE followup OWNER followup;
