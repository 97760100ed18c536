-- Version 6: jobs that stopped to be requeued (Slurm preemption, time limit, lost node, or the
-- worker's SIGUSR2 warning) and continued from their last finished task. 0 and NULL for runs
-- recorded before this version.
ALTER TABLE runs ADD COLUMN requeues INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN requeue_reason TEXT;   -- why the last requeue happened
