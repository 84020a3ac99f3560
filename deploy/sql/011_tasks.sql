-- 011_tasks.sql: dispatched tasks (komek-tasksink), their routing history,
-- and the transactional outbox of the inbox (komek-inbox).
--
-- tasks is one row per complaint, idempotent on complaint_id: a
-- re-delivered dispatch message changes nothing, a re-route (attempt + 1)
-- replaces the assignment.  Open311 reads status here: open/acknowledged
-- -> "open", resolved -> "closed".  contact is the resident's personal
-- data: the organisation needs it to call back; it is never logged and
-- never copied into analytics tables.

CREATE TABLE tasks (
    complaint_id    uuid        PRIMARY KEY,
    attempt         integer     NOT NULL CHECK (attempt >= 1),
    org_id          text        NOT NULL,
    org_kind        text        NOT NULL,
    building_id     text,
    district        text,
    category        text        NOT NULL,
    route_reason    text        NOT NULL,
    status          text        NOT NULL
                    CHECK (status IN ('open', 'acknowledged', 'resolved', 'rejected')),
    received_at     timestamptz NOT NULL,
    routed_at       timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    acknowledged_at timestamptz,
    resolved_at     timestamptz,
    status_note     text,
    description     text        NOT NULL,
    address         text,
    contact         jsonb,
    updated_at      timestamptz NOT NULL,
    -- the canonical complaint as dispatched (re-routing builds on it)
    complaint       jsonb       NOT NULL
);
CREATE INDEX tasks_org_open ON tasks (org_id, received_at)
    WHERE status IN ('open', 'acknowledged');
CREATE INDEX tasks_due ON tasks (due_at)
    WHERE status IN ('open', 'acknowledged');

-- Every assignment a complaint had: attempt 1 from the router, one more
-- per re-route.  (complaint_id, attempt) is unique, as on `dispatch`.
CREATE TABLE task_attempts (
    complaint_id uuid        NOT NULL,
    attempt      integer     NOT NULL,
    org_id       text        NOT NULL,
    route_reason text        NOT NULL,
    routed_at    timestamptz NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (complaint_id, attempt)
);

-- Transactional outbox: an inbox state change writes its task-events
-- message (and, for a rejection, the re-route's dispatch message) here in
-- the same transaction as the tasks row.  The inbox publishes right after
-- commit; komek-tasksink relays whatever is left (a crash in between).
-- Consumers deduplicate task-events on event_id, dispatch on
-- (complaint_id, attempt).  Also the staff-action history of a task.
CREATE TABLE task_outbox (
    event_id     uuid        PRIMARY KEY,
    topic        text        NOT NULL CHECK (topic IN ('task_events', 'dispatch')),
    msg_key      text        NOT NULL,
    payload      text        NOT NULL,
    complaint_id uuid        NOT NULL,
    attempt      integer     NOT NULL,
    org_id       text        NOT NULL,
    event        text        NOT NULL,
    note         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX task_outbox_unpublished ON task_outbox (created_at)
    WHERE published_at IS NULL;
CREATE INDEX task_outbox_complaint ON task_outbox (complaint_id, created_at);
