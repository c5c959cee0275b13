-- A config's webhook: the sha256 (hex) of the secret in its address `/hooks/{config}/{secret}`.
-- The secret itself is shown once, when it is made; deleting the config deletes its webhook.
CREATE TABLE config_webhooks (
    config_id     TEXT    PRIMARY KEY REFERENCES configs (id) ON DELETE CASCADE,
    secret_sha256 TEXT    NOT NULL,
    created_at    INTEGER NOT NULL
);
