//! The sandbox process's side of the protocol: read a request, act on the [`Sandbox`], write
//! the responses. Single-threaded; JavaScript runs on V8's isolate thread meanwhile.

use std::{
    io::{Read, Write},
    time::{Duration, Instant},
};

use crate::{
    Error, TaskErrorKind,
    engine::{Deadline, Runtime},
    gpu::Gpu,
    protocol::{self, Capabilities, Request, Response, VERSION},
    sandbox::{Event, Sandbox},
};

/// How often progress is relayed at most; the latest fraction wins.
pub const PROGRESS_INTERVAL: Duration = Duration::from_millis(50);

/// The floating-point probe: transcendental functions and WebAssembly f64 arithmetic on fixed
/// inputs (some of them giving NaN), as the raw little-endian bytes of a `Float64Array` in hex:
/// bit-exact, NaN signs and payloads included.
const FLOAT_PROBE_JS: &str = r#"(() => {
  const xs = [1e-300, 1e-7, 0.1, 0.5, 0.7853981633974483, 1, 2, 3.141592653589793, 10, 88.7, 1e10, 1e300, -7.25];
  const fs = ['sin', 'cos', 'tan', 'exp', 'log', 'atan', 'sinh', 'cosh', 'tanh', 'asin', 'acos', 'cbrt', 'log1p', 'expm1', 'log2', 'log10', 'sqrt'];
  const out = [];
  for (const f of fs) for (const x of xs) out.push(Math[f](x));
  for (const x of xs) for (const y of xs) { out.push(Math.pow(x, y / 7)); out.push(Math.atan2(x, y)); out.push(Math.hypot(x, y)); }
  // (module (func (export "f") (param f64 f64) (result f64) local.get 0 local.get 1 f64.div local.get 0 f64.mul f64.sqrt))
  const w = new WebAssembly.Instance(new WebAssembly.Module(new Uint8Array([0,97,115,109,1,0,0,0,1,7,1,96,2,124,124,1,124,3,2,1,0,7,5,1,1,102,0,0,10,13,1,11,0,32,0,32,1,163,32,0,162,159,11])));
  for (const x of xs) for (const y of xs) out.push(w.exports.f(x, y));
  const z = xs.length - xs.length; // 0, computed so that nothing is folded at compile time
  out.push(z / z, Infinity - Infinity, Math.sqrt(z - 1), w.exports.f(z, z), w.exports.f(z - 1, 1));
  return new Uint8Array(new Float64Array(out).buffer).toHex();
})()"#;

/// Computes the capabilities of this process.
pub fn capabilities(rt: &'static Runtime, gpu: Option<&Gpu>) -> Result<Capabilities, Error> {
    let probe = float_probe(rt)?;
    Ok(Capabilities {
        protocol: VERSION,
        evaluator: env!("CARGO_PKG_VERSION").to_string(),
        v8: rt.version().to_string(),
        gpu: gpu.map(|g| g.class().to_string()),
        gpu_memory_mib: gpu.map(Gpu::memory_mib),
        float_probe: quorate_primitives::keccak256(&probe).to_string(),
    })
}

/// The floating-point probe's results: the raw little-endian bytes of its `f64`s, NaNs as V8
/// and the hardware produced them. The capabilities report their keccak256.
pub fn float_probe(rt: &'static Runtime) -> Result<Vec<u8>, Error> {
    let mut cx = rt.context()?;
    let hex = match cx.eval(FLOAT_PROBE_JS, Deadline::after(Duration::from_secs(10)))? {
        crate::engine::Value::String(s) => s,
        other => return Err(Error::engine(format!("float probe returned {other:?}"))),
    };
    let digit = |c: u8| char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok());
    hex.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [h, l] => Some((digit(*h)? << 4) | digit(*l)?),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| Error::engine("the float probe returned malformed hex"))
}

/// Serves requests from `input` until `die` or the end of the stream.
pub fn serve(
    sandbox: &mut Sandbox,
    input: &mut impl Read,
    output: &mut impl Write,
    max_frame: u32,
) -> Result<(), Error> {
    let mut caps: Option<Capabilities> = None;
    loop {
        let request = match protocol::read_frame::<Request>(input, max_frame) {
            Ok(Some(r)) => r,
            Ok(None) => return Ok(()),
            // The frame was read whole: answer and go on.
            Err(e @ (Error::Protocol { .. } | Error::Version { .. })) => {
                protocol::write_frame(output, &Response::Failed { message: e.to_string() })?;
                continue;
            }
            // A frame too large or a broken stream: the framing is lost; stop.
            Err(e) => {
                let _ = protocol::write_frame(output, &Response::Failed { message: e.to_string() });
                return Err(e);
            }
        };
        match request {
            Request::Describe {} => {
                let reply = match &caps {
                    Some(c) => Response::Capabilities(c.clone()),
                    None => match capabilities(sandbox.runtime(), sandbox.gpu()) {
                        Ok(c) => {
                            caps = Some(c.clone());
                            Response::Capabilities(c)
                        }
                        Err(e) => Response::Failed { message: e.to_string() },
                    },
                };
                protocol::write_frame(output, &reply)?;
            }
            Request::LoadJob { hash, code } => {
                let reply = match sandbox.load(hash, &code) {
                    Ok(()) => Response::Loaded { hash },
                    Err(e) => Response::Failed { message: e.to_string() },
                };
                protocol::write_frame(output, &reply)?;
            }
            Request::RunTask { spec } => {
                let mut write_error: Option<Error> = None;
                let mut last_progress: Option<Instant> = None;
                let outcome = sandbox.run(&spec, &mut |event| {
                    let msg = match event {
                        Event::Progress { fraction } => {
                            let now = Instant::now();
                            if last_progress.is_some_and(|t| now - t < PROGRESS_INTERVAL) {
                                return;
                            }
                            last_progress = Some(now);
                            Response::Progress { fraction }
                        }
                        Event::Console { level, text } => Response::Console { level, text },
                    };
                    if write_error.is_none()
                        && let Err(e) = protocol::write_frame(output, &msg)
                    {
                        write_error = Some(e);
                    }
                });
                if let Some(e) = write_error {
                    return Err(e);
                }
                let reply = match outcome {
                    Ok(out) => Response::Result {
                        result: String::from_utf8(out.result)
                            .map_err(|_| Error::engine("the result is not UTF-8"))?,
                        digest: out.digest,
                        dropped_events: out.dropped_events,
                    },
                    Err(Error::Task { kind, message }) => Response::TaskError { kind, message },
                    Err(e) => Response::Failed { message: e.to_string() },
                };
                let mut frame = protocol::encode(&reply)?;
                if frame.len() > max_frame as usize + quorate_primitives::frame::HEADER_LEN {
                    // The result fits its cap but not a frame: the job's output is too large.
                    frame = protocol::encode(&Response::TaskError {
                        kind: TaskErrorKind::OutputTooLarge,
                        message: format!(
                            "the result's response frame would be {} bytes, over the frame limit of {max_frame} bytes",
                            frame.len().saturating_sub(quorate_primitives::frame::HEADER_LEN)
                        ),
                    })?;
                }
                protocol::write_encoded(output, &frame)?;
                if sandbox.is_poisoned() {
                    return Err(Error::Sandbox {
                        reason: "a task could not be stopped; exiting so the worker replaces this process".into(),
                    });
                }
            }
            Request::Reset {} => {
                let reply = match sandbox.reset() {
                    Ok(()) => Response::ResetDone {},
                    Err(e) => Response::Failed { message: e.to_string() },
                };
                protocol::write_frame(output, &reply)?;
            }
            Request::Die {} => return Ok(()),
        }
    }
}
