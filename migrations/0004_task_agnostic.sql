-- Version 4: task-agnostic (TAg) evaluation, the task id not given at test time. Runs recorded
-- before this version have no rows here and NULL in the new runs columns.

-- The primary rule's summary, beside the task-aware acc / bwt / forgetting.
ALTER TABLE runs ADD COLUMN task_inference TEXT;       -- the primary rule (min_entropy, ...)
ALTER TABLE runs ADD COLUMN tag_acc REAL;              -- its final average TAg accuracy, percent
ALTER TABLE runs ADD COLUMN tag_bwt REAL;
ALTER TABLE runs ADD COLUMN tag_forgetting REAL;
ALTER TABLE runs ADD COLUMN taw_seconds_per_image REAL; -- task-aware inference time per image

-- Every rule that applies to a run, summarised.
CREATE TABLE task_inference (
    run_id            INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    rule              TEXT NOT NULL,
    is_primary        INTEGER NOT NULL,   -- 1 for the rule of runs.task_inference
    acc               REAL,
    bwt               REAL,
    forgetting        REAL,
    seconds_per_image REAL,               -- time to infer the task, per test image
    PRIMARY KEY (run_id, rule)
);

-- The TAg accuracy matrix of each rule, and the task-id accuracy (share of eval_task's test
-- images whose task the rule inferred right), after training after_task.
CREATE TABLE task_agnostic (
    run_id           INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    rule             TEXT NOT NULL,
    after_task       INTEGER NOT NULL,
    eval_task        INTEGER NOT NULL,
    accuracy         REAL,
    task_id_accuracy REAL,
    PRIMARY KEY (run_id, rule, after_task, eval_task)
);
