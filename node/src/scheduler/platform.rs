//! Platform classes as the scheduler names them: numbers for the core (homogeneous redundancy,
//! a job's GPU needs) and text for people (the dashboard, a client's deal status).

use quorate_primitives::{GpuNeeds, gpu::adapter_tags};
use quorate_scheduler::{Platform, types::GPU_TAGS};

/// Most platform and GPU class names a scheduler keeps: beyond, a class shows as its numbers (a
/// worker rejoining with ever new classes cannot grow them without bound).
pub const MAX_NAMES: usize = 4096;

/// Keeps `name` for `class` while there is room.
pub fn remember<K: std::hash::Hash + Eq>(
    names: &mut std::collections::HashMap<K, String>,
    class: K,
    name: String,
) {
    if names.len() < MAX_NAMES || names.contains_key(&class) {
        names.insert(class, name);
    }
}

/// A class's number: the first four bytes of its text's keccak, never 0 (0 is "none").
pub fn class_id(text: &str) -> u32 {
    let digest = alloy::primitives::keccak256(text.as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]).max(1)
}

/// What a GPU of adapter class `class` answers to, as numbers a deal's GPU class is one of.
pub fn gpu_tags(class: &str) -> [u32; GPU_TAGS] {
    let mut tags = [0; GPU_TAGS];
    for (slot, tag) in tags.iter_mut().zip(adapter_tags(class)) {
        *slot = class_id(tag);
    }
    tags
}

/// The number of the adapter class a job needs (0 for any).
pub fn needed_class(needs: &GpuNeeds) -> u32 {
    if needs.class.is_empty() { 0 } else { class_id(&needs.class) }
}

/// A worker's platform: its GPU's adapter class (if it offers WebGPU) and its float probe.
pub fn platform(gpu_class: Option<&str>, float_probe: Option<&str>) -> Platform {
    Platform { gpu: gpu_class.map_or(0, class_id), fp_probe: float_probe.map_or(0, class_id) }
}

/// A platform class as people read it: the GPU adapter (for GPU deals) and the float probe's
/// start.
pub fn name(gpu_class: Option<&str>, float_probe: Option<&str>) -> String {
    let probe = float_probe.unwrap_or("unknown");
    let probe = probe.get(..10).unwrap_or(probe);
    match gpu_class {
        Some(gpu) => format!("{gpu}, float probe {probe}"),
        None => format!("float probe {probe}"),
    }
}

/// Whether a GPU the pool's workers offer meets `needs`: `offered` lists each adapter class
/// with its memory (MiB). The error is a sentence for the client.
pub fn check_offered(needs: &GpuNeeds, offered: &[(String, u32)]) -> Result<(), String> {
    if offered.is_empty() {
        return Err("no worker of this pool offers WebGPU now: send GPU jobs to a pool with GPU workers, or later".into());
    }
    let fits =
        |(class, mib): &(String, u32)| *mib >= needs.memory_mib && needs.class_matches(class);
    if offered.iter().any(fits) {
        return Ok(());
    }
    // The refusal travels in a few hundred bytes: the first GPUs, and how many more.
    let mut have: Vec<String> =
        offered.iter().take(2).map(|(class, mib)| format!("{class} ({mib} MiB)")).collect();
    if offered.len() > 2 {
        have.push(format!("{} more", offered.len().saturating_sub(2)));
    }
    let class =
        if needs.class.is_empty() { String::new() } else { format!(" of class {:?}", needs.class) };
    Err(format!(
        "no worker of this pool has a GPU{class} with {} MiB for a task now (it has {}): ask for less, or send the job to another pool",
        needs.memory_mib,
        have.join("; ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAVAPIPE: &str = "vulkan/cpu/mesa/llvmpipe (llvm 19.1.7, 256 bits)/mesa 25.0.7";

    #[test]
    fn a_gpu_answers_to_its_class_and_each_part() {
        let tags = gpu_tags(LAVAPIPE);
        for part in [LAVAPIPE, "cpu", "mesa", "llvmpipe (llvm 19.1.7, 256 bits)"] {
            assert!(tags.contains(&class_id(part)), "{part}");
        }
        assert!(!tags.contains(&class_id("nvidia")));
        assert_eq!(
            tags[0],
            platform(Some(LAVAPIPE), None).gpu,
            "the whole class is the platform's"
        );
    }

    #[test]
    fn the_intake_says_what_gpus_the_pool_has() {
        let offered = vec![(LAVAPIPE.to_string(), 2048)];
        let needs = |memory_mib: u32, class: &str| GpuNeeds { memory_mib, class: class.into() };
        assert!(check_offered(&needs(1024, "mesa"), &offered).is_ok());
        assert!(check_offered(&needs(2048, ""), &offered).is_ok());
        let e = check_offered(&needs(4096, ""), &offered).unwrap_err();
        assert!(e.contains("with 4096 MiB") && e.contains("(2048 MiB)"), "{e}");
        let e = check_offered(&needs(256, "nvidia"), &offered).unwrap_err();
        assert!(e.contains("of class \"nvidia\"") && e.contains(LAVAPIPE), "{e}");
        assert!(check_offered(&needs(256, ""), &[]).unwrap_err().contains("offers WebGPU"));
    }
}
