// Multiplies two n × n matrices on the GPU: a WGSL compute shader through `gpu.compute`.
// The matrices come from the input's seed (small integers, so every product and sum is exact in
// f32 and every GPU agrees); the result is the product's trace, its checksum and first row.
const SHADER = `
@group(0) @binding(0) var<storage, read_write> a: array<f32>;
@group(0) @binding(1) var<storage, read_write> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
@group(0) @binding(3) var<storage, read_write> dims: array<u32>;

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
  let n = dims[0];
  if (id.x >= n || id.y >= n) { return; }
  var sum = 0.0;
  for (var k = 0u; k < n; k = k + 1u) {
    sum = sum + a[id.y * n + k] * b[k * n + id.x];
  }
  c[id.y * n + id.x] = sum;
}`;

async (input) => {
  const n = input.n;
  if (!Number.isInteger(n) || n < 1 || n > 512) throw new RangeError('n must be an integer from 1 to 512');
  // xorshift32 from the seed: entries in [-8, 8].
  let x = (input.seed >>> 0) || 1;
  const next = () => { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; return (x % 17) - 8; };
  const a = new Float32Array(n * n);
  const b = new Float32Array(n * n);
  for (let i = 0; i < n * n; i++) { a[i] = next(); b[i] = next(); }
  const groups = Math.ceil(n / 8);
  const [product] = await gpu.compute({
    code: SHADER,
    workgroups: [groups, groups, 1],
    buffers: [a, b, { size: n * n * 4 }, new Uint32Array([n])],
    read: [2],
  });
  const c = new Float32Array(product);
  let trace = 0;
  let checksum = 0;
  for (let i = 0; i < n; i++) trace += c[i * n + i];
  for (let i = 0; i < n * n; i++) checksum = ((checksum * 31 + c[i]) % 1000000007 + 1000000007) % 1000000007;
  return { n, seed: input.seed, trace, checksum, row: Array.from(c.slice(0, Math.min(n, 8))) };
}
