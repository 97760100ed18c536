//! Checkpoints in safetensors: a variable store's tensors under their tch names (which follow
//! PyTorch's `state_dict` names), with string metadata describing what the file holds.

use ccll_results::Artifact;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use tch::{nn::VarStore, Device, Kind, Tensor};

#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("{path}: {message}")]
    File { path: String, message: String },
    #[error("{path}: tensor `{name}`: {message}")]
    Tensor {
        path: String,
        name: String,
        message: String,
    },
}

fn file_err(path: &Path, message: impl ToString) -> CheckpointError {
    CheckpointError::File {
        path: path.display().to_string(),
        message: message.to_string(),
    }
}

/// Writes every variable of `vs` (parameters and BN statistics) to `path`, atomically (a
/// temporary file renamed into place, so a crash never leaves half a checkpoint).
pub fn save_store(
    vs: &VarStore,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    save_tensors(&vs.variables().into_iter().collect(), path, metadata)
}

/// Writes named tensors to `path` atomically.
pub fn save_tensors(
    tensors: &BTreeMap<String, Tensor>,
    path: &Path,
    metadata: &BTreeMap<String, String>,
) -> Result<(), CheckpointError> {
    let mut owned: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in tensors {
        let t = t.detach().to_device(Device::Cpu).contiguous();
        let (dtype, bytes) = tensor_bytes(&t).map_err(|message| CheckpointError::Tensor {
            path: path.display().to_string(),
            name: name.clone(),
            message,
        })?;
        let shape = t.size().iter().map(|&d| d as usize).collect();
        owned.push((name.clone(), dtype, shape, bytes));
    }
    let views: Vec<(String, TensorView)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            TensorView::new(*d, s.clone(), b)
                .map(|v| (n.clone(), v))
                .map_err(|e| file_err(path, e))
        })
        .collect::<Result<_, _>>()?;
    let meta: HashMap<String, String> = metadata.clone().into_iter().collect();
    let bytes = safetensors::serialize(views, Some(meta)).map_err(|e| file_err(path, e))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| file_err(dir, e))?;
    }
    let tmp = path.with_extension("safetensors.tmp");
    std::fs::write(&tmp, &bytes).map_err(|e| file_err(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| file_err(path, e))
}

fn tensor_bytes(t: &Tensor) -> Result<(Dtype, Vec<u8>), String> {
    let flat = t.flatten(0, -1);
    match t.kind() {
        Kind::Float => Ok((
            Dtype::F32,
            Vec::<f32>::try_from(&flat)
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        )),
        Kind::Double => Ok((
            Dtype::F64,
            Vec::<f64>::try_from(&flat)
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        )),
        Kind::Int64 => Ok((
            Dtype::I64,
            Vec::<i64>::try_from(&flat)
                .map_err(|e| e.to_string())?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        )),
        // A random generator's state (in-task resumable states).
        Kind::Uint8 => Ok((
            Dtype::U8,
            Vec::<u8>::try_from(&flat).map_err(|e| e.to_string())?,
        )),
        k => Err(format!("unsupported tensor kind {k:?}")),
    }
}

/// A checkpoint's tensors and its string metadata, both by name.
pub type TensorsAndMetadata = (BTreeMap<String, Tensor>, BTreeMap<String, String>);

/// Reads every tensor and the metadata of a checkpoint.
pub fn read_tensors(path: &Path) -> Result<TensorsAndMetadata, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    let (_, meta) = SafeTensors::read_metadata(&bytes)
        .map_err(|e| file_err(path, format!("not a safetensors file: {e}")))?;
    let metadata = meta
        .metadata()
        .clone()
        .map(|m| m.into_iter().collect())
        .unwrap_or_default();
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| file_err(path, format!("not a safetensors file: {e}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        let kind = match view.dtype() {
            Dtype::F32 => Kind::Float,
            Dtype::F64 => Kind::Double,
            Dtype::I64 => Kind::Int64,
            Dtype::U8 => Kind::Uint8,
            d => {
                return Err(CheckpointError::Tensor {
                    path: path.display().to_string(),
                    name,
                    message: format!("unsupported dtype {d:?}"),
                })
            }
        };
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        out.insert(name, Tensor::from_data_size(view.data(), &shape, kind));
    }
    Ok((out, metadata))
}

/// Loads a checkpoint into `vs`: every variable of the store must be in the file with the same
/// shape (extra tensors in the file are an error too, so a wrong file cannot half-load).
pub fn load_store(vs: &VarStore, path: &Path) -> Result<BTreeMap<String, String>, CheckpointError> {
    let (tensors, metadata) = read_tensors(path)?;
    let vars = vs.variables();
    for name in tensors.keys() {
        if !vars.contains_key(name) {
            return Err(CheckpointError::Tensor {
                path: path.display().to_string(),
                name: name.clone(),
                message: "not a variable of this model (wrong method, arch or alpha/beta?)".into(),
            });
        }
    }
    // Check every variable (in name order, so the error is always the same one) before
    // copying any: a wrong file leaves the model untouched.
    let vars: BTreeMap<String, Tensor> = vars.into_iter().collect();
    for (name, var) in &vars {
        let err = |message: String| CheckpointError::Tensor {
            path: path.display().to_string(),
            name: name.clone(),
            message,
        };
        let src = tensors
            .get(name)
            .ok_or_else(|| err("missing from the checkpoint".into()))?;
        if src.size() != var.size() {
            return Err(err(format!(
                "shape {:?} in the file, {:?} in the model",
                src.size(),
                var.size()
            )));
        }
    }
    tch::no_grad(|| {
        for (name, mut var) in vars {
            var.f_copy_(&tensors[&name])
                .map_err(|e| CheckpointError::Tensor {
                    path: path.display().to_string(),
                    name: name.clone(),
                    message: e.to_string(),
                })?;
        }
        Ok(())
    })?;
    Ok(metadata)
}

/// Describes a written file for the run's artifact list.
pub fn artifact(kind: &str, path: &Path) -> Result<Artifact, CheckpointError> {
    let bytes = std::fs::read(path).map_err(|e| file_err(path, e))?;
    Ok(Artifact {
        kind: kind.to_string(),
        path: path.display().to_string(),
        sha256: hex::encode(Sha256::digest(&bytes)),
        bytes: bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::nn;

    #[test]
    fn store_round_trips_and_wrong_shapes_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.safetensors");
        let vs = nn::VarStore::new(Device::Cpu);
        let _l = nn::linear(vs.root() / "head", 3, 2, Default::default());
        let _bn = nn::batch_norm2d(vs.root() / "bn", 4, Default::default());
        let meta = BTreeMap::from([("task".to_string(), "2".to_string())]);
        save_store(&vs, &path, &meta).unwrap();

        let vs2 = nn::VarStore::new(Device::Cpu);
        let _l2 = nn::linear(vs2.root() / "head", 3, 2, Default::default());
        let _bn2 = nn::batch_norm2d(vs2.root() / "bn", 4, Default::default());
        assert_eq!(load_store(&vs2, &path).unwrap(), meta);
        for (n, t) in vs.variables() {
            assert!(t.equal(&vs2.variables()[&n]), "{n}");
        }

        let vs3 = nn::VarStore::new(Device::Cpu);
        let _l3 = nn::linear(vs3.root() / "head", 3, 5, Default::default());
        let _bn3 = nn::batch_norm2d(vs3.root() / "bn", 4, Default::default());
        let e = load_store(&vs3, &path).unwrap_err().to_string();
        assert!(
            e.contains("head.bias") && e.contains("shape [2] in the file, [5] in the model"),
            "{e}"
        );
    }
}
