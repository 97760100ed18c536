//! `pnn`: Progressive Neural Networks (Rusu et al., 2016). Every task gets a new column (a
//! whole backbone) and a head; the columns of earlier tasks, their lateral adapters and their
//! heads are frozen (BN in eval mode) when their task ends and never written again, so there is
//! no forgetting, and the new column can reuse the old columns' features through lateral
//! adapters. Task j is predicted by columns 1..j and head j.
//!
//! Lateral adapters: for every stage i >= 1 of column k and every earlier column j < k, an
//! adapter takes column j's stage i-1 output h_j, scales it by a learned scalar a and applies
//! a 1x1 convolution U (no bias, C -> C channels, C = the stage's input width); the adapters'
//! outputs are added to column k's own stage i input:
//!
//! `input_k,i = h_k,i-1 + sum_{j<k} U_kj,i (a_kj,i h_j,i-1)`
//!
//! Rusu et al. add the laterals to the pre-activation of layer i (`W h_k + sum U h_j`); adding
//! them to the input of stage i instead is the same for a stage that starts with a linear map
//! (`W (h_k + U h_j) = W h_k + (W U) h_j`) and lets the columns stay unmodified backbones. Their
//! convolutional adapters also reduce the dimension with a 1x1 conv and a non-linearity before
//! U; ours are the single scaled 1x1 conv. As in the paper, a starts at a small random value
//! (uniform in [0, 0.1)); U starts as PyTorch's default conv init (Kaiming uniform, fan-in).
//!
//! Accounting: the backbone is column 1; task t >= 2 adds a whole column and its t-1 adapters
//! per stage (counted from the real variable stores), so more than `separate`. FLOPs: `base` is
//! one column and a head; `calibration` is what inferring the last task of the benchmark adds
//! to that: n-1 more columns and all n(n-1)/2 adapters per stage (the cost grows with the task).
//!
//! Checkpoints: column 1 is `base.safetensors` (the calibrated methods' base format, so a
//! shared base job can train task 1), column t >= 2 with the adapters into it is
//! `column{t}.safetensors` (`lateral.stage{i}.from{j}.{weight,scale}` beside the backbone's
//! names), head t is `task{t}.safetensors`. No options.

use super::setup::Setup;
use super::trunk::{head_file, prefixed, save_network_and_head, Network};
use super::{base_file, Method, MethodEntry, MethodInfo, Model, NoOptions, ParamCounts, StrategyContext};
use crate::accounting;
use crate::checkpoint::load_store;
use crate::error::KeyError;
use crate::nn::{Backbone, Fwd, TaskModules};
use crate::optim::{LrGroup, ParamGroup};
use ccll_results::{Artifact, Flops};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tch::{nn, Kind, Tensor};

pub static ENTRY: MethodEntry<NoOptions> = MethodEntry {
    info: MethodInfo {
        name: "pnn",
        shares_base: true,
        about: "baseline: progressive networks, a new column per task with lateral adapters (Rusu et al.)",
    },
    build: |_, ctx| Ok(Box::new(Pnn::new(ctx)?)),
};

/// A scaled 1x1 convolution from an earlier column into this one.
struct Lateral {
    weight: Tensor,
    scale: Tensor,
}

impl Lateral {
    fn new(p: &nn::Path, channels: i64) -> Self {
        Self {
            weight: p.var(
                "weight",
                &[channels, channels, 1, 1],
                nn::Init::Kaiming {
                    dist: nn::init::NormalOrUniform::Uniform,
                    fan: nn::init::FanInOut::FanIn,
                    non_linearity: nn::init::NonLinearity::Linear,
                },
            ),
            scale: p.var("scale", &[1], nn::Init::Uniform { lo: 0.0, up: 0.1 }),
        }
    }

    fn forward(&self, h: &Tensor) -> Tensor {
        (h * &self.scale).conv2d(&self.weight, None::<Tensor>, [1, 1], [0, 0], [1, 1], 1)
    }
}

/// One column: a backbone and, for stages 1.., the adapters from every earlier column, all in
/// the column's variable store.
struct Column {
    net: Network,
    /// `laterals[i - 1][j]`: into stage i from column j.
    laterals: Vec<Vec<Lateral>>,
}

impl Column {
    /// Column `k` (0-based), with adapters from columns `0..k`.
    fn new(setup: &Setup, k: usize) -> Self {
        let net = setup.network();
        let root = net.vs.root() / "lateral";
        let laterals = (1..net.backbone.num_stages())
            .map(|i| {
                let c = net.backbone.stage_out_channels(i - 1);
                (0..k)
                    .map(|j| {
                        Lateral::new(&(&root / format!("stage{i}") / format!("from{}", j + 1)), c)
                    })
                    .collect()
            })
            .collect();
        Self { net, laterals }
    }
}

pub struct Pnn {
    setup: Setup,
    /// Column of task 1 is built with the strategy (as the calibrated methods' base is);
    /// column t when task t begins.
    columns: Vec<Column>,
    heads: Vec<TaskModules>,
}

impl Pnn {
    pub fn new(ctx: &StrategyContext) -> Result<Self, KeyError> {
        let setup = Setup::new(ctx, ENTRY.info.name)?;
        let columns = vec![Column::new(&setup, 0)];
        Ok(Self {
            setup,
            columns,
            heads: Vec::new(),
        })
    }

    fn add_task(&mut self, task: usize) -> anyhow::Result<()> {
        anyhow::ensure!(
            task == self.heads.len(),
            "task {} started after {} tasks",
            task + 1,
            self.heads.len()
        );
        if task > 0 {
            self.columns.push(Column::new(&self.setup, task));
        }
        let head = self
            .setup
            .head(task, self.columns[task].net.backbone.feature_dim())?;
        self.heads.push(head);
        Ok(())
    }

    fn column_file(dir: &Path, task: usize) -> PathBuf {
        if task == 0 {
            base_file(dir)
        } else {
            dir.join(format!("column{}.safetensors", task + 1))
        }
    }

    /// Output shapes `[C, H, W]` of every stage for one image.
    fn stage_shapes(&self) -> Vec<[i64; 3]> {
        let b = &self.columns[0].net.backbone;
        let s = self.setup.image_shape;
        let x = Tensor::zeros([1, s[0], s[1], s[2]], (Kind::Float, self.setup.device));
        let fwd = Fwd::eval(None);
        tch::no_grad(|| {
            let mut y = x;
            (0..b.num_stages())
                .map(|i| {
                    y = b.stage(i, &y, &fwd);
                    let d = y.size();
                    [d[1], d[2], d[3]]
                })
                .collect()
        })
    }
}

impl Method for Pnn {
    type Model = Self;

    fn name(&self) -> &str {
        ENTRY.info.name
    }

    fn model(&self) -> &Self {
        self
    }

    fn model_mut(&mut self) -> &mut Self {
        self
    }
}

impl Pnn {
    /// The last stage's maps of columns `0..=task`, run stage by stage, each column's stage
    /// input fed the adapters from the columns before it; with `training`, column `task` uses
    /// batch statistics.
    fn column_maps(&self, x: &Tensor, task: usize, training: bool) -> Vec<Tensor> {
        let columns = &self.columns[..=task];
        let fwd = |c: usize| Fwd {
            base_train: training && c == task,
            ..Fwd::eval(None)
        };
        let stages = columns[0].net.backbone.num_stages();
        let mut hs: Vec<Tensor> = columns
            .iter()
            .enumerate()
            .map(|(c, col)| col.net.backbone.stage(0, x, &fwd(c)))
            .collect();
        for i in 1..stages {
            hs = columns
                .iter()
                .enumerate()
                .map(|(c, col)| {
                    let input = col.laterals[i - 1]
                        .iter()
                        .zip(&hs)
                        .fold(hs[c].shallow_clone(), |acc, (lat, h)| acc + lat.forward(h));
                    col.net.backbone.stage(i, &input, &fwd(c))
                })
                .collect();
        }
        hs
    }
}

impl Model for Pnn {
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.add_task(task)
    }

    /// The new column (with its adapters) and the new head.
    fn trainable(&self) -> Vec<ParamGroup> {
        let Some(task) = self.heads.len().checked_sub(1) else {
            return Vec::new();
        };
        let mut tensors = self.columns[task].net.vs.trainable_variables();
        tensors.extend(self.heads[task].head_tensors());
        vec![ParamGroup::new(tensors, LrGroup::Base)]
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        let hs = self.column_maps(x, task, train && task + 1 == self.heads.len());
        self.heads[task].logits(&Backbone::pool(&hs[task]))
    }

    /// Column t's features depend only on columns `0..=t`: one pass gives every task's.
    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        let hs = self.column_maps(x, upto, false);
        self.heads[..=upto]
            .iter()
            .zip(&hs)
            .map(|(head, h)| head.logits(&Backbone::pool(h)))
            .collect()
    }

    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        let hs = self.column_maps(x, upto, false);
        Some(hs[..=upto].iter().map(Backbone::pool).collect())
    }

    fn end_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.columns[task].net.vs.freeze();
        self.heads[task].vs.freeze();
        Ok(())
    }

    fn param_counts(&self) -> ParamCounts {
        ParamCounts {
            backbone: self.columns[0].net.params(),
            per_task: self
                .heads
                .iter()
                .enumerate()
                .map(|(t, h)| {
                    let own = if t == 0 {
                        0
                    } else {
                        self.columns[t].net.params()
                    };
                    (own, h.head_params())
                })
                .collect(),
        }
    }

    /// `column{t}.NAME` (adapters: `column{t}.lateral.stage{i}.from{j}.*`) and `task{t}.head.*`.
    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = BTreeMap::new();
        for (i, c) in self.columns.iter().enumerate() {
            out.extend(prefixed(&c.net.vs, &format!("column{}", i + 1)));
        }
        for (i, h) in self.heads.iter().enumerate() {
            out.extend(prefixed(&h.vs, &format!("task{}", i + 1)));
        }
        out
    }

    fn flops(&self) -> Flops {
        let backbone = &self.columns[0].net.backbone;
        let convs: u64 =
            accounting::trace_convs(backbone, self.setup.image_shape, self.setup.device)
                .iter()
                .map(|t| t.flops)
                .sum();
        let n = self.setup.task_classes.len().max(1) as u64;
        let shapes = self.stage_shapes();
        // One adapter into stage i: scale (C H W), 1x1 conv (2 C^2 H W), add (C H W).
        let per_adapter_set: u64 = shapes[..shapes.len().saturating_sub(1)]
            .iter()
            .map(|&[c, h, w]| {
                let (c, hw) = (c as u64, (h * w) as u64);
                2 * c * c * hw + 2 * c * hw
            })
            .sum();
        Flops {
            base: self.setup.base_flops(backbone),
            calibration: (n - 1) * convs + n * (n - 1) / 2 * per_adapter_set,
        }
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        anyhow::ensure!(task < self.heads.len(), "task {} was not trained", task + 1);
        save_network_and_head(
            &self.setup,
            dir,
            task,
            "column",
            (&self.columns[task].net.vs, &Self::column_file(dir, task)),
            &self.heads[task].vs,
        )
    }

    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        self.columns.truncate(1);
        self.heads.clear();
        for t in 0..tasks {
            self.add_task(t)?;
            load_store(&self.columns[t].net.vs, &Self::column_file(dir, t))?;
            load_store(&self.heads[t].vs, &head_file(dir, t))?;
            self.columns[t].net.vs.freeze();
            self.heads[t].vs.freeze();
        }
        Ok(())
    }
}
