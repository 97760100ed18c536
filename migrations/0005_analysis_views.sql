-- Version 5: a store that pandas, polars and sqlite3 read as it is.
--  * One name per concept: the task a cell measures is `task` in every table and view (it was
--    `eval_task` in accuracy and task_agnostic), beside `after_task`, the tasks trained so far.
--  * Where a run lives: its run folder and the shared base checkpoint it started from (NULL for
--    runs recorded before this version, and for runs that use no shared base).
--  * runs_wide and accuracy_long: the config's usual keys as plain columns (no dots, no JSON),
--    the sweep by name. A grid key maps to its column by one rule: a section's `name` is the
--    section (method.name -> method, benchmark.name -> benchmark), `base.X` is `base_X`, any
--    other key is its last segment (method.alpha -> alpha, train.seed -> seed). NULL in an
--    optional column means the documented default applied (the config left it unset).

ALTER TABLE accuracy RENAME COLUMN eval_task TO task;
ALTER TABLE task_agnostic RENAME COLUMN eval_task TO task;

ALTER TABLE runs ADD COLUMN run_dir TEXT;     -- absolute path of the run folder
ALTER TABLE runs ADD COLUMN base_hash TEXT;   -- base_checkpoints.hash of the shared base used

-- One row per run: identity, every usual config key as a column, status, summary metrics.
CREATE VIEW runs_wide AS
SELECT
    r.id                                                      AS run_id,
    s.name                                                    AS sweep,
    r.name                                                    AS run,
    r.run_dir,
    r.method,
    r.benchmark,
    r.arch,
    json_extract(r.config, '$.model.width')                   AS width,
    r.alpha,
    r.beta,
    r.seed,
    json_extract(r.config, '$.train.epochs')                  AS epochs,
    json_extract(r.config, '$.train.base_epochs')             AS base_epochs,
    json_extract(r.config, '$.train.batch_size')              AS batch_size,
    json_extract(r.config, '$.train.optimizer')               AS optimizer,
    json_extract(r.config, '$.train.lr')                      AS lr,
    json_extract(r.config, '$.train.calibration_optimizer')   AS calibration_optimizer,
    json_extract(r.config, '$.train.calibration_lr')          AS calibration_lr,
    json_extract(r.config, '$.train.momentum')                AS momentum,
    json_extract(r.config, '$.train.weight_decay')            AS weight_decay,
    json_extract(r.config, '$.train.schedule')                AS schedule,
    json_extract(r.config, '$.benchmark.tasks')               AS benchmark_tasks,
    json_extract(r.config, '$.benchmark.per_class_cap')       AS per_class_cap,
    json_extract(r.config, '$.benchmark.test_per_class_cap')  AS test_per_class_cap,
    json_extract(r.config, '$.benchmark.validation_fraction') AS validation_fraction,
    json_extract(r.config, '$.benchmark.evaluate_on')         AS evaluate_on,
    json_extract(r.config, '$.method')                        AS method_options,
    r.base_source,
    json_extract(r.config, '$.base.finetune')                 AS base_finetune,
    r.base_hash,
    b.path                                                    AS base_path,
    r.status,
    r.error,
    r.attempts,
    r.tasks,
    r.finished_tasks,
    r.acc,
    r.bwt,
    r.forgetting,
    r.task_inference,
    r.tag_acc,
    r.tag_bwt,
    r.tag_forgetting,
    r.backbone_params,
    r.base_params,
    (SELECT max(p.cumulative_params) FROM params p WHERE p.run_id = r.id) AS final_params,
    (SELECT avg(p.growth_pct) FROM params p WHERE p.run_id = r.id AND p.task > 1)
                                                              AS mean_growth_pct,
    r.flops_base,
    r.flops_calibration,
    r.wall_seconds,
    r.device,
    r.host,
    r.data_source,
    r.started_at,
    r.finished_at,
    r.git_commit,
    r.git_dirty,
    r.config_hash,
    r.group_key,
    r.swept
FROM runs r
LEFT JOIN sweeps s ON s.id = r.sweep_id
LEFT JOIN base_checkpoints b ON b.hash = r.base_hash;

-- The accuracy matrices in long form: one row per (run, after_task, task) cell, with the run's
-- sweep, method and usual config keys beside it (what a groupby or a pivot needs).
CREATE VIEW accuracy_long AS
SELECT
    w.sweep,
    w.run_id,
    w.run,
    w.method,
    w.benchmark,
    w.arch,
    w.width,
    w.alpha,
    w.beta,
    w.seed,
    w.epochs,
    w.lr,
    w.calibration_optimizer,
    w.calibration_lr,
    w.per_class_cap,
    w.base_source,
    w.base_finetune,
    w.group_key,
    a.after_task,
    a.task,
    a.accuracy,
    a.loss
FROM accuracy a
JOIN runs_wide w ON w.run_id = a.run_id;
