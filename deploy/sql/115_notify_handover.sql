-- 115_notify_handover.sql: a handover closes the old organisation's task
-- for komek-notify too (issues 17 and 22).
--
-- komek-directory import hands an open task over to the building's new
-- organisation (109): the task-events message "handed_over" for the old
-- attempt, and the dispatch of attempt + 1 to the new one.  Like an
-- acknowledgement, the event cancels the old organisation's pending SLA
-- warnings and new-task e-mail of that attempt and marks it closed for a
-- dispatch message read later; the new organisation is told of attempt
-- + 1 as of any re-routed task.

ALTER TABLE notify_task_marks DROP CONSTRAINT notify_task_marks_event_check;
ALTER TABLE notify_task_marks ADD CONSTRAINT notify_task_marks_event_check
    CHECK (event IN ('acknowledged', 'resolved', 'rejected', 'handed_over'));
