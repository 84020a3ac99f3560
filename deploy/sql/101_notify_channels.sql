-- 101_notify_channels.sql: an organisation's delivery channels (issue 22),
-- imported by komek-directory from DIR/channels.csv and read by
-- komek-notify.  channel 'email': target is one address; 'webhook':
-- target is an https:// URL and secret the shared HMAC key.
-- digest_minutes: 0 sends every task at once; N > 0 gathers non-urgent
-- tasks of an e-mail channel into one message every N minutes (urgent
-- ones, and webhooks, always go at once).  The secret is the
-- organisation's, never logged and never copied into the history.

CREATE TABLE org_channels (
    org_id         text        NOT NULL REFERENCES organisations ON DELETE CASCADE,
    channel        text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    target         text        NOT NULL CHECK (length(target) BETWEEN 3 AND 2048),
    secret         text        CHECK ((channel = 'webhook') = (secret IS NOT NULL)),
    digest_minutes integer     NOT NULL DEFAULT 0
                   CHECK (digest_minutes BETWEEN 0 AND 1440),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, channel, target)
);

-- Every change to a channel, written by a trigger (the secret is not kept:
-- only whether it changed).
CREATE TABLE org_channel_history (
    id             bigserial   PRIMARY KEY,
    org_id         text        NOT NULL,
    channel        text        NOT NULL,
    target         text        NOT NULL,
    op             text        NOT NULL CHECK (op IN ('added', 'changed', 'removed')),
    digest_minutes integer,
    secret_changed boolean     NOT NULL DEFAULT false,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX org_channel_history_org ON org_channel_history (org_id, changed_at);

CREATE FUNCTION org_channels_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO org_channel_history (org_id, channel, target, op, digest_minutes)
        VALUES (NEW.org_id, NEW.channel, NEW.target, 'added', NEW.digest_minutes);
        RETURN NEW;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.digest_minutes IS DISTINCT FROM OLD.digest_minutes
           OR NEW.secret IS DISTINCT FROM OLD.secret THEN
            INSERT INTO org_channel_history (org_id, channel, target, op,
                                             digest_minutes, secret_changed)
            VALUES (NEW.org_id, NEW.channel, NEW.target, 'changed',
                    NEW.digest_minutes, NEW.secret IS DISTINCT FROM OLD.secret);
        END IF;
        RETURN NEW;
    END IF;
    INSERT INTO org_channel_history (org_id, channel, target, op, digest_minutes)
    VALUES (OLD.org_id, OLD.channel, OLD.target, 'removed', OLD.digest_minutes);
    RETURN OLD;
END $$;

CREATE TRIGGER org_channels_history
    AFTER INSERT OR UPDATE OR DELETE ON org_channels
    FOR EACH ROW EXECUTE FUNCTION org_channels_history();
