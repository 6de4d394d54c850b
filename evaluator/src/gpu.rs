//! GPU compute through wgpu: the host side of `gpu.compute(...)`.
//!
//! One device per sandbox process, opened at start-up (before the seccomp filter, since the
//! Vulkan loader opens driver files). Each request compiles its WGSL, binds its buffers at
//! `@group(0) @binding(i)` as read-write storage, dispatches, and reads back the requested
//! buffers. Errors (a shader that does not compile, a bad entry point, limits) come back as
//! messages, never as panics.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Instant,
};

use serde::Deserialize;

use crate::Error;

/// Why a `gpu.compute` request did not produce its buffers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputeError {
    /// The shader was still running at the task's deadline: the task timed out, and the device
    /// is not used again by this process.
    PastDeadline,
    /// The request failed (a shader that does not compile, a bad entry point, limits): the job's
    /// promise rejects with this message.
    Failed(String),
}

impl std::fmt::Display for ComputeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::PastDeadline => f.write_str(
                "the GPU work ran past the task's deadline: the shader was still running",
            ),
            Self::Failed(message) => f.write_str(message),
        }
    }
}

/// Largest buffer a request may use.
pub const MAX_BUFFER_BYTES: u64 = 256 << 20;

/// An open GPU device.
#[derive(Debug)]
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    class: String,
    /// Its device-local memory, MiB.
    memory_mib: u64,
    /// Set once a shader outlived its task: the device may still be busy with it.
    lost: AtomicBool,
}

/// A parsed `gpu.compute` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The request's id in the JS runtime.
    pub id: u64,
    /// WGSL source.
    pub code: String,
    /// The compute entry point.
    pub entry_point: String,
    /// Workgroup counts.
    pub workgroups: [u32; 3],
    /// Buffer sizes in bytes.
    pub sizes: Vec<u64>,
    /// Initial contents (empty: zeroed).
    pub data: Vec<Vec<u8>>,
    /// Which buffers to read back, in order.
    pub read: Vec<usize>,
}

/// The runtime's request as it writes it: one JSON object (`id`, `code`, `entryPoint`,
/// `workgroups`, `sizes`, `read`, and `data`: one base64 string per buffer, empty for a zeroed
/// one).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Wire {
    id: u64,
    code: String,
    entry_point: String,
    workgroups: [u32; 3],
    sizes: Vec<u64>,
    read: Vec<usize>,
    data: Vec<String>,
}

/// A request the host refuses, with the id to reject (0 when even that was unreadable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// The request's id in the JS runtime.
    pub id: u64,
    /// Why, as the job's promise rejects with it.
    pub reason: String,
}

impl Request {
    /// GPU memory the request takes while it runs: its buffers and the copies read back.
    pub fn memory_bytes(&self) -> u64 {
        let padded = |i: &usize| self.sizes.get(*i).map_or(0, |s| s.next_multiple_of(4));
        let buffers =
            self.sizes.iter().map(|s| s.next_multiple_of(4)).fold(0u64, u64::saturating_add);
        self.read.iter().map(padded).fold(buffers, u64::saturating_add)
    }

    /// Parses and checks the runtime's request (see [`Wire`]).
    pub fn parse(packet: &str) -> Result<Self, Refused> {
        let wire: Wire = serde_json::from_str(packet).map_err(|e| Refused {
            // The id alone, from a request whose other fields are wrong.
            id: serde_json::from_str::<serde_json::Value>(packet)
                .ok()
                .and_then(|v| v.get("id").and_then(serde_json::Value::as_u64))
                .unwrap_or(0),
            reason: format!("bad request: {e}"),
        })?;
        let id = wire.id;
        Self::check(wire).map_err(|reason| Refused { id, reason })
    }

    fn check(header: Wire) -> Result<Self, String> {
        let data: Vec<Vec<u8>> =
            header.data.iter().map(|b| base64_decode(b)).collect::<Result<_, _>>()?;
        if data.len() != header.sizes.len() {
            return Err("buffer count mismatch".into());
        }
        for (size, bytes) in header.sizes.iter().zip(&data) {
            if *size == 0 || *size > MAX_BUFFER_BYTES {
                return Err(format!("buffer sizes must be in 1..={MAX_BUFFER_BYTES} bytes"));
            }
            if !bytes.is_empty() && bytes.len() as u64 != *size {
                return Err("buffer size mismatch".into());
            }
        }
        if header.read.len() > header.sizes.len() {
            return Err("read lists more buffers than there are".into());
        }
        if header.read.iter().any(|&i| i >= header.sizes.len()) {
            return Err("read lists a buffer that does not exist".into());
        }
        Ok(Self {
            id: header.id,
            code: header.code,
            entry_point: header.entry_point,
            workgroups: header.workgroups,
            sizes: header.sizes,
            data,
            read: header.read,
        })
    }
}

impl Gpu {
    /// Opens the first adapter wgpu finds (Vulkan), or `None` when there is none.
    pub fn open() -> Result<Option<Self>, Error> {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let adapter = match block_on(instance.request_adapter(&wgpu::RequestAdapterOptions {
            power_preference: wgpu::PowerPreference::HighPerformance,
            ..Default::default()
        })) {
            Ok(a) => a,
            Err(_) => return Ok(None),
        };
        let info = adapter.get_info();
        let memory_mib = device_memory(&adapter).unwrap_or(0) >> 20;
        let (device, queue) = block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("quorate-evaluator"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| Error::Sandbox { reason: format!("GPU device: {e}") })?;
        device.on_uncaptured_error(Arc::new(|_e: wgpu::Error| {}));
        Ok(Some(Self {
            device,
            queue,
            class: class(&info),
            memory_mib,
            lost: AtomicBool::new(false),
        }))
    }

    /// The adapter class: backend, device type, vendor, name and driver
    /// ([`quorate_primitives::gpu`]), which replicas whose GPU results must agree share.
    pub fn class(&self) -> &str {
        &self.class
    }

    /// The device's own memory, MiB (0 when the driver does not say).
    pub fn memory_mib(&self) -> u64 {
        self.memory_mib
    }

    /// True once a shader ran past its task's deadline: the process should be replaced.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Runs one request; returns the bytes of the buffers it asked to read. Waits for the GPU
    /// at most until `deadline` (the task's): a shader still running then is an error, and the
    /// device is not used again by this process (its owner replaces the process).
    pub fn compute(&self, req: &Request, deadline: Instant) -> Result<Vec<Vec<u8>>, ComputeError> {
        if self.lost.load(Ordering::SeqCst) {
            return Err(ComputeError::Failed(
                "the GPU is still busy with an earlier task's shader".into(),
            ));
        }
        self.dispatch(req, deadline)
    }

    fn dispatch(&self, req: &Request, deadline: Instant) -> Result<Vec<Vec<u8>>, ComputeError> {
        let failed = |e: &dyn std::fmt::Display| ComputeError::Failed(e.to_string());
        let d = &self.device;
        let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: None,
            source: wgpu::ShaderSource::Wgsl(req.code.as_str().into()),
        });
        let pipeline = d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: None,
            layout: None,
            module: &module,
            entry_point: Some(&req.entry_point),
            compilation_options: Default::default(),
            cache: None,
        });
        if let Some(e) = block_on(scope.pop()) {
            return Err(failed(&e));
        }
        let scope = d.push_error_scope(wgpu::ErrorFilter::Validation);
        let buffers: Vec<wgpu::Buffer> = req
            .sizes
            .iter()
            .zip(&req.data)
            .map(|(&size, data)| {
                let b = d.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size: size.next_multiple_of(4),
                    usage: wgpu::BufferUsages::STORAGE
                        | wgpu::BufferUsages::COPY_SRC
                        | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                if !data.is_empty() {
                    let mut padded = data.clone();
                    padded.resize(size.next_multiple_of(4) as usize, 0);
                    self.queue.write_buffer(&b, 0, &padded);
                }
                b
            })
            .collect();
        let layout = pipeline.get_bind_group_layout(0);
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        let bind_group = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &layout,
            entries: &entries,
        });
        let staging: Vec<(usize, wgpu::Buffer)> = req
            .read
            .iter()
            .map(|&i| {
                let size = req.sizes.get(i).copied().unwrap_or(4).next_multiple_of(4);
                let b = d.create_buffer(&wgpu::BufferDescriptor {
                    label: None,
                    size,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                });
                (i, b)
            })
            .collect();
        let mut encoder = d.create_command_encoder(&wgpu::CommandEncoderDescriptor::default());
        {
            let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            let [x, y, z] = req.workgroups;
            pass.dispatch_workgroups(x, y, z);
        }
        for (i, dst) in &staging {
            if let Some(src) = buffers.get(*i) {
                encoder.copy_buffer_to_buffer(src, 0, dst, 0, dst.size());
            }
        }
        self.queue.submit([encoder.finish()]);
        if let Some(e) = block_on(scope.pop()) {
            return Err(failed(&e));
        }
        let mapped = Arc::new(Mutex::new(Vec::new()));
        for (_, dst) in &staging {
            let mapped = Arc::clone(&mapped);
            dst.slice(..).map_async(wgpu::MapMode::Read, move |r| {
                if let Ok(mut m) = mapped.lock() {
                    m.push(r.is_ok());
                }
            });
        }
        let timeout = deadline.saturating_duration_since(Instant::now());
        match d.poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(timeout) }) {
            Ok(_) => {}
            Err(wgpu::PollError::Timeout) => {
                self.lost.store(true, Ordering::SeqCst);
                return Err(ComputeError::PastDeadline);
            }
            Err(e) => return Err(failed(&e)),
        }
        if mapped.lock().map(|m| m.len() != staging.len() || m.contains(&false)).unwrap_or(true) {
            return Err(ComputeError::Failed("reading the GPU buffers back failed".into()));
        }
        let mut out = Vec::with_capacity(staging.len());
        for (i, dst) in &staging {
            let size = req.sizes.get(*i).copied().unwrap_or(0) as usize;
            let view = dst.slice(..).get_mapped_range().map_err(|e| failed(&e))?;
            out.push(view.get(..size).unwrap_or_default().to_vec());
        }
        Ok(out)
    }
}

/// The adapter class of `info`: `backend/device type/vendor/name/driver`, lowercase, with no
/// `/` inside a part.
fn class(info: &wgpu::AdapterInfo) -> String {
    let vendor = match info.vendor {
        0x1002 => "amd".to_string(),
        0x10de => "nvidia".to_string(),
        0x8086 => "intel".to_string(),
        0x13b5 => "arm".to_string(),
        0x5143 => "qualcomm".to_string(),
        0x106b => "apple".to_string(),
        0x1010 => "imgtec".to_string(),
        0x10005 => "mesa".to_string(),
        other => format!("{other:#x}"),
    };
    // Parts bounded so that a class always fits the pool's join message (128 bytes).
    let part = |text: &str, max_bytes: usize| {
        let text = text.replace('/', " ");
        let cut = (0..=max_bytes.min(text.len())).rev().find(|&at| text.is_char_boundary(at));
        text.get(..cut.unwrap_or(0)).unwrap_or_default().trim().to_string()
    };
    let driver = if info.driver_info.is_empty() { &info.driver } else { &info.driver_info };
    format!(
        "{:?}/{:?}/{vendor}/{}/{}",
        info.backend,
        info.device_type,
        part(&info.name, 48),
        part(driver, 32)
    )
    .to_lowercase()
}

/// The largest device-local memory heap of a Vulkan adapter, bytes.
#[allow(unsafe_code)]
fn device_memory(adapter: &wgpu::Adapter) -> Option<u64> {
    /// `VK_MEMORY_HEAP_DEVICE_LOCAL_BIT`.
    const DEVICE_LOCAL: u32 = 1;
    // SAFETY: the guard only borrows the adapter's Vulkan handles to read its memory
    // properties; nothing is created, destroyed or used on the device through it.
    let hal = unsafe { adapter.as_hal::<wgpu::hal::api::Vulkan>() }?;
    let instance = hal.shared_instance().raw_instance();
    // SAFETY: the physical device belongs to this instance, which outlives the call.
    let properties =
        unsafe { instance.get_physical_device_memory_properties(hal.raw_physical_device()) };
    properties
        .memory_heaps_as_slice()
        .iter()
        .filter(|heap| heap.flags.as_raw() & DEVICE_LOCAL != 0)
        .map(|heap| heap.size)
        .max()
}

/// Drives a future to completion on this thread. wgpu's native futures are ready once the
/// device has been polled, so this spins only briefly.
fn block_on<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::yield_now();
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sym = |shift: u32| char::from(B64[((n >> shift) & 63) as usize]);
        out.push(sym(18));
        out.push(sym(12));
        out.push(if chunk.len() > 1 { sym(6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(0) } else { '=' });
    }
    out
}

/// Decodes standard base64 with padding.
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(4) {
        return Err("base64 length is not a multiple of 4".into());
    }
    let value = |c: u8| -> Result<u32, String> {
        match c {
            b'A'..=b'Z' => Ok(u32::from(c - b'A')),
            b'a'..=b'z' => Ok(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Ok(u32::from(c - b'0') + 52),
            b'+' => Ok(62),
            b'/' => Ok(63),
            _ => Err(format!("bad base64 character {:?}", char::from(c))),
        }
    };
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    let groups = bytes.len() / 4;
    for (g, quad) in bytes.chunks_exact(4).enumerate() {
        let last = g + 1 == groups;
        let pad = if last { quad.iter().rev().take_while(|&&c| c == b'=').count() } else { 0 };
        if pad > 2 {
            return Err("bad base64 padding".into());
        }
        let mut n = 0u32;
        for (i, &c) in quad.iter().enumerate() {
            n = (n << 6) | if i >= 4 - pad { 0 } else { value(c)? };
        }
        out.push((n >> 16) as u8);
        if pad < 2 {
            out.push((n >> 8) as u8);
        }
        if pad < 1 {
            out.push(n as u8);
        }
    }
    Ok(out)
}
