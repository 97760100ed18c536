-- Version 2: views for researchers (one row per run with its metrics; final accuracy per task)
-- and indexes for the report's lookups.

CREATE INDEX runs_status ON runs (status);
CREATE INDEX runs_group ON runs (sweep_id, group_key);

-- One row per run: identity, configuration columns, status and summary metrics.
-- mean_growth_pct and mean_calibration_params average over tasks 2..n (task 1 uses the base).
CREATE VIEW run_summary AS
SELECT
    r.id,
    s.name AS sweep,
    r.name,
    r.method,
    r.benchmark,
    r.arch,
    r.alpha,
    r.beta,
    r.seed,
    r.base_source,
    r.status,
    r.tasks,
    r.finished_tasks,
    r.acc,
    r.bwt,
    r.forgetting,
    r.backbone_params,
    r.base_params,
    (SELECT max(p.cumulative_params) FROM params p WHERE p.run_id = r.id) AS final_params,
    (SELECT avg(p.calibration_params) FROM params p WHERE p.run_id = r.id AND p.task > 1)
        AS mean_calibration_params,
    (SELECT avg(p.growth_pct) FROM params p WHERE p.run_id = r.id AND p.task > 1)
        AS mean_growth_pct,
    r.wall_seconds,
    r.device,
    r.host,
    r.started_at,
    r.finished_at,
    r.attempts,
    r.git_commit,
    r.git_dirty,
    r.group_key,
    r.swept
FROM runs r
LEFT JOIN sweeps s ON s.id = r.sweep_id;

-- Accuracy of each task at the end of its run (the last row of the matrix).
CREATE VIEW final_accuracy AS
SELECT a.run_id, a.eval_task AS task, a.accuracy, a.loss
FROM accuracy a
WHERE a.after_task = (SELECT max(b.after_task) FROM accuracy b WHERE b.run_id = a.run_id);
