-- How many attempts each node finished per minute, by outcome: the console's charts.
CREATE TABLE job_minutes (
    minute    INTEGER NOT NULL,
    node      TEXT    NOT NULL,
    succeeded INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0,
    retried   INTEGER NOT NULL DEFAULT 0,
    cancelled INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, node)
) WITHOUT ROWID;
