-- Results store, version 1: sweeps, runs and everything a finished run produced.
-- Times are ISO-8601 UTC text (e.g. 2026-01-31T12:00:00.000Z); JSON columns hold text JSON.
-- A REAL that was NaN (a diverged loss) is stored as NULL, as SQLite does.
-- Task numbers are 1-based everywhere, as in the worker events.

CREATE TABLE sweeps (
    id          INTEGER PRIMARY KEY,
    name        TEXT    NOT NULL UNIQUE,
    study_file  TEXT,
    profile     TEXT,
    spec        TEXT    NOT NULL DEFAULT '{}',   -- the expanded study spec, JSON
    created_at  TEXT    NOT NULL,
    updated_at  TEXT    NOT NULL
);

CREATE TABLE runs (
    id            INTEGER PRIMARY KEY,
    sweep_id      INTEGER REFERENCES sweeps(id) ON DELETE CASCADE,  -- NULL for a single `ccll train`
    name          TEXT    NOT NULL,
    config        TEXT    NOT NULL,   -- the full run config, JSON
    config_hash   TEXT    NOT NULL,   -- hex sha256 of the canonical config
    group_key     TEXT    NOT NULL,   -- hash of the config without the seed
    swept         TEXT    NOT NULL DEFAULT '{}',  -- this run's grid values, JSON object
    method        TEXT    NOT NULL,
    benchmark     TEXT    NOT NULL,
    arch          TEXT    NOT NULL,
    alpha         INTEGER,
    beta          INTEGER,
    seed          INTEGER NOT NULL,
    base_source   TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'queued'
                  CHECK (status IN ('queued', 'running', 'finished', 'failed', 'interrupted')),
    error         TEXT,
    log_tail      TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    queued_at     TEXT    NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    device        TEXT,
    host          TEXT,
    git_commit    TEXT,
    git_dirty     INTEGER NOT NULL DEFAULT 0 CHECK (git_dirty IN (0, 1)),
    -- Filled when the run finishes.
    tasks              INTEGER,   -- task count (width of the accuracy matrix)
    finished_tasks     INTEGER,   -- rows of the accuracy matrix (tasks trained)
    loss_rows          INTEGER,   -- rows of the loss matrix (normally = finished_tasks)
    acc                REAL,      -- final average accuracy, percent
    bwt                REAL,      -- backward transfer, percentage points
    forgetting         REAL,      -- average forgetting, percentage points
    backbone_params    INTEGER,
    base_params        INTEGER,   -- backbone plus all heads: denominator of growth_pct
    flops_base         INTEGER,   -- forward FLOPs of one image through the base
    flops_calibration  INTEGER,   -- what one task's calibration adds
    wall_seconds       REAL
);
-- A resumed sweep re-registers its runs: one run per (sweep, config), NULL sweep included.
CREATE UNIQUE INDEX runs_sweep_config ON runs (ifnull(sweep_id, -1), config_hash);
CREATE INDEX runs_sweep ON runs (sweep_id);

-- The task sequence of a finished run.
CREATE TABLE tasks (
    run_id         INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    task           INTEGER NOT NULL,
    name           TEXT    NOT NULL,
    classes        TEXT    NOT NULL,   -- JSON array of the original class labels
    train_samples  INTEGER NOT NULL,
    test_samples   INTEGER NOT NULL,
    PRIMARY KEY (run_id, task)
) WITHOUT ROWID;

-- The accuracy matrix: test accuracy (percent) and loss of eval_task after training after_task.
CREATE TABLE accuracy (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    after_task  INTEGER NOT NULL,
    eval_task   INTEGER NOT NULL CHECK (eval_task <= after_task),
    accuracy    REAL,
    loss        REAL,
    PRIMARY KEY (run_id, after_task, eval_task)
) WITHOUT ROWID;

-- Parameters each task adds.
CREATE TABLE params (
    run_id              INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    task                INTEGER NOT NULL,
    calibration_params  INTEGER NOT NULL,   -- task-specific parameters apart from the head
    head_params         INTEGER NOT NULL,
    base_params         INTEGER NOT NULL,   -- the run's base (backbone + all heads)
    growth_pct          REAL,               -- 100 * calibration_params / base_params
    cumulative_params   INTEGER NOT NULL,   -- whole model once this task is added
    PRIMARY KEY (run_id, task)
) WITHOUT ROWID;

-- Per-epoch training curves; seq keeps the order the worker reported them in.
CREATE TABLE curves (
    run_id      INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    task        INTEGER NOT NULL,
    epoch       INTEGER NOT NULL,
    train_loss  REAL,
    train_acc   REAL,
    lr          REAL,
    seconds     REAL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Files a run wrote (checkpoints).
CREATE TABLE artifacts (
    run_id  INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    path    TEXT    NOT NULL,
    sha256  TEXT    NOT NULL,
    bytes   INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

-- Pretrained shared bases, found by the hash of what produced them, across sweeps.
CREATE TABLE base_checkpoints (
    hash        TEXT PRIMARY KEY,   -- content hash of the base-pretraining config
    path        TEXT NOT NULL,
    sha256      TEXT NOT NULL,      -- of the checkpoint file
    bytes       INTEGER,
    source      TEXT NOT NULL,      -- what it was trained on, in words
    created_at  TEXT NOT NULL
);
