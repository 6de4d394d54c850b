// The evaluator's JavaScript runtime. Evaluated once per context, before any job code; its
// completion value is the boot object the host reads. Everything it needs later is captured
// here, so a job that replaces globals or prototype methods cannot break it.
(function () {
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
  const objectIs = O.is;
  const isArray = Array.isArray;
  const sort = Array.prototype.sort;
  const push = Array.prototype.push;
  const shift = Array.prototype.shift;
  const join = Array.prototype.join;
  const split = String.prototype.split;
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
  const SetC = Set;
  const setAdd = Set.prototype.add;
  const setHas = Set.prototype.has;
  const setDelete = Set.prototype.delete;
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

  // ---- The mailbox: how JS talks to the host without a round trip --------------------------
  // bytes 0..8: f64 progress; 8..12: u32 kind; 12..16: u32 text length (UTF-16 units);
  // 16..: UTF-16 text. The host reads it while JS is paused inside `notify()`.
  const TEXT_CAP = 32768;
  const mailbox = new SharedArrayBuffer(16 + 2 * TEXT_CAP);
  const mbProgress = new F64(mailbox, 0, 1);
  const mbHeader = new U32(mailbox, 8, 2);
  const mbText = new U16(mailbox, 16, TEXT_CAP);
  const KIND_PROGRESS = 1, KIND_LOG = 2, KIND_WARN = 3, KIND_ERROR = 4, KIND_SETTLED = 5, KIND_DROPPED = 6, KIND_GPU = 7;
  let notify = null;

  function post(kind, text) {
    const n = mathMin(text.length, TEXT_CAP);
    for (let i = 0; i < n; i++) mbText[i] = apply(charCodeAt, text, [i]);
    mbHeader[0] = kind;
    mbHeader[1] = n;
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

  // ---- Job API: progress() and console ------------------------------------------------------
  function progress(fraction) {
    let f = fraction === undefined ? -1 : +fraction;
    if (f !== f) f = -1; // NaN: an indeterminate progress report
    if (f > 1) f = 1;
    if (f < -1) f = -1;
    mbProgress[0] = f;
    mbHeader[0] = KIND_PROGRESS;
    mbHeader[1] = 0;
    apply(notify, undefined, []);
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
      if (consoleBudget <= 0) { consoleDropped++; post(KIND_DROPPED, ''); return; }
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

  // Encodes `root` as canonical JSON: JSON.stringify's value rules (toJSON honoured; undefined,
  // functions and symbols dropped from objects and null in arrays), object keys sorted by UTF-16
  // code units, -0 written as 0, binary values as {"$bytes":base64,"$type":name}; NaN, Infinity,
  // BigInt, Map, Set, cycles and nesting deeper than `maxDepth` are errors.
  function canonical(root, cap, maxDepth) {
    const ancestors = new SetC();
    let out = '';
    function emit(s) {
      out += s;
      if (out.length > cap) throw new EncodeError('output_too_large', 'the result exceeds the output cap of ' + cap + ' characters');
    }
    function value(v, depth, path) {
      if (v !== null && (typeof v === 'object' || typeof v === 'bigint')) {
        const toJSON = v.toJSON;
        if (typeof toJSON === 'function') v = apply(toJSON, v, [path]);
      }
      switch (typeof v) {
        case 'string': emit(jsonStringify(v)); return true;
        case 'number':
          if (!isFiniteNumber(v)) throw new EncodeError('bad_result', 'non-finite number ' + StringC(v) + ' at ' + path);
          emit(objectIs(v, -0) ? '0' : jsonStringify(v));
          return true;
        case 'boolean': emit(v ? 'true' : 'false'); return true;
        case 'bigint': throw new EncodeError('bad_result', 'BigInt at ' + path + ' (convert it to a string)');
        case 'undefined': case 'function': case 'symbol': return false;
      }
      if (v === null) { emit('null'); return true; }
      if (depth >= maxDepth) throw new EncodeError('bad_result', 'result nested deeper than ' + maxDepth + ' at ' + path);
      if (apply(setHas, ancestors, [v])) throw new EncodeError('bad_result', 'cycle at ' + path);
      const binary = bytesOf(v);
      if (binary !== null) {
        if (out.length + (binary[1].length * 4) / 3 > cap) {
          throw new EncodeError('output_too_large', 'the result exceeds the output cap of ' + cap + ' characters');
        }
        const bytes = canonicalNaNs(binary[0], binary[1]);
        emit('{"$bytes":"' + apply(toBase64, bytes, []) + '","$type":"' + binary[0] + '"}');
        return true;
      }
      const ms = isMapOrSet(v);
      if (ms !== null) throw new EncodeError('bad_result', ms + ' at ' + path + ' (convert it to an array or object)');
      apply(setAdd, ancestors, [v]);
      if (isArray(v)) {
        emit('[');
        const n = v.length;
        for (let i = 0; i < n; i++) {
          if (i > 0) emit(',');
          if (!value(v[i], depth + 1, path + '[' + i + ']')) emit('null');
        }
        emit(']');
      } else {
        const keys = apply(sort, keysOf(v), []);
        emit('{');
        let first = true;
        for (let i = 0; i < keys.length; i++) {
          const k = keys[i];
          const mark = out.length;
          emit((first ? '' : ',') + jsonStringify(k) + ':');
          if (value(v[k], depth + 1, path + '.' + k)) first = false;
          else out = apply(slice, out, [0, mark]);
        }
        emit('}');
      }
      apply(setDelete, ancestors, [v]);
      return true;
    }
    if (!value(root, 0, '$')) emit('null');
    return out;
  }

  function describeThrew(e) { return describe('threw', e); }
  function describe(kind, e) {
    let message;
    try {
      if (EncodeError.is(e)) return 'E' + e.kind + '\n' + e.message;
      if (e instanceof ErrorC) {
        const stack = e.stack;
        message = typeof stack === 'string' ? stack : StringC(e);
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
      try { return 'R' + canonical(v, resultCap, 512); } catch (e) {
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
      const header = canonical({ code, entryPoint, workgroups: groups, sizes, read }, 1 << 30, 8);
      apply(mapSet, gpuPending, [id, [resolve, reject, token]]);
      apply(push, gpuQueue, [id + '\u0000' + header + '\u0000' + apply(join, datas, ['\u0000'])]);
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

  // The next queued request ('' when none): id \0 header JSON \0 base64 buffers separated by \0.
  function gpuNext() {
    return gpuQueue.length === 0 ? '' : apply(shift, gpuQueue, []);
  }
  // A reply: id \0 'ok' \0 base64 outputs separated by \0, or id \0 'err' \0 message.
  function gpuDone(reply) {
    const parts = apply(split, reply, ['\u0000']);
    const id = +parts[0];
    const entry = apply(mapGet, gpuPending, [id]);
    if (entry === undefined) return 'R';
    apply(mapDelete, gpuPending, [id]);
    if (entry[2] !== token) return 'R';
    if (parts[1] === 'ok') {
      const out = [];
      for (let i = 2; i < parts.length; i++) apply(push, out, [apply(taBuffer, fromBase64(parts[i]), [])]);
      entry[0](out);
    } else {
      entry[1](new ErrorC('gpu.compute: ' + parts[2]));
    }
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

  // packet = header JSON \0 input JSON \0 args JSON. Returns 'R' + result, 'E' + kind \n message,
  // or 'P' when the work function returned a promise (the host then waits for KIND_SETTLED and
  // calls take()).
  function run(packet) {
    token++;
    try {
      return runTask(packet);
    } catch (_) {
      return UNDESCRIBABLE;
    }
  }
  function runTask(packet) {
    settled = null;
    gpuQueue = [];
    gpuPending = new MapC();
    const a = apply(indexOf, packet, ['\u0000']);
    const b = apply(indexOf, packet, ['\u0000', a + 1]);
    const header = jsonParse(apply(slice, packet, [0, a]));
    // On a fresh context the API is as the job's code left it when loaded: no task ran yet.
    if (!installApi() && header.fresh !== true) {
      return 'Estale_api\nthe job made the runtime\'s API impossible to reinstall';
    }
    seed(header.task);
    fixedNow = header.now;
    consoleBudget = header.consoleCap;
    consoleDropped = 0;
    resultCap = header.resultCap;
    gpuEnabled = header.gpu === true;
    if (work === null) return 'Eno_job\nno job is loaded';
    let input, args;
    try {
      input = parseJson(apply(slice, packet, [a + 1, b]));
      args = parseJson(apply(slice, packet, [b + 1]));
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
  function abandon() { token++; settled = null; gpuQueue = []; gpuPending = new MapC(); }
  function dropped() { return consoleDropped; }

  const boot = {
    mailbox,
    args: [null],
    install(n) {
      notify = n;
      boot.install = null;
      boot.mailbox = null;
      return { load, run, take, abandon, dropped, gpuNext, gpuDone, args: [null] };
    },
  };
  return boot;
})()
