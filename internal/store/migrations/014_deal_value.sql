-- A deal's value: amount (exact decimal, never a float), ISO 4217 currency, expected close
-- date. The pipeline's measures (won size, velocity, weighted pipeline, forecast) read them.
-- deal_value_changes keeps who set which value when, for the deal's timeline.
ALTER TABLE deals
    ADD COLUMN amount numeric CHECK (amount >= 0 AND scale(amount) <= 4),
    ADD COLUMN currency text NOT NULL DEFAULT '' CHECK (currency = '' OR currency ~ '^[A-Z]{3}$'),
    ADD COLUMN expected_close_on date,
    ADD CONSTRAINT deals_amount_has_currency CHECK (amount IS NULL OR currency <> '');

CREATE TABLE deal_value_changes (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    deal_id           uuid NOT NULL REFERENCES deals (id),
    amount            numeric,
    currency          text NOT NULL DEFAULT '',
    expected_close_on date,
    source            text NOT NULL,
    actor             text NOT NULL DEFAULT '',
    at                timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX deal_value_changes_deal_idx ON deal_value_changes (deal_id, at);
