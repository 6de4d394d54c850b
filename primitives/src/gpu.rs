//! What a WebGPU job needs of a worker's GPU ([`GpuNeeds`]), and how an adapter class meets it.
//!
//! An adapter class is the text a sandbox reports for its GPU, `/`-separated parts:
//! `backend/device type/vendor/adapter name/driver` (`vulkan/discretegpu/nvidia/nvidia
//! h200/560.35.03`). A job may name the whole class or any one part (`discretegpu`, `nvidia`,
//! `nvidia h200`): [`adapter_tags`] lists what a class answers to.

use crate::Error;

/// GPU memory a WebGPU task gets when its job names none, MiB.
pub const DEFAULT_GPU_MIB: u32 = 256;

/// The most GPU memory a task may ask for, MiB (1 TiB).
pub const MAX_GPU_MIB: u32 = 1 << 20;

/// Longest adapter class a job may name, bytes (as long as a whole class a worker reports).
pub const MAX_GPU_CLASS: usize = 128;

/// What a job's tasks need of a GPU. A JavaScript job needs none ([`GpuNeeds::NONE`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct GpuNeeds {
    /// GPU memory one task uses at most, MiB: a worker offering less is never sent the task,
    /// and the sandbox refuses a `gpu.compute` call whose buffers need more. 0 for no GPU.
    pub memory_mib: u32,
    /// An adapter class, or one part of it, every replica's GPU must have (lowercase); empty
    /// for any GPU.
    pub class: String,
}

impl GpuNeeds {
    /// No GPU (a JavaScript job).
    pub const NONE: Self = Self { memory_mib: 0, class: String::new() };

    /// Any GPU, [`DEFAULT_GPU_MIB`] per task.
    pub const fn any() -> Self {
        Self { memory_mib: DEFAULT_GPU_MIB, class: String::new() }
    }

    /// True for a job that needs no GPU.
    pub fn is_none(&self) -> bool {
        self.memory_mib == 0 && self.class.is_empty()
    }

    /// Checks the needs are in range: memory 16 MiB to [`MAX_GPU_MIB`], a class of at most
    /// [`MAX_GPU_CLASS`] printable ASCII characters, lowercase, no space at either end.
    pub fn validate(&self) -> Result<(), Error> {
        let refuse = |reason: String| Err(Error::InvalidJob { reason });
        if !(16..=MAX_GPU_MIB).contains(&self.memory_mib) {
            return refuse(format!("the GPU memory per task must be 16 to {MAX_GPU_MIB} MiB"));
        }
        let printable = self.class.bytes().all(|b| (b' '..=b'~').contains(&b));
        if self.class.len() > MAX_GPU_CLASS
            || !printable
            || self.class != self.class.to_lowercase()
            || self.class.trim() != self.class
        {
            return refuse(format!(
                "the GPU class {:?} must be at most {MAX_GPU_CLASS} printable ASCII characters, lowercase, without spaces at its ends",
                self.class
            ));
        }
        Ok(())
    }

    /// True when a GPU of `adapter_class` meets the named class (memory is the pool's to check).
    pub fn class_matches(&self, adapter_class: &str) -> bool {
        self.class.is_empty() || adapter_tags(adapter_class).any(|tag| tag == self.class)
    }
}

/// What an adapter class answers to: the whole class, then each of its parts.
pub fn adapter_tags(class: &str) -> impl Iterator<Item = &str> {
    std::iter::once(class).chain(class.split('/').filter(|part| !part.is_empty()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const H200: &str = "vulkan/discretegpu/nvidia/nvidia h200/560.35.03";

    #[test]
    fn a_class_is_met_by_the_whole_adapter_class_or_one_of_its_parts() {
        let needs = |class: &str| GpuNeeds { class: class.into(), ..GpuNeeds::any() };
        for class in ["", "discretegpu", "nvidia", "nvidia h200", "560.35.03", H200] {
            assert!(needs(class).class_matches(H200), "{class}");
        }
        for class in ["nvidia h10", "amd", "h200", "cpu"] {
            assert!(!needs(class).class_matches(H200), "{class}");
        }
    }

    #[test]
    fn needs_out_of_range_are_refused() {
        assert!(GpuNeeds::any().validate().is_ok());
        // A whole class, as a worker reports it, is a class a job may name.
        assert!(GpuNeeds { class: H200.into(), ..GpuNeeds::any() }.validate().is_ok());
        for bad in [
            GpuNeeds { memory_mib: 8, ..GpuNeeds::any() },
            GpuNeeds { memory_mib: MAX_GPU_MIB + 1, ..GpuNeeds::any() },
            GpuNeeds { class: "NVIDIA".into(), ..GpuNeeds::any() },
            GpuNeeds { class: "nvidia\n".into(), ..GpuNeeds::any() },
            GpuNeeds { class: " nvidia".into(), ..GpuNeeds::any() },
            GpuNeeds { class: "x".repeat(MAX_GPU_CLASS + 1), ..GpuNeeds::any() },
            GpuNeeds { class: "é".into(), ..GpuNeeds::any() },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
