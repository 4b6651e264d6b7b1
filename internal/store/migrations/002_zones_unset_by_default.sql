-- An owner's or contact's zone, country and hours are overrides of the pipeline's calendar:
-- empty means "use the pipeline's". (Rows written before keep their explicit values.)
ALTER TABLE owners ALTER COLUMN zone SET DEFAULT '';
ALTER TABLE owners ALTER COLUMN business_hours SET DEFAULT '';
ALTER TABLE contacts ALTER COLUMN zone SET DEFAULT '';

---- create above / drop below ----

ALTER TABLE owners ALTER COLUMN zone SET DEFAULT 'UTC';
ALTER TABLE owners ALTER COLUMN business_hours SET DEFAULT 'Mon-Fri 09:00-17:00';
ALTER TABLE contacts ALTER COLUMN zone SET DEFAULT 'UTC';
