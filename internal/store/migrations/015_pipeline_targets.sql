-- What ops expect a pipeline to close in a month, per currency: the coverage measure of
-- the pipeline metrics compares the open pipeline expected to close that month with it.
-- targets.go writes it.
CREATE TABLE pipeline_targets (
    pipeline_id text NOT NULL,
    month       date NOT NULL CHECK (extract(day FROM month) = 1),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    amount      numeric NOT NULL CHECK (amount >= 0 AND scale(amount) <= 4),
    set_at      timestamptz NOT NULL DEFAULT now(),
    set_by      text NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline_id, month, currency)
);

---- create above / drop below ----

DROP TABLE pipeline_targets;
