//! WebAssembly modules a job ships as data, by content hash (`job submit --wasm FILE`): the
//! work function finds each as `modules[name]`, a `WebAssembly.Module` compiled once when the
//! job loads, and instantiates it as it likes. Every node that loads the job (a worker, the
//! pool's check, `run-local`) puts the same prelude before the same code, so the sandbox sees
//! the same source everywhere; a job without modules loads its code as it is.

use quorate_primitives::ContentHash;

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// `bytes` in base64 (standard alphabet, padded).
fn base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3).saturating_mul(4));
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            let c = BASE64.get(((n >> shift) & 63) as usize).copied().unwrap_or(b'A');
            out.push(if i > chunk.len() { '=' } else { char::from(c) });
        }
    }
    out
}

/// The prelude's base64 decoder, in JavaScript.
const DECODE: &str = "const A='ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',T=new Uint8Array(128);\
for(let i=0;i<64;i++)T[A.charCodeAt(i)]=i;\
const d=(s)=>{const p=s.endsWith('==')?2:s.endsWith('=')?1:0,o=new Uint8Array(s.length/4*3-p);let k=0;\
for(let i=0;i<s.length;i+=4){const v=(T[s.charCodeAt(i)]<<18)|(T[s.charCodeAt(i+1)]<<12)|(T[s.charCodeAt(i+2)]<<6)|T[s.charCodeAt(i+3)];\
if(k<o.length)o[k++]=(v>>16)&255;if(k<o.length)o[k++]=(v>>8)&255;if(k<o.length)o[k++]=v&255;}return o;};";

/// The source a sandbox loads for `code` with `modules` (name, bytes), and its content hash
/// (the code's own when there is no module).
pub fn bundle(
    code: &str,
    code_hash: ContentHash,
    modules: &[(String, Vec<u8>)],
) -> (String, ContentHash) {
    if modules.is_empty() {
        return (code.to_owned(), code_hash);
    }
    let mut source = String::from("const modules=(()=>{");
    source.push_str(DECODE);
    source.push_str("return Object.freeze({");
    for (name, bytes) in modules {
        let name = serde_json::to_string(name).unwrap_or_else(|_| "\"\"".into());
        source.push_str(&format!("{name}:new WebAssembly.Module(d(\"{}\")),", base64(bytes)));
    }
    source.push_str("});})();\n");
    source.push_str(code);
    let hash = ContentHash::of(source.as_bytes());
    (source, hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_as_the_standard_says() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn a_job_without_modules_loads_as_it_is() {
        let hash = ContentHash::of(b"(x) => x");
        assert_eq!(bundle("(x) => x", hash, &[]), ("(x) => x".to_owned(), hash));
        let (source, other) = bundle("(x) => x", hash, &[("k.wasm".into(), vec![0, 97, 115, 109])]);
        assert!(source.starts_with("const modules=") && source.ends_with("\n(x) => x"));
        assert!(source.contains("\"k.wasm\":new WebAssembly.Module(d(\"AGFzbQ==\"))"), "{source}");
        assert_ne!(other, hash);
    }
}
