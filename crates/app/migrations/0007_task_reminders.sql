-- The reminders of every task with a due time (src/scheduler/tasks.rs): one row per task, with
-- the due time its reminders are for and the next one to send ('due' at the due time,
-- 'overdue' a configured time after it), or none (both NULL) once both were sent. A new due
-- time replaces the row; a done or cancelled task, or one whose due time was removed, has none.
CREATE TABLE app_task_reminders (
    tenant       text        NOT NULL,
    task         uuid        NOT NULL,
    -- The owner as last tracked; a reminder goes to the owner the task has when it is sent.
    owner        uuid        NOT NULL,
    due_at       timestamptz NOT NULL,
    kind         text        CHECK (kind IN ('due', 'overdue')),
    remind_at    timestamptz,
    -- A scheduler that claimed the row acts on it alone until then.
    leased_until timestamptz,
    PRIMARY KEY (tenant, task),
    CHECK ((kind IS NULL) = (remind_at IS NULL))
);

CREATE INDEX app_task_reminders_due ON app_task_reminders (tenant, remind_at)
    WHERE remind_at IS NOT NULL;

GRANT SELECT, INSERT, UPDATE, DELETE ON app_task_reminders TO crm_eventstore_app;
