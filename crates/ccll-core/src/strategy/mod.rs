//! Lifelong-learning methods in two parts, in the manner of FACIL's approaches:
//!
//! - a [`Model`]: the modules a task gets, what trains, the forward pass, state, checkpoints
//!   and counts; written once per family (the calibrated base, the shared [`trunk`], separate
//!   networks, PNN columns);
//! - a [`Method`]: hooks around its model (before a task, the training step, after a task, the
//!   tasks to train on, state of its own), each with the plain behaviour as its default, so a
//!   method that only changes the loss writes only the loss.
//!
//! Every `Method` is a [`Strategy`], what the training loop drives. The methods, their
//! options and their constructors are one table ([`method_table!`] below): adding a method is
//! one file in this folder and one line in the table (README "How to add a method").

mod calibrated;
pub mod options;
pub mod pretrain;
pub mod setup;
pub mod trunk;

pub use calibrated::{base_file, Calibrated, CalibrationSizes, CcmSize, ScmSize, Variant};
pub use options::{MethodOptions, NoOptions};

use crate::data::DeviceTask;
use crate::error::KeyError;
use crate::optim::ParamGroup;
use crate::settings::{ModelConfig, TrainConfig};
use ccll_results::{Artifact, Flops};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_yaml::{Mapping, Value};
use std::collections::BTreeMap;
use std::path::Path;
use tch::{Device, Tensor};

/// What a strategy is built from: the run config's sections a method reads, and the data's
/// shape (`RunConfig::strategy_context` fills it from a run config).
pub struct StrategyContext<'a> {
    pub method: &'a MethodConfig,
    pub model: &'a ModelConfig,
    pub train: &'a TrainConfig,
    pub device: Device,
    /// `[C, H, W]` of the images.
    pub image_shape: [i64; 3],
    /// Number of classes of every task, in order.
    pub task_classes: Vec<i64>,
}

/// Parameter counts from the real modules: the shared backbone, and per task seen so far the
/// task-specific parameters apart from the head, and the head.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamCounts {
    pub backbone: u64,
    pub per_task: Vec<(u64, u64)>,
}

/// The output of one training step.
pub struct StepOutput {
    pub loss: Tensor,
    pub logits: Tensor,
}

/// The model side of a method, implemented once per family.
pub trait Model {
    /// Adds the modules of `task` (0-based) and sets what trains while it is trained.
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()>;

    /// What the optimiser updates while training the current task.
    fn trainable(&self) -> Vec<ParamGroup>;

    /// Logits of `task` for a normalised batch; `train` selects training-mode behaviour
    /// (batch statistics) for the modules that are being trained.
    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor;

    /// Freezes what must not change any more once `task` is trained.
    fn end_task(&mut self, task: usize) -> anyhow::Result<()>;

    /// Inference logits of every task `0..=upto` for one batch, for task inference without
    /// the task id. Models whose tasks share computation override this to do it once.
    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        (0..=upto).map(|t| self.forward(x, t, false)).collect()
    }

    /// Inference features (what each task's head reads) of every task `0..=upto` for one
    /// batch, for task inference by distances in feature space; `None` where a model has no
    /// per-task heads (the pretrainer).
    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        let _ = (x, upto);
        None
    }

    /// Inference features of one task (what its head reads); models override this where
    /// one task costs less than all of them.
    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor> {
        self.all_task_features(x, task)
            .map(|mut f| f.swap_remove(task))
    }

    /// Every task's head (`0..T`) on the features of the superposition of the tasks' modules
    /// with per-image weights `weights` `[B, T]` mixed inside the network (SupSup's one-shot
    /// rule), differentiable by the weights; `None` when the tasks differ only after their
    /// shared features or not at all inside one network, so that the mixture is taken over
    /// the tasks' logits instead.
    fn mixed_logits(&self, x: &Tensor, weights: &Tensor) -> Option<Vec<Tensor>> {
        let _ = (x, weights);
        None
    }

    /// Parameter counts of the modules built so far.
    fn param_counts(&self) -> ParamCounts;

    /// Every tensor of the model (parameters and BN statistics) by a qualified name such as
    /// `base.conv1.weight` or `task2.calibration.conv1.scm.weight`: what tests compare to show
    /// what a task changed.
    fn state(&self) -> BTreeMap<String, Tensor>;

    /// Forward FLOPs per image of the base network and of one task's extra modules.
    fn flops(&self) -> Flops;

    /// Writes what `task` added (and the base once, after the task that trained it) into
    /// `dir`; returns the files written.
    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>>;

    /// Restores the modules of tasks `0..tasks` from a directory written by `save`.
    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()>;

    /// Takes a base pretrained on another dataset (a `base.safetensors` written by the
    /// pretraining job). `finetune`: task 1 then trains base and head as usual.
    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        let _ = (path, finetune);
        anyhow::bail!("this method does not support base.source other than task1")
    }
}

/// The learning side of a method: its model and the hooks it changes.
pub trait Method {
    type Model: Model;

    /// The method name, as in `method.name`.
    fn name(&self) -> &str;
    fn model(&self) -> &Self::Model;
    fn model_mut(&mut self) -> &mut Self::Model;

    /// Before `task` is trained: the model's modules for it.
    fn before_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.model_mut().begin_task(task)
    }

    /// The loss of one training batch of `task`: plain cross-entropy.
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        let logits = self.model().forward(x, task, true);
        StepOutput {
            loss: logits.cross_entropy_for_logits(labels),
            logits,
        }
    }

    /// After `task` is trained, with its data on the device (e.g. to estimate a Fisher
    /// matrix): the model freezes what it must.
    fn after_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        let _ = data;
        self.model_mut().end_task(task)
    }

    /// Tasks whose training data is used while `task` is trained (joint training: all so far).
    fn training_tasks(&self, task: usize) -> Vec<usize> {
        vec![task]
    }

    /// Parameters the method keeps beside its model (DGR's generator): memory, counted with
    /// the shared parameters.
    fn memory_params(&self) -> u64 {
        0
    }

    /// Tensors of the method beside its model (EWC's importances), by qualified name.
    fn own_state(&self) -> BTreeMap<String, Tensor> {
        BTreeMap::new()
    }

    /// Writes the method's own state after `task`, beside the model's files.
    fn save_own_state(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let _ = (dir, task);
        Ok(Vec::new())
    }

    /// Restores the method's own state after the model was loaded with `tasks` tasks.
    fn load_own_state(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        let _ = (dir, tasks);
        Ok(())
    }
}

/// What the training loop, evaluation and checkpointing drive; every [`Method`] is one.
pub trait Strategy {
    fn name(&self) -> &str;
    fn begin_task(&mut self, task: usize) -> anyhow::Result<()>;
    fn trainable(&self) -> Vec<ParamGroup>;
    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor;
    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor>;
    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>>;
    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor>;
    fn mixed_logits(&self, x: &Tensor, weights: &Tensor) -> Option<Vec<Tensor>>;
    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput;
    fn end_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()>;
    fn training_tasks(&self, task: usize) -> Vec<usize>;
    fn param_counts(&self) -> ParamCounts;
    /// The model's tensors and the method's own.
    fn state(&self) -> BTreeMap<String, Tensor>;
    fn flops(&self) -> Flops;
    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>>;
    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()>;
    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()>;
}

impl<M: Method> Strategy for M {
    fn name(&self) -> &str {
        Method::name(self)
    }

    fn begin_task(&mut self, task: usize) -> anyhow::Result<()> {
        self.before_task(task)
    }

    fn trainable(&self) -> Vec<ParamGroup> {
        self.model().trainable()
    }

    fn forward(&self, x: &Tensor, task: usize, train: bool) -> Tensor {
        self.model().forward(x, task, train)
    }

    fn all_task_logits(&self, x: &Tensor, upto: usize) -> Vec<Tensor> {
        self.model().all_task_logits(x, upto)
    }

    fn all_task_features(&self, x: &Tensor, upto: usize) -> Option<Vec<Tensor>> {
        self.model().all_task_features(x, upto)
    }

    fn task_features(&self, x: &Tensor, task: usize) -> Option<Tensor> {
        self.model().task_features(x, task)
    }

    fn mixed_logits(&self, x: &Tensor, weights: &Tensor) -> Option<Vec<Tensor>> {
        self.model().mixed_logits(x, weights)
    }

    fn training_step(&mut self, x: &Tensor, labels: &Tensor, task: usize) -> StepOutput {
        Method::training_step(self, x, labels, task)
    }

    fn end_task(&mut self, task: usize, data: &DeviceTask) -> anyhow::Result<()> {
        self.after_task(task, data)
    }

    fn training_tasks(&self, task: usize) -> Vec<usize> {
        Method::training_tasks(self, task)
    }

    fn param_counts(&self) -> ParamCounts {
        let mut counts = self.model().param_counts();
        counts.backbone += self.memory_params();
        counts
    }

    fn state(&self) -> BTreeMap<String, Tensor> {
        let mut out = self.model().state();
        out.extend(self.own_state());
        out
    }

    fn flops(&self) -> Flops {
        self.model().flops()
    }

    fn save(&self, dir: &Path, task: usize) -> anyhow::Result<Vec<Artifact>> {
        let mut out = self.model().save(dir, task)?;
        out.extend(self.save_own_state(dir, task)?);
        Ok(out)
    }

    fn load(&mut self, dir: &Path, tasks: usize) -> anyhow::Result<()> {
        self.model_mut().load(dir, tasks)?;
        self.load_own_state(dir, tasks)
    }

    fn load_pretrained_base(&mut self, path: &Path, finetune: bool) -> anyhow::Result<()> {
        self.model_mut().load_pretrained_base(path, finetune)
    }
}

/// What listing, validation and the runner know about a method without building it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MethodInfo {
    pub name: &'static str,
    /// Whether task 1 trains exactly a base network and head 1 with plain cross-entropy, so
    /// that a shared base-training job can stand in for it.
    pub shares_base: bool,
    pub about: &'static str,
}

/// A built strategy, or the config key that prevents it.
pub type Built = Result<Box<dyn Strategy>, KeyError>;

/// One row of the method table: what the method is, and how it is built from its options.
pub struct MethodEntry<O> {
    pub info: MethodInfo,
    pub build: fn(&O, &StrategyContext) -> Built,
}

/// Declares the method modules, the typed `method` section ([`MethodConfig`], one variant
/// per method carrying its options) and [`methods`] from one list. Single-method modules
/// name their row `ENTRY`.
macro_rules! method_table {
    (
        $family:ident { $($fvariant:ident($foptions:ty) = $fentry:ident;)* }
        $($(#[$attr:meta])* mod $module:ident: $variant:ident($options:ty);)*
    ) => {
        $($(#[$attr])* pub mod $module;)*

        /// The `method` section: the method (`name`) with its options. Written and read as
        /// `{name: ..., OPTION: ...}`; `alpha` and `beta` are accepted by every method and
        /// kept only by those that calibrate.
        #[derive(Debug, Clone, PartialEq)]
        pub enum MethodConfig {
            $($fvariant($foptions),)*
            $($(#[$attr])* $variant($options),)*
        }

        /// Every method, in the order `--help` and errors list them.
        pub fn methods() -> Vec<&'static MethodInfo> {
            vec![
                $(&$family::$fentry.info,)*
                $($(#[$attr])* &$module::ENTRY.info,)*
            ]
        }

        impl MethodConfig {
            pub fn info(&self) -> &'static MethodInfo {
                match self {
                    $(Self::$fvariant(_) => &$family::$fentry.info,)*
                    $($(#[$attr])* Self::$variant(_) => &$module::ENTRY.info,)*
                }
            }

            /// Reads a `method` section: a known name and that method's options.
            pub fn from_section(section: &Mapping) -> Result<Self, KeyError> {
                let name = match section.get("name") {
                    Some(Value::String(s)) => s.as_str(),
                    Some(_) => return Err(KeyError::new("method.name", "must be a method name")),
                    None => return Err(KeyError::new("method.name", "missing")),
                };
                $(if name == $family::$fentry.info.name {
                    return Ok(Self::$fvariant(options::parse(name, section)?));
                })*
                $($(#[$attr])* if name == $module::ENTRY.info.name {
                    return Ok(Self::$variant(options::parse(name, section)?));
                })*
                Err(unknown_method(name))
            }

            /// The section as written: `name` and the options that are set.
            pub fn to_section(&self) -> Mapping {
                let mut out = Mapping::new();
                out.insert("name".into(), self.name().into());
                out.extend(match self {
                    $(Self::$fvariant(o) => options::to_mapping(o),)*
                    $($(#[$attr])* Self::$variant(o) => options::to_mapping(o),)*
                });
                out
            }

            /// Builds the method's strategy.
            pub fn build(&self, ctx: &StrategyContext) -> Result<Box<dyn Strategy>, KeyError> {
                match self {
                    $(Self::$fvariant(o) => ($family::$fentry.build)(o, ctx),)*
                    $($(#[$attr])* Self::$variant(o) => ($module::ENTRY.build)(o, ctx),)*
                }
            }

            /// Channels per group of the spatial calibration; `None` for methods without it.
            pub fn alpha(&self) -> Option<i64> {
                match self {
                    $(Self::$fvariant(o) => o.alpha(),)*
                    $($(#[$attr])* Self::$variant(o) => o.alpha(),)*
                }
            }

            /// The task-inference rule the config names, if any.
            pub fn task_inference(&self) -> Option<crate::task_inference::Rule> {
                match self {
                    $(Self::$fvariant(o) => o.task_inference(),)*
                    $($(#[$attr])* Self::$variant(o) => o.task_inference(),)*
                }
            }

            /// Channels per group of the channel-wise calibration; `None` without it.
            pub fn beta(&self) -> Option<i64> {
                match self {
                    $(Self::$fvariant(o) => o.beta(),)*
                    $($(#[$attr])* Self::$variant(o) => o.beta(),)*
                }
            }
        }
    };
}

method_table! {
    calibrated {
        Ccll(CalibrationSizes) = CCLL;
        CcllSc(CalibrationSizes) = CCLL_SC;
        CcllSfSc(CalibrationSizes) = CCLL_SF_SC;
        ScmOnly(ScmSize) = SCM_ONLY;
        CcmOnly(CcmSize) = CCM_ONLY;
        HeadOnly(NoOptions) = HEAD_ONLY;
    }
    mod finetune: Finetune(NoOptions);
    mod joint: Joint(NoOptions);
    mod separate: Separate(NoOptions);
    mod ewc: Ewc(ewc::EwcOptions);
    mod lwf: Lwf(lwf::LwfOptions);
    mod dgr: Dgr(dgr::DgrOptions);
    mod hnet: Hnet(hnet::HnetOptions);
    mod pnn: Pnn(NoOptions);
    // The toy method of README "How to add a method", built and trained by the tests.
    #[cfg(test)]
    mod toy: Toy(toy::ToyOptions);
}

impl MethodConfig {
    pub fn name(&self) -> &'static str {
        self.info().name
    }

    /// A method by name with its defaults (and `alpha`/`beta` where it takes them).
    pub fn named(name: &str, alpha: Option<i64>, beta: Option<i64>) -> Result<Self, KeyError> {
        let mut section = Mapping::new();
        section.insert("name".into(), name.into());
        for (key, value) in [("alpha", alpha), ("beta", beta)] {
            if let Some(v) = value {
                section.insert(key.into(), v.into());
            }
        }
        Self::from_section(&section)
    }
}

impl Serialize for MethodConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_section().serialize(s)
    }
}

impl<'de> Deserialize<'de> for MethodConfig {
    /// Errors say `method.KEY: ...`; `RunConfig` parsing finds the key's line (see
    /// `config::method_problem`), as serde cannot point into a section read as a whole.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let section = Mapping::deserialize(d)?;
        Self::from_section(&section).map_err(serde::de::Error::custom)
    }
}

/// The method of `name`, if it exists.
pub fn method_info(name: &str) -> Option<&'static MethodInfo> {
    methods().into_iter().find(|m| m.name == name)
}

/// Builds the strategy of `ctx.method`.
pub fn build_strategy(ctx: &StrategyContext) -> Result<Box<dyn Strategy>, KeyError> {
    ctx.method.build(ctx)
}

fn unknown_method(name: &str) -> KeyError {
    let names: Vec<&str> = methods().iter().map(|m| m.name).collect();
    KeyError::new(
        "method.name",
        format!("unknown method `{name}`; known: {}", names.join(", ")),
    )
}
