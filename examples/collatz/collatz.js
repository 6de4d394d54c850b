// The longest Collatz run in a range of numbers, computed by a WebAssembly kernel shipped with
// the job as data (`--wasm kernel.wasm`): the sandbox compiles it once, as modules['kernel.wasm'],
// and every task of the job instantiates it here.
const { collatz } = new WebAssembly.Instance(modules['kernel.wasm']).exports;

(input) => {
  let longest = 0;
  let at = input.from;
  for (let n = input.from; n < input.to; n++) {
    const steps = collatz(n);
    if (steps > longest) { longest = steps; at = n; }
    if ((n & 0xffff) === 0) progress((n - input.from) / (input.to - input.from));
  }
  return { from: input.from, to: input.to, longest, at };
}
