-- The cadence version each email and task was made under, so per-step statistics count a
-- step of version 3 apart from the same step id of version 4 (a deal migrated mid-visit has
-- rows of both). The send and task activities write it from the workflow's version at the
-- time; rows older than this migration get the deal's version at the time of the migration
-- (the best there is: nothing recorded the version per row before).
ALTER TABLE email_ledger ADD COLUMN cadence_version bigint;
ALTER TABLE tasks ADD COLUMN cadence_version bigint;

UPDATE email_ledger l SET cadence_version = d.cadence_version FROM deals d WHERE d.id = l.deal_id;
UPDATE tasks t SET cadence_version = d.cadence_version FROM deals d WHERE d.id = t.deal_id;

-- The statistics read a pipeline's emails and tasks by version and time.
CREATE INDEX email_ledger_version_idx ON email_ledger (cadence_version, claimed_at);
CREATE INDEX tasks_version_idx ON tasks (cadence_version, created_at);

---- create above / drop below ----

DROP INDEX tasks_version_idx;
DROP INDEX email_ledger_version_idx;
ALTER TABLE tasks DROP COLUMN cadence_version;
ALTER TABLE email_ledger DROP COLUMN cadence_version;
