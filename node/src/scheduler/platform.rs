//! Platform classes as the scheduler names them: numbers for the core (homogeneous redundancy,
//! a job's GPU needs) and text for people (the dashboard, a client's deal status).

use alloy::primitives::U256;
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

/// A GPU a joined worker offers, as the intake weighs a WebGPU job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedGpu {
    /// Its adapter class.
    pub class: String,
    /// Its memory for tasks, MiB.
    pub memory_mib: u32,
    /// The worker's platform class: a GPU task's replicas all run on one.
    pub platform: u64,
    /// The worker's vote weight.
    pub weight: U256,
}

/// Whether the pool's GPUs can run a WebGPU job needing `needs` at `trust`: a GPU meets its
/// memory and class, and the workers of one platform class among those that do weigh enough
/// together to reach consensus (agreeing votes whose weights multiply past `trust − 1`). The
/// error is a sentence for the client.
pub fn check_offered(needs: &GpuNeeds, trust: u32, offered: &[OfferedGpu]) -> Result<(), String> {
    if offered.is_empty() {
        return Err("no worker of this pool offers WebGPU now: send GPU jobs to a pool with GPU workers, or later".into());
    }
    let fitting: Vec<&OfferedGpu> = offered
        .iter()
        .filter(|g| g.memory_mib >= needs.memory_mib && needs.class_matches(&g.class))
        .collect();
    if fitting.is_empty() {
        // The refusal travels in a few hundred bytes: the first GPUs, and how many more.
        let mut distinct: Vec<String> =
            offered.iter().map(|g| format!("{} ({} MiB)", g.class, g.memory_mib)).collect();
        distinct.sort();
        distinct.dedup();
        let mut have: Vec<String> = distinct.iter().take(2).cloned().collect();
        if distinct.len() > 2 {
            have.push(format!("{} more", distinct.len().saturating_sub(2)));
        }
        let class = if needs.class.is_empty() {
            String::new()
        } else {
            format!(" of class {:?}", needs.class)
        };
        return Err(format!(
            "no worker of this pool has a GPU{class} with {} MiB for a task now (it has {}): ask for less, or send the job to another pool",
            needs.memory_mib,
            have.join("; ")
        ));
    }
    // The product of the weights of each platform class's fitting workers: what its agreeing
    // votes reach.
    let mut reach: std::collections::HashMap<u64, (U256, usize)> = std::collections::HashMap::new();
    for gpu in &fitting {
        let entry = reach.entry(gpu.platform).or_insert((U256::from(1u8), 0));
        *entry = (entry.0.saturating_mul(gpu.weight), entry.1.saturating_add(1));
    }
    let (best, workers) = reach.values().copied().max().unwrap_or((U256::ZERO, 0));
    // Consensus at trust T holds when the group's product p satisfies p·T > (1 + p)·(T − 1),
    // that is p > T − 1: the highest trust reachable is p.
    if best >= U256::from(trust) {
        return Ok(());
    }
    Err(format!(
        "the GPUs of this pool that fit the job and compute alike ({workers} worker{}) reach trust {best} at most now, not {trust}: lower --trust, or send the job to a pool with more of them",
        if workers == 1 { "" } else { "s" }
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

    /// A fresh worker (weight 2) with a lavapipe GPU of platform class `platform`.
    fn lavapipe(platform: u64) -> OfferedGpu {
        OfferedGpu { class: LAVAPIPE.into(), memory_mib: 2048, platform, weight: U256::from(2u8) }
    }

    fn needs(memory_mib: u32, class: &str) -> GpuNeeds {
        GpuNeeds { memory_mib, class: class.into() }
    }

    #[test]
    fn the_intake_says_what_gpus_the_pool_has() {
        let offered = vec![lavapipe(1), lavapipe(1)];
        assert!(check_offered(&needs(1024, "mesa"), 2, &offered).is_ok());
        assert!(check_offered(&needs(2048, ""), 2, &offered).is_ok());
        let e = check_offered(&needs(4096, ""), 2, &offered).unwrap_err();
        assert!(e.contains("with 4096 MiB") && e.contains("(2048 MiB)"), "{e}");
        assert_eq!(e.matches(LAVAPIPE).count(), 1, "each GPU named once: {e}");
        let e = check_offered(&needs(256, "nvidia"), 2, &offered).unwrap_err();
        assert!(e.contains("of class \"nvidia\"") && e.contains(LAVAPIPE), "{e}");
        assert!(check_offered(&needs(256, ""), 1, &[]).unwrap_err().contains("offers WebGPU"));
    }

    #[test]
    fn the_intake_refuses_a_trust_the_fitting_gpus_of_one_class_cannot_reach() {
        // Two fresh workers alike agree to a product of 4: trust 4 at most (T = 3 needs 2
        // votes, T = 5 three).
        let alike = vec![lavapipe(1), lavapipe(1)];
        assert!(check_offered(&needs(256, ""), 4, &alike).is_ok());
        let e = check_offered(&needs(256, ""), 5, &alike).unwrap_err();
        assert!(e.contains("(2 workers) reach trust 4 at most now, not 5"), "{e}");
        // Two of different float classes never vote together: each alone reaches trust 2.
        let apart = vec![lavapipe(1), lavapipe(2)];
        assert!(check_offered(&needs(256, ""), 2, &apart).is_ok());
        let e = check_offered(&needs(256, ""), 3, &apart).unwrap_err();
        assert!(e.contains("(1 worker) reach trust 2 at most"), "{e}");
        // Only the GPUs that fit count.
        let mixed = vec![lavapipe(1), OfferedGpu { memory_mib: 64, ..lavapipe(1) }];
        assert!(check_offered(&needs(1024, ""), 3, &mixed).is_err());
        // A heavy worker alone (weight 32) reaches trust 32.
        let heavy = vec![OfferedGpu { weight: U256::from(32u8), ..lavapipe(1) }];
        assert!(check_offered(&needs(256, ""), 32, &heavy).is_ok());
        assert!(check_offered(&needs(256, ""), 33, &heavy).is_err());
    }
}
