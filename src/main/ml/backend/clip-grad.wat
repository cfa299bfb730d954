;; The gradient of ClipByValue (ReLU6 in MobileNetV2, a clip after a ReLU in Keras's ReLU layer):
;; out = dy where min <= x <= max, else 0 (NaN x gives 0), float32, four elements per SIMD step,
;; in the wasm backend's own memory (imported). tfjs composes it from GreaterEqual, LessEqual,
;; LogicalAnd, ZerosLike and Select: five passes and four temporaries.
;; Regenerate the embedded bytes after an edit: node scripts/wasm-kernels.mjs
(module
  (import "env" "memory" (memory 1))
  (func (export "clipGrad") (param $x i32) (param $dy i32) (param $out i32) (param $n i32) (param $min f32) (param $max f32)
    (local $i i32) (local $end i32) (local $lo v128) (local $hi v128) (local $v v128) (local $s f32)
    (local.set $lo (f32x4.splat (local.get $min)))
    (local.set $hi (f32x4.splat (local.get $max)))
    (local.set $end (i32.shl (i32.and (local.get $n) (i32.const -4)) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $done (loop $vec
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $v (v128.load (i32.add (local.get $x) (local.get $i))))
      (v128.store (i32.add (local.get $out) (local.get $i))
        (v128.and (v128.load (i32.add (local.get $dy) (local.get $i)))
          (v128.and (f32x4.ge (local.get $v) (local.get $lo)) (f32x4.le (local.get $v) (local.get $hi)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $vec)))
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done_tail (loop $tail
      (br_if $done_tail (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $s (f32.load (i32.add (local.get $x) (local.get $i))))
      (f32.store (i32.add (local.get $out) (local.get $i))
        (select (f32.load (i32.add (local.get $dy) (local.get $i))) (f32.const 0)
          (i32.and (f32.ge (local.get $s) (local.get $min)) (f32.le (local.get $s) (local.get $max)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $tail)))))
