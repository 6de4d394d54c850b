//! `worker.gpu`: whether a worker offers WebGPU. `"auto"` (the default) offers it when a
//! sandbox finds a hardware GPU (a discrete, integrated or virtual one; not a CPU adapter such
//! as lavapipe, which would run GPU jobs slower than the CPU path); `true` offers it on
//! whatever adapter there is; `false` never.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What `worker.gpu` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GpuChoice {
    /// Offer WebGPU when a hardware GPU is found.
    #[default]
    Auto,
    /// Offer WebGPU (a worker with no adapter at all refuses to start).
    On,
    /// Never.
    Off,
}

impl GpuChoice {
    /// The device types a sandbox reports for hardware GPUs (the adapter class's second part).
    pub const HARDWARE: [&'static str; 3] = ["discretegpu", "integratedgpu", "virtualgpu"];

    /// True for an adapter class of a hardware GPU.
    pub fn is_hardware(class: &str) -> bool {
        class.split('/').nth(1).is_some_and(|device| Self::HARDWARE.contains(&device))
    }
}

impl Serialize for GpuChoice {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Auto => s.serialize_str("auto"),
            Self::On => s.serialize_bool(true),
            Self::Off => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for GpuChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Bool(true) => Ok(Self::On),
            Raw::Bool(false) => Ok(Self::Off),
            Raw::Text(text) => match text.as_str() {
                "auto" => Ok(Self::Auto),
                "true" | "on" => Ok(Self::On),
                "false" | "off" => Ok(Self::Off),
                _ => Err(serde::de::Error::custom("takes true, false or \"auto\"")),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, Serialize, PartialEq)]
    struct Section {
        gpu: GpuChoice,
    }

    #[test]
    fn it_reads_booleans_and_auto_and_writes_them_back() {
        for (text, choice) in [
            ("gpu = true", GpuChoice::On),
            ("gpu = false", GpuChoice::Off),
            ("gpu = \"auto\"", GpuChoice::Auto),
            ("gpu = \"off\"", GpuChoice::Off),
        ] {
            let section: Section = toml::from_str(text).unwrap();
            assert_eq!(section.gpu, choice);
            assert_eq!(
                toml::from_str::<Section>(&toml::to_string(&section).unwrap()).unwrap(),
                section
            );
        }
        assert!(toml::from_str::<Section>("gpu = \"yes please\"").is_err());
        assert!(toml::from_str::<Section>("gpu = 1").is_err());
    }

    #[test]
    fn only_hardware_adapters_count_for_auto() {
        assert!(GpuChoice::is_hardware("vulkan/discretegpu/nvidia/nvidia h200/560.35.03"));
        assert!(!GpuChoice::is_hardware(
            "vulkan/cpu/mesa/llvmpipe (llvm 15.0.6, 256 bits)/mesa 22.3.6"
        ));
    }
}
