// The evaluator's JavaScript runtime. Evaluated once per context, before any job code; its
// completion value is the boot object the host reads. Everything it needs later is captured
// here, so a job that replaces globals or prototype methods cannot break it. The host calls
// this function with the mailbox's layout and message kinds (`sandbox/mailbox.rs`).
(function (M) {
  'use strict';
  const G = globalThis;
  const R = Reflect;
  const apply = R.apply;
  const construct = R.construct;
  const O = Object;
  const keysOf = O.keys;
  const defineProperty = O.defineProperty;
  const getPrototypeOf = O.getPrototypeOf;
  const getOwnPropertyDescriptor = O.getOwnPropertyDescriptor;
  const ObjectProto = O.prototype;
  const isArray = Array.isArray;
  const ArrayC = Array;
  const arrayFrom = Array.from;
  const sort = Array.prototype.sort;
  const push = Array.prototype.push;
  const shift = Array.prototype.shift;
  const join = Array.prototype.join;
  const MapC = Map;
  const mapGet = Map.prototype.get;
  const mapSet = Map.prototype.set;
  const mapDelete = Map.prototype.delete;
  const isInteger = Number.isInteger;
  const jsonStringify = JSON.stringify;
  const jsonParse = JSON.parse;
  const StringC = String;
  const charCodeAt = String.prototype.charCodeAt;
  const indexOf = String.prototype.indexOf;
  const slice = String.prototype.slice;
  const parseIntC = parseInt;
  const isFiniteNumber = Number.isFinite;
  const imul = Math.imul;
  const mathMin = Math.min;
  const mathMax = Math.max;
  const PromiseC = Promise;
  const promiseResolve = Promise.resolve;
  const promiseThen = Promise.prototype.then;
  const PromiseProto = Promise.prototype;
  const ErrorC = Error;
  const TypeErrorC = TypeError;
  const RangeErrorC = RangeError;
  const RangeErrorProto = RangeError.prototype;
  const isErrorF = Error.isError;
  const RealDate = Date;
  const U8 = Uint8Array;
  const U16 = Uint16Array;
  const U32 = Uint32Array;
  const F64 = Float64Array;
  const ArrayBufferC = ArrayBuffer;
  const DataViewC = DataView;
  const isView = ArrayBuffer.isView;
  const toBase64 = Uint8Array.prototype.toBase64;
  const fromBase64 = Uint8Array.fromBase64;
  const getter = (proto, name) => getOwnPropertyDescriptor(proto, name).get;
  const TypedArrayProto = getPrototypeOf(Uint8Array.prototype);
  const taTag = getter(TypedArrayProto, Symbol.toStringTag);
  const taBuffer = getter(TypedArrayProto, 'buffer');
  const taOffset = getter(TypedArrayProto, 'byteOffset');
  const taLength = getter(TypedArrayProto, 'byteLength');
  const dvBuffer = getter(DataView.prototype, 'buffer');
  const dvOffset = getter(DataView.prototype, 'byteOffset');
  const dvLength = getter(DataView.prototype, 'byteLength');
  const abLength = getter(ArrayBuffer.prototype, 'byteLength');
  const sabLength = getter(SharedArrayBuffer.prototype, 'byteLength');
  const mapSize = getter(Map.prototype, 'size');
  const setSize = getter(Set.prototype, 'size');
  const TYPED = {
    __proto__: null, Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
    Float16Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
  };

  // ---- The mailbox: how JS talks to the host ----------------------------------------------
  // Its layout and kinds come from the host (`M`, defined in `sandbox/mailbox.rs`): a message
  // (console text, settled, GPU request) is written here and announced with notify(); progress
  // and the count of dropped console calls are only stored (Atomics.store) and sampled by the
  // host from its own thread, so progress() never calls the host.
  const TEXT_CAP = M.textCap;
  const mailbox = new SharedArrayBuffer(M.text + 2 * TEXT_CAP);
  const mbProgress = new F64(mailbox, M.fraction, 1);
  const mbWords = new U32(mailbox);
  const W_KIND = M.kind / 4, W_LEN = M.len / 4, W_SEQ = M.progressSeq / 4, W_DROPPED = M.dropped / 4;
  const mbText = new U16(mailbox, M.text, TEXT_CAP);
  const atomicsStore = Atomics.store;
  const atomicsLoad = Atomics.load;
  const KIND_LOG = M.kinds.log, KIND_WARN = M.kinds.warn, KIND_ERROR = M.kinds.error;
  const KIND_SETTLED = M.kinds.settled, KIND_GPU = M.kinds.gpu;
  let notify = null;

  function post(kind, text) {
    const n = mathMin(text.length, TEXT_CAP);
    for (let i = 0; i < n; i++) mbText[i] = apply(charCodeAt, text, [i]);
    mbWords[W_KIND] = kind;
    mbWords[W_LEN] = n;
    apply(notify, undefined, []);
  }

  // ---- Per-task state ------------------------------------------------------------------------
  let token = 0;            // increments per task; late promise settlements of old tasks are ignored
  let consoleBudget = 0;    // UTF-16 units of console text left for this task
  let consoleDropped = 0;   // console calls dropped after the budget ran out
  let settled = null;       // the encoded outcome of a task that returned a promise
  let resultCap = 0;        // UTF-16 units the encoded result may take
  let fixedNow = 0;         // Date.now() for this task
  let rngState = new U32(4);

  // ---- Determinism: Math.random from the task id, Date from the task's timestamp -----------
  function seed(hex) {
    // xoshiro128** seeded with the first 16 bytes of the task id; never all-zero.
    for (let i = 0; i < 4; i++) {
      rngState[i] = parseIntC(apply(slice, hex, [2 + 8 * i, 10 + 8 * i]), 16) >>> 0;
    }
    if ((rngState[0] | rngState[1] | rngState[2] | rngState[3]) === 0) rngState[0] = 0x9e3779b9;
  }
  function next32() {
    const s = rngState;
    const r = imul(rotl(imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0]; s[3] ^= s[1]; s[1] ^= s[2]; s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }
  function rotl(x, k) { return (x << k) | (x >>> (32 - k)); }
  function random() {
    // 53 random bits, uniform in [0, 1).
    return ((next32() >>> 5) * 67108864 + (next32() >>> 6)) / 9007199254740992;
  }
  const MathObject = Math;
  const DateProto = RealDate.prototype;
  const dateToString = DateProto.toString;
  const dateUTC = RealDate.UTC;
  const dateParse = RealDate.parse;
  const dateNow = { now() { return fixedNow; } }.now;

  // A fresh `Date` constructor, so nothing an earlier task did to the last one is seen.
  function makeDate() {
    function FixedDate(...args) {
      if (new.target === undefined) return apply(dateToString, new RealDate(fixedNow), []);
      return construct(RealDate, args.length === 0 ? [fixedNow] : args, new.target);
    }
    FixedDate.prototype = DateProto;
    FixedDate.UTC = dateUTC;
    FixedDate.parse = dateParse;
    FixedDate.now = dateNow;
    return FixedDate;
  }

  // Intl formatters default to "now" when given no date.
  for (const name of ['format', 'formatToParts']) {
    const proto = Intl.DateTimeFormat.prototype;
    const d = getOwnPropertyDescriptor(proto, name);
    if (d === undefined) continue;
    const original = d.get === undefined ? d.value : null;
    const originalGet = d.get;
    if (originalGet !== undefined) {
      defineProperty(proto, name, {
        configurable: true,
        get() {
          const bound = apply(originalGet, this, []);
          return (date) => bound(date === undefined ? fixedNow : date);
        },
      });
    } else if (original !== null) {
      defineProperty(proto, name, {
        configurable: true, writable: true,
        value(date) { return apply(original, this, [date === undefined ? fixedNow : date]); },
      });
    }
  }

  // No clocks, timers, GC observation or host access.
  if (G.Temporal !== undefined) delete G.Temporal.Now;
  delete Atomics.waitAsync;
  delete Atomics.wait;
  delete G.WeakRef;
  delete G.FinalizationRegistry;

  // Asynchronous WebAssembly compilation finishes in a task V8 posts later, outside the task
  // that asked for it: the promise-returning functions compile synchronously instead and return
  // a settled promise, so all of a job's work happens inside its task.
  const Wasm = G.WebAssembly;
  if (Wasm !== undefined) {
    const WasmModule = Wasm.Module;
    const WasmInstance = Wasm.Instance;
    const moduleExports = Wasm.Module.exports;
    const isModule = (v) => { try { moduleExports(v); return true; } catch (_) { return false; } };
    defineProperty(Wasm, 'compile', { __proto__: null, writable: true, configurable: true, value: function compile(bytes) {
      return new PromiseC((resolve) => resolve(construct(WasmModule, [bytes])));
    } });
    defineProperty(Wasm, 'instantiate', { __proto__: null, writable: true, configurable: true, value: function instantiate(source, imports) {
      return new PromiseC((resolve) => {
        if (isModule(source)) { resolve(construct(WasmInstance, [source, imports])); return; }
        const module = construct(WasmModule, [source]);
        resolve({ module, instance: construct(WasmInstance, [module, imports]) });
      });
    } });
    delete Wasm.compileStreaming;
    delete Wasm.instantiateStreaming;
  }

  // ---- Job API: progress() and console ------------------------------------------------------
  function progress(fraction) {
    let f = fraction === undefined ? -1 : +fraction;
    if (f !== f) f = -1; // NaN: an indeterminate progress report
    if (f > 1) f = 1;
    if (f < -1) f = -1;
    // A sequence lock: odd while the fraction is written, so the host never reads half of it.
    const seq = atomicsLoad(mbWords, W_SEQ);
    atomicsStore(mbWords, W_SEQ, (seq + 1) | 0);
    mbProgress[0] = f;
    atomicsStore(mbWords, W_SEQ, (seq + 2) | 0);
    return true;
  }

  function show(v, depth) {
    if (typeof v === 'string') return v;
    if (typeof v === 'function') return '[Function]';
    if (typeof v === 'symbol' || typeof v === 'bigint') {
      try { return StringC(v) + (typeof v === 'bigint' ? 'n' : ''); } catch (_) { return '[?]'; }
    }
    if (typeof v !== 'object' || v === null) return StringC(v);
    try {
      if (v instanceof ErrorC) return StringC(v.stack === undefined ? v : v.stack);
      if (depth > 0) return '[Object]';
      return canonical(v, 4096, 32);
    } catch (_) {
      return '[Object]';
    }
  }
  function log(kind) {
    return function (...args) {
      // Dropped calls are only counted (in the mailbox): they never call the host.
      if (consoleBudget <= 0) { consoleDropped++; atomicsStore(mbWords, W_DROPPED, consoleDropped); return; }
      let text = '';
      for (let i = 0; i < args.length && text.length < consoleBudget; i++) {
        text += (i === 0 ? '' : ' ') + show(args[i], 0);
      }
      if (text.length > consoleBudget) text = apply(slice, text, [0, consoleBudget]);
      consoleBudget -= mathMax(text.length, 1);
      post(kind, text);
    };
  }
  const consoleLog = log(KIND_LOG), consoleWarn = log(KIND_WARN), consoleError = log(KIND_ERROR);

  // ---- Canonical result encoding (documented in the crate docs) ------------------------------
  class EncodeError {
    #brand = true;
    constructor(kind, message) { this.kind = kind; this.message = message; }
    // A brand check: no Proxy trap or Symbol.hasInstance of the job's runs.
    static is(e) { return e !== null && typeof e === 'object' && #brand in e; }
  }
  // True for a genuine RangeError (e.g. V8's "Invalid string length" while encoding), checked
  // without running any of the job's code (no instanceof, no Proxy trap).
  function isRangeError(e) {
    try {
      return e !== null && typeof e === 'object' && apply(isErrorF, ErrorC, [e]) &&
        getPrototypeOf(e) === RangeErrorProto;
    } catch (_) {
      return false;
    }
  }

  function bytesOf(v) {
    // Returns [type name, Uint8Array] for binary values, or null.
    if (isView(v)) {
      let name;
      try { name = apply(taTag, v, []); } catch (_) { name = undefined; }
      if (name !== undefined) {
        return [name, new U8(apply(taBuffer, v, []), apply(taOffset, v, []), apply(taLength, v, []))];
      }
      return ['DataView', new U8(apply(dvBuffer, v, []), apply(dvOffset, v, []), apply(dvLength, v, []))];
    }
    try { apply(abLength, v, []); return ['ArrayBuffer', new U8(v)]; } catch (_) { /* not one */ }
    try { apply(sabLength, v, []); return ['SharedArrayBuffer', new U8(v)]; } catch (_) { /* not one */ }
    return null;
  }
  // The bytes of a float typed array with every NaN written as the canonical quiet NaN
  // (f64 0x7ff8000000000000, f32 0x7fc00000, f16 0x7e00, little-endian): NaN payloads and signs
  // depend on the JIT tier and the hardware, so they are not part of a result. Other bytes are
  // returned as they are (a copy is made only when a NaN must be rewritten).
  function canonicalNaNs(name, bytes) {
    const size = name === 'Float64Array' ? 8 : name === 'Float32Array' ? 4 : name === 'Float16Array' ? 2 : 0;
    if (size === 0) return bytes;
    let out = bytes;
    const n = bytes.length;
    for (let i = 0; i + size <= n; i += size) {
      const top = out[i + size - 1] & 0x7f;
      let nan;
      if (size === 8) {
        const hi = (top << 24) | (out[i + 6] << 16) | (out[i + 5] << 8) | out[i + 4];
        nan = (hi & 0x7ff00000) === 0x7ff00000 &&
          ((hi & 0xfffff) | out[i] | out[i + 1] | out[i + 2] | out[i + 3]) !== 0;
      } else if (size === 4) {
        const w = (top << 24) | (out[i + 2] << 16) | (out[i + 1] << 8) | out[i];
        nan = (w & 0x7f800000) === 0x7f800000 && (w & 0x7fffff) !== 0;
      } else {
        const h = (top << 8) | out[i];
        nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
      }
      if (!nan) continue;
      if (out === bytes) out = new U8(bytes);
      for (let j = 0; j < size; j++) out[i + j] = 0;
      if (size === 8) { out[i + 6] = 0xf8; out[i + 7] = 0x7f; }
      else if (size === 4) { out[i + 2] = 0xc0; out[i + 3] = 0x7f; }
      else { out[i + 1] = 0x7e; }
    }
    return out;
  }
  function isMapOrSet(v) {
    try { apply(mapSize, v, []); return 'Map'; } catch (_) { /* not a Map */ }
    try { apply(setSize, v, []); return 'Set'; } catch (_) { /* not a Set */ }
    return null;
  }

  // True when a prototype chain includes ArrayBuffer.prototype, SharedArrayBuffer.prototype,
  // Map.prototype or Set.prototype: only then are the (exception-throwing) brand checks run, so
  // class instances cost no exception either.
  const SPECIAL_PROTOS = [ArrayBuffer.prototype, SharedArrayBuffer.prototype, Map.prototype, Set.prototype];
  function mayBeSpecial(proto) {
    let p = proto;
    for (let steps = 0; p !== null && steps < 64; steps++) {
      if (p === SPECIAL_PROTOS[0] || p === SPECIAL_PROTOS[1] || p === SPECIAL_PROTOS[2] || p === SPECIAL_PROTOS[3]) return true;
      if (p === ObjectProto) return false;
      p = getPrototypeOf(p);
    }
    return false;
  }

  // An object's own enumerable string keys, sorted by UTF-16 code units (as `<` compares
  // strings): most objects' keys are few and often already in order, so small arrays are
  // checked, and sorted by insertion, here.
  function sortedKeys(v) {
    const names = keysOf(v);
    const n = names.length;
    if (n > 16) return apply(sort, names, []);
    for (let i = 1; i < n; i++) {
      const k = names[i];
      if (names[i - 1] <= k) continue;
      let j = i - 1;
      while (j >= 0 && names[j] > k) { names[j + 1] = names[j]; j--; }
      names[j + 1] = k;
    }
    return names;
  }

  // Encodes `root` as canonical JSON: JSON.stringify's value rules (toJSON honoured with the
  // key, as JSON.stringify passes it; undefined, functions and symbols dropped from objects and
  // null in arrays), object keys sorted by UTF-16 code units, -0 written as 0, binary values as
  // {"$bytes":base64,"$type":name}; NaN, Infinity, BigInt, Map, Set, cycles and nesting deeper
  // than `maxDepth` are errors. Linear in the size of the output: no exception is thrown and no
  // text is taken back for an ordinary value, and the cap is checked as the text grows.
  // Objects whose prototype is Object.prototype or null are plain objects without brand checks
  // (a buffer, Map or Set given such a prototype is written as JSON.stringify writes it).
  function canonical(root, cap, maxDepth, prefix = '') {
    // The objects from the root to the value being written (for cycles: a cycle is deeper than
    // any chain of distinct objects, so a scan of this chain finds it), and their keys (for error
    // messages). Both filled up front with own elements, so no setter the job put on
    // Array.prototype is ever reached.
    const ancestors = apply(arrayFrom, ArrayC, [{ __proto__: null, length: maxDepth + 1 }]);
    const keys = apply(arrayFrom, ArrayC, [{ __proto__: null, length: maxDepth + 1 }]);
    // The text so far: flat chunks in `parts` (`done` characters) and the current chunk `out`.
    // Chunks are flattened and set aside as they grow, so the pieces `+=` makes die young and
    // the garbage collector never has to trace a tree of millions of them.
    const parts = [];
    // Keys written so far, quoted, with the brace or comma before and the colon after them:
    // objects of one shape repeat their keys.
    const openKeys = new MapC();
    const nextKeys = new MapC();
    let done = 0;
    let out = prefix;
    function flush() {
      apply(charCodeAt, out, [0]); // flattens `out` in place
      defineProperty(parts, parts.length, { __proto__: null, value: out, writable: true, enumerable: true, configurable: true });
      done += out.length;
      out = '';
    }
    function where(depth) {
      let p = '$';
      for (let i = 0; i < depth; i++) {
        const k = keys[i];
        p += typeof k === 'number' ? '[' + k + ']' : '.' + k;
      }
      return p;
    }
    function tooLarge() {
      return new EncodeError('output_too_large', 'the result exceeds the output cap of ' + cap + ' characters');
    }
    function resolve(v, key) {
      if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
        const toJSON = v.toJSON;
        if (typeof toJSON === 'function') return apply(toJSON, v, [typeof key === 'number' ? StringC(key) : key]);
      }
      return v;
    }
    function skipped(v) {
      const t = typeof v;
      return t === 'undefined' || t === 'function' || t === 'symbol';
    }
    function write(v, depth) {
      switch (typeof v) {
        case 'string':
          if (done + out.length + v.length + 2 > cap) throw tooLarge();
          out += jsonStringify(v);
          break;
        case 'number':
          if (!isFiniteNumber(v)) throw new EncodeError('bad_result', 'non-finite number ' + StringC(v) + ' at ' + where(depth));
          out += v === 0 ? '0' : '' + v;
          break;
        case 'boolean': out += v ? 'true' : 'false'; break;
        case 'bigint': throw new EncodeError('bad_result', 'BigInt at ' + where(depth) + ' (convert it to a string)');
        default:
          if (v === null) out += 'null';
          else writeObject(v, depth);
      }
      if (out.length > CHUNK) {
        if (done + out.length > cap) throw tooLarge();
        flush();
      }
    }
    function writeObject(v, depth) {
      if (depth >= maxDepth) throw new EncodeError('bad_result', 'result nested deeper than ' + maxDepth + ' at ' + where(depth));
      for (let i = 0; i < depth; i++) {
        if (ancestors[i] === v) throw new EncodeError('bad_result', 'cycle at ' + where(depth));
      }
      ancestors[depth] = v;
      if (isArray(v)) {
        out += '[';
        const n = v.length;
        for (let i = 0; i < n; i++) {
          if (i > 0) out += ',';
          keys[depth] = i;
          const x = resolve(v[i], i);
          if (skipped(x)) out += 'null';
          else write(x, depth + 1);
        }
        out += ']';
        ancestors[depth] = undefined;
        return;
      }
      const proto = getPrototypeOf(v);
      if (proto !== ObjectProto && proto !== null && (isView(v) || mayBeSpecial(proto))) {
        const binary = bytesOf(v);
        if (binary !== null) {
          ancestors[depth] = undefined;
          if (done + out.length + (binary[1].length * 4) / 3 > cap) throw tooLarge();
          const bytes = canonicalNaNs(binary[0], binary[1]);
          out += '{"$bytes":"' + apply(toBase64, bytes, []) + '","$type":"' + binary[0] + '"}';
          return;
        }
        const ms = isMapOrSet(v);
        if (ms !== null) throw new EncodeError('bad_result', ms + ' at ' + where(depth) + ' (convert it to an array or object)');
      }
      const names = sortedKeys(v);
      let first = true;
      for (let i = 0; i < names.length; i++) {
        const k = names[i];
        keys[depth] = k;
        const x = resolve(v[k], k);
        if (skipped(x)) continue;
        const cache = first ? openKeys : nextKeys;
        let quoted = apply(mapGet, cache, [k]);
        if (quoted === undefined) {
          quoted = (first ? '{' : ',') + jsonStringify(k) + ':';
          if (k.length <= 64 && apply(mapSize, cache, []) < 4096) apply(mapSet, cache, [k, quoted]);
        }
        out += quoted;
        first = false;
        write(x, depth + 1);
      }
      out += first ? '{}' : '}';
      ancestors[depth] = undefined;
    }
    const top = resolve(root, '');
    if (skipped(top)) out += 'null';
    else write(top, 0);
    if (done + out.length > cap) throw tooLarge();
    if (parts.length === 0) return out;
    if (out.length !== 0) flush();
    return parts.length === 1 ? parts[0] : apply(join, parts, ['']);
  }
  const CHUNK = 8192;

  function describeThrew(e) { return describe('threw', e); }
  function describe(kind, e) {
    let message;
    try {
      if (EncodeError.is(e)) return 'E' + e.kind + '\n' + e.message;
      // An error is its name and message (String(e)), never its stack: the stack names the
      // runtime's own frames and lines, which differ between versions, and the outcome of a
      // throw is voted on by replicas that may run different ones.
      if (e instanceof ErrorC) {
        message = StringC(e);
      } else if (typeof e === 'string') {
        message = 'uncaught string: ' + e;
      } else {
        message = 'uncaught non-error value: ' + show(e, 0);
      }
    } catch (_) {
      message = 'uncaught value that cannot be described';
    }
    if (message.length > 16384) message = apply(slice, message, [0, 16384]) + '...';
    return 'E' + kind + '\n' + message;
  }
  // Never throws: the job's own exceptions while encoding (toJSON, getters, proxies) are
  // `threw`.
  function encode(v) {
    try {
      // The outcome's tag is the text's first character (no copy of a long result to add it).
      try { return canonical(v, resultCap + 1, 512, 'R'); } catch (e) {
        if (EncodeError.is(e)) return describe('', e);
        if (isRangeError(e)) return 'Ebad_result\nthe result cannot be encoded: ' + StringC(e.message);
        return describe('threw', e);
      }
    } catch (_) {
      return UNDESCRIBABLE;
    }
  }
  const UNDESCRIBABLE = 'Ethrew\nuncaught value that cannot be described';

  // ---- Inputs: JSON, with {"$bytes","$type"} objects turned back into binary values ---------
  function revive(_key, v) {
    if (v === null || typeof v !== 'object' || isArray(v)) return v;
    const k = keysOf(v);
    if (k.length !== 2 || typeof v.$bytes !== 'string' || typeof v.$type !== 'string') return v;
    const bytes = fromBase64(v.$bytes);
    const buf = apply(taBuffer, bytes, []);
    if (v.$type === 'ArrayBuffer') return buf;
    if (v.$type === 'DataView') return new DataViewC(buf);
    const C = TYPED[v.$type];
    if (C === undefined) return v;
    return new C(buf, 0, bytes.length / C.BYTES_PER_ELEMENT);
  }
  function parseJson(text) {
    return apply(indexOf, text, ['"$bytes"']) >= 0 ? jsonParse(text, revive) : jsonParse(text);
  }

  // ---- GPU: gpu.compute({ code, entryPoint, workgroups, buffers, read }) -> Promise<ArrayBuffer[]>
  // Buffer i is bound at @group(0) @binding(i) as var<storage, read_write>; a typed array,
  // DataView or ArrayBuffer gives its initial bytes, { size } a zeroed buffer of that many bytes.
  // The promise resolves to the bytes of the buffers listed in `read` (default: all), in order.
  const GPU_MAX_BUFFERS = 8;
  let gpuQueue = [];
  let gpuPending = new MapC();
  let gpuNextId = 1;
  function compute(spec) {
    return new PromiseC((resolve, reject) => {
      if (gpuEnabled !== true) throw new TypeErrorC('gpu.compute: this sandbox has no GPU');
      if (spec === null || typeof spec !== 'object') throw new TypeErrorC('gpu.compute: expected an object');
      const code = spec.code;
      const entryPoint = spec.entryPoint === undefined ? 'main' : spec.entryPoint;
      if (typeof code !== 'string' || typeof entryPoint !== 'string') throw new TypeErrorC('gpu.compute: code and entryPoint must be strings');
      const wg = spec.workgroups;
      const groups = [1, 1, 1];
      if (!isArray(wg) || wg.length < 1 || wg.length > 3) throw new TypeErrorC('gpu.compute: workgroups must be an array of 1 to 3 integers');
      for (let i = 0; i < wg.length; i++) {
        const n = wg[i];
        if (!isInteger(n) || n < 0 || n > 65535) throw new RangeErrorC('gpu.compute: workgroup counts must be integers in [0, 65535]');
        groups[i] = n;
      }
      const buffers = spec.buffers;
      if (!isArray(buffers) || buffers.length < 1 || buffers.length > GPU_MAX_BUFFERS) throw new TypeErrorC('gpu.compute: buffers must be an array of 1 to ' + GPU_MAX_BUFFERS);
      const sizes = [];
      const datas = [];
      for (let i = 0; i < buffers.length; i++) {
        const b = buffers[i];
        const bin = b !== null && typeof b === 'object' ? bytesOf(b) : null;
        if (bin !== null) {
          apply(push, sizes, [bin[1].length]);
          apply(push, datas, [apply(toBase64, bin[1], [])]);
        } else if (b !== null && typeof b === 'object' && isInteger(b.size) && b.size > 0) {
          apply(push, sizes, [b.size]);
          apply(push, datas, ['']);
        } else {
          throw new TypeErrorC('gpu.compute: buffer ' + i + ' must be a typed array, DataView, ArrayBuffer or { size }');
        }
      }
      const read = [];
      if (spec.read === undefined) {
        for (let i = 0; i < buffers.length; i++) apply(push, read, [i]);
      } else if (isArray(spec.read)) {
        if (spec.read.length > buffers.length) throw new RangeErrorC('gpu.compute: read lists at most as many indices as there are buffers');
        for (let i = 0; i < spec.read.length; i++) {
          const r = spec.read[i];
          if (!isInteger(r) || r < 0 || r >= buffers.length) throw new RangeErrorC('gpu.compute: read lists buffer indices');
          apply(push, read, [r]);
        }
      } else {
        throw new TypeErrorC('gpu.compute: read must be an array of buffer indices');
      }
      const id = gpuNextId++;
      const request = canonical({ id, code, entryPoint, workgroups: groups, sizes, read, data: datas }, 1 << 30, 8);
      apply(mapSet, gpuPending, [id, [resolve, reject, token]]);
      apply(push, gpuQueue, [request]);
      post(KIND_GPU, '');
    });
  }
  let gpuEnabled = false;

  // ---- The job's API, installed afresh before every task ------------------------------------
  // Math.random, Date, progress, console and gpu: whatever an earlier task of the job did to
  // them (replaced, wrapped, deleted), every task starts with the runtime's own. Returns false
  // when that is impossible (the job froze the global object or Math): the host then starts
  // from a fresh context.
  function installApi() {
    const D = makeDate();
    const console = {
      log: consoleLog, info: consoleLog, debug: consoleLog, warn: consoleWarn, error: consoleError,
    };
    return define(MathObject, 'random', random) & define(DateProto, 'constructor', D) &
      define(G, 'Date', D) & define(G, 'progress', progress) & define(G, 'console', console) &
      define(G, 'gpu', { compute });
  }
  // 1 when done, 0 when the property cannot be redefined. The descriptor has no prototype, so
  // nothing the job put on Object.prototype (a `get`, say) is read as part of it.
  function define(obj, key, value) {
    try {
      defineProperty(obj, key, { __proto__: null, value, writable: true, configurable: true });
      return 1;
    } catch (_) {
      return 0;
    }
  }
  installApi();

  // The next queued request ('' when none), one JSON object: id, code, entryPoint, workgroups,
  // sizes, read, and data (one base64 string per buffer, '' for a zeroed one).
  function gpuNext() {
    return gpuQueue.length === 0 ? '' : apply(shift, gpuQueue, []);
  }
  // The pending request `id` of the current task, taken off the pending map (undefined when
  // there is none: a request of an earlier task).
  function gpuTake(id) {
    const entry = apply(mapGet, gpuPending, [id]);
    if (entry === undefined) return undefined;
    apply(mapDelete, gpuPending, [id]);
    return entry[2] === token ? entry : undefined;
  }
  // The host ran request `id`: `outputs` is a JSON array of base64 strings, one per buffer read.
  function gpuResolve(id, outputs) {
    const entry = gpuTake(id);
    if (entry === undefined) return 'R';
    const list = jsonParse(outputs);
    const out = [];
    for (let i = 0; i < list.length; i++) apply(push, out, [apply(taBuffer, fromBase64(list[i]), [])]);
    entry[0](out);
    return 'R';
  }
  // The host refused or failed request `id`, for `message`.
  function gpuReject(id, message) {
    const entry = gpuTake(id);
    if (entry !== undefined) entry[1](new ErrorC('gpu.compute: ' + message));
    return 'R';
  }

  // ---- Host entry points ----------------------------------------------------------------------
  let work = null;

  // Evaluates the job's code; its completion value (or a global `work`) is the work function.
  function load(code) {
    const f = (0, eval)(code);
    const w = typeof f === 'function' ? f : G.work;
    if (typeof w !== 'function') {
      return 'Ethe job code must evaluate to a function or define a global function `work`';
    }
    work = w;
    return 'R';
  }

  // Three JSON texts: the host's header (task id, clock, caps, flags), the task's input and
  // its argument array. Returns 'R' + result, 'E' + kind \n message, or 'P' when the work
  // function returned a promise (the host then waits for KIND_SETTLED and calls take()).
  function run(headerJson, inputJson, argsJson) {
    token++;
    try {
      return runTask(headerJson, inputJson, argsJson);
    } catch (_) {
      return UNDESCRIBABLE;
    }
  }
  function runTask(headerJson, inputJson, argsJson) {
    settled = null;
    gpuQueue = [];
    gpuPending = new MapC();
    const header = jsonParse(headerJson);
    // On a fresh context the API is as the job's code left it when loaded: no task ran yet.
    if (!installApi() && header.fresh !== true) {
      return 'Estale_api\nthe job made the runtime\'s API impossible to reinstall';
    }
    seed(header.task);
    fixedNow = header.now;
    consoleBudget = header.consoleCap;
    consoleDropped = 0;
    atomicsStore(mbWords, W_DROPPED, 0);
    resultCap = header.resultCap;
    gpuEnabled = header.gpu === true;
    if (work === null) return 'Eno_job\nno job is loaded';
    let input, args;
    try {
      input = parseJson(inputJson);
      args = parseJson(argsJson);
    } catch (e) {
      return 'Ebad_input\n' + StringC(e.message);
    }
    if (!isArray(args)) return 'Ebad_input\nthe arguments must be a JSON array';
    const argv = [input];
    for (let i = 0; i < args.length; i++) defineProperty(argv, i + 1, { __proto__: null, value: args[i], writable: true, enumerable: true, configurable: true });
    let out;
    try {
      out = apply(work, undefined, argv);
    } catch (e) {
      return describe('threw', e);
    }
    let thenable;
    try {
      // A native promise, or any object with a `then` method (whose getter may throw).
      thenable = out !== null && typeof out === 'object' &&
        (getPrototypeOf(out) === PromiseProto || typeof out.then === 'function');
    } catch (e) {
      return describe('threw', e);
    }
    if (thenable) {
      const mine = token;
      // Always posts a settlement, whatever encoding the value or the reason does.
      const settle = (f, v) => {
        if (mine !== token) return;
        let text;
        try { text = f(v); } catch (_) { text = UNDESCRIBABLE; }
        settled = text;
        post(KIND_SETTLED, '');
      };
      const onValue = (v) => settle(encode, v);
      const onError = (e) => settle(describeThrew, e);
      try {
        apply(promiseThen, apply(promiseResolve, PromiseC, [out]), [onValue, onError]);
      } catch (e) {
        return describe('threw', e);
      }
      return 'P';
    }
    return encode(out);
  }

  function take() {
    const s = settled;
    settled = null;
    return s === null ? 'Enever_settled\nthe promise has not settled' : s;
  }
  // A no-op: the host calls it after a task's answer, and it can only start once the isolate is
  // idle (promise continuations are run between host calls), so its return proves that nothing
  // the task left behind is still running.
  function idle() { return 'R'; }

  const boot = {
    mailbox,
    args: [null],
    install(n) {
      notify = n;
      boot.install = null;
      boot.mailbox = null;
      return { load, run, take, idle, gpuNext, gpuResolve, gpuReject, args: [null, null, null] };
    },
  };
  return boot;
})
