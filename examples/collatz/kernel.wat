;; The Collatz kernel of examples/collatz: how many steps take n to 1 (n >= 1), counted in
;; 64-bit arithmetic (3n + 1 outgrows 32 bits). kernel.wasm is this file assembled; a test
;; (`cargo nextest run -p quorate-e2e -E 'test(collatz)'`) checks they match, and
;; QUORATE_UPDATE_WASM=1 writes kernel.wasm again from it.
(module
  (func (export "collatz") (param $n i32) (result i32)
    (local $x i64)
    (local $steps i32)
    (local.set $x (i64.extend_i32_u (local.get $n)))
    (block $done
      (loop $next
        (br_if $done (i64.le_u (local.get $x) (i64.const 1)))
        (if (i64.eqz (i64.and (local.get $x) (i64.const 1)))
          (then (local.set $x (i64.shr_u (local.get $x) (i64.const 1))))
          (else (local.set $x (i64.add (i64.mul (local.get $x) (i64.const 3)) (i64.const 1)))))
        (local.set $steps (i32.add (local.get $steps) (i32.const 1)))
        (br $next)))
    (local.get $steps)))
