//! Where a run executes: device selection (`auto`, `cpu`, `cuda`, `cuda:N`) and CPU threads.
//! Neither is part of the run config: they do not change what a run computes, so the runner
//! chooses them per slot and a run's identity leaves them out.

use serde::{Deserialize, Serialize};
use tch::Device;

/// The device and thread count a run executes with (a job's, or `ccll train`'s flags).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// `auto`, `cpu` or `cuda:N`.
    pub device: String,
    /// libtorch CPU threads; 0 keeps libtorch's default.
    pub threads: usize,
}

impl Default for Placement {
    fn default() -> Self {
        Self {
            device: "auto".into(),
            threads: 0,
        }
    }
}

impl Placement {
    /// The CPU with `threads` threads.
    pub fn cpu(threads: usize) -> Self {
        Self {
            device: "cpu".into(),
            threads,
        }
    }

    /// Sets libtorch's thread count and resolves the device, or says why it cannot.
    pub fn apply(&self) -> Result<Device, String> {
        let device = resolve_device(&self.device)?;
        if self.threads > 0 {
            tch::set_num_threads(self.threads as i32);
        }
        Ok(device)
    }
}

/// Parses a device spec without touching CUDA (for config validation).
pub fn parse_device(spec: &str) -> Result<DeviceSpec, String> {
    match spec {
        "auto" => Ok(DeviceSpec::Auto),
        "cpu" => Ok(DeviceSpec::Cpu),
        "cuda" => Ok(DeviceSpec::Cuda(0)),
        s => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse::<usize>().ok())
            .map(DeviceSpec::Cuda)
            .ok_or_else(|| format!("`{s}` is not a device; use auto, cpu or cuda:N")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceSpec {
    Auto,
    Cpu,
    Cuda(usize),
}

/// Resolves a spec to a device that exists here, or says why it cannot.
pub fn resolve_device(spec: &str) -> Result<Device, String> {
    match parse_device(spec)? {
        DeviceSpec::Cpu => Ok(Device::Cpu),
        DeviceSpec::Auto => Ok(Device::cuda_if_available()),
        DeviceSpec::Cuda(n) => {
            let count = tch::Cuda::device_count() as usize;
            if n < count {
                Ok(Device::Cuda(n))
            } else if count == 0 {
                Err(format!(
                    "device `{spec}` requested but libtorch sees no CUDA device \
                     (no GPU, or the driver is missing); use the device cpu or auto"
                ))
            } else {
                Err(format!(
                    "device `{spec}` requested but only {count} CUDA device(s) exist"
                ))
            }
        }
    }
}

/// `cpu` or `cuda:N`, as recorded in results.
pub fn device_name(d: Device) -> String {
    match d {
        Device::Cuda(n) => format!("cuda:{n}"),
        Device::Mps => "mps".into(),
        Device::Vulkan => "vulkan".into(),
        _ => "cpu".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse() {
        assert_eq!(parse_device("cuda:1"), Ok(DeviceSpec::Cuda(1)));
        assert_eq!(parse_device("cpu"), Ok(DeviceSpec::Cpu));
        assert!(parse_device("gpu").is_err());
        assert_eq!(resolve_device("cpu"), Ok(Device::Cpu));
    }
}
