-- 094_key_channel.sql: each API key says through which channel its
-- complaints arrive (one of the complaint model's channels,
-- common/schema/complaint.schema.json), so komek-gateway no longer publishes
-- channel "unknown".  `komek-keys add --channel` sets it; existing keys are
-- web forms.
ALTER TABLE api_keys
    ADD COLUMN channel text NOT NULL DEFAULT 'web'
        CONSTRAINT api_keys_channel_check
        CHECK (channel IN ('phone', 'telegram', 'web', 'app', 'social', 'email'));
