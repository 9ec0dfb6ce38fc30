-- The reminders of every task with a due time (src/scheduler/tasks.rs): one row per task, with
-- the due time its reminders are for and the next one to send ('due' at the due time,
-- 'overdue' a configured time after it), or none (both NULL) once both were sent. A new due
-- time replaces the row; a done or cancelled task, or one whose due time was removed, has none.
-- Instants are microseconds since the Unix epoch.
CREATE TABLE app_task_reminders (
    tenant       TEXT    NOT NULL,
    task         TEXT    NOT NULL,
    -- The owner as last tracked; a reminder goes to the owner the task has when it is sent.
    owner        TEXT    NOT NULL,
    due_at       INTEGER NOT NULL,
    kind         TEXT    CHECK (kind IN ('due', 'overdue')),
    remind_at    INTEGER,
    -- A scheduler that claimed the row acts on it alone until then.
    leased_until INTEGER,
    PRIMARY KEY (tenant, task),
    CHECK ((kind IS NULL) = (remind_at IS NULL))
) STRICT;

CREATE INDEX app_task_reminders_due ON app_task_reminders (tenant, remind_at);
