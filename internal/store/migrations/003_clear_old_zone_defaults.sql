-- Rows written before 002 hold the old defaults ('UTC', 'Mon-Fri 09:00-17:00'), which would
-- now read as explicit overrides of the pipeline's calendar. Clear them back to "unset".
UPDATE owners SET zone = '' WHERE zone = 'UTC';
UPDATE owners SET business_hours = '' WHERE business_hours = 'Mon-Fri 09:00-17:00';
UPDATE contacts SET zone = '' WHERE zone = 'UTC';

---- create above / drop below ----

UPDATE owners SET zone = 'UTC' WHERE zone = '';
UPDATE owners SET business_hours = 'Mon-Fri 09:00-17:00' WHERE business_hours = '';
UPDATE contacts SET zone = 'UTC' WHERE zone = '';
