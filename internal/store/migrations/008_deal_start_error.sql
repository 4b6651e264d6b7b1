-- Why a deal's workflow could not start: its cadence version cannot be loaded into it (over
-- what a deal can load, or a model that does not decode), so the deal never entered a
-- stage. deal show and GET /api/deals/{deal} show it instead of a blank stage; the deal's
-- next projection clears it.
ALTER TABLE deals ADD COLUMN start_error text NOT NULL DEFAULT '';

---- create above / drop below ----

ALTER TABLE deals DROP COLUMN start_error;
