;; Sum (times scale: 1 for Sum, 1/outer for Mean) over the leading axes of a float32 tensor
;; viewed as [outer, inner] rows, inner a multiple of 4, four columns per SIMD step, in the wasm
;; backend's own memory (imported): out[c] = scale * sum_r x[r, c]. Rows are added in blocks of
;; 64 into tmp (inner floats) and each block into out, which bounds the float32 rounding.
;; Regenerate the embedded bytes after an edit: node scripts/wasm-kernels.mjs
(module
  (import "env" "memory" (memory 1))
  (func (export "sumRows") (param $x i32) (param $out i32) (param $tmp i32) (param $outer i32) (param $inner i32) (param $scale f32)
    (local $rb i32) (local $r i32) (local $end i32) (local $k i32) (local $s v128)
    (local.set $rb (i32.shl (local.get $inner) (i32.const 2)))
    (memory.fill (local.get $out) (i32.const 0) (local.get $rb))
    (local.set $r (i32.const 0))
    (block $done (loop $block
      (br_if $done (i32.ge_u (local.get $r) (local.get $outer)))
      (local.set $end (i32.add (local.get $r) (i32.const 64)))
      (if (i32.gt_u (local.get $end) (local.get $outer)) (then (local.set $end (local.get $outer))))
      (memory.fill (local.get $tmp) (i32.const 0) (local.get $rb))
      (block $rows_done (loop $rows
        (br_if $rows_done (i32.ge_u (local.get $r) (local.get $end)))
        (local.set $k (i32.const 0))
        (block $cols_done (loop $cols
          (br_if $cols_done (i32.ge_u (local.get $k) (local.get $rb)))
          (v128.store (i32.add (local.get $tmp) (local.get $k))
            (f32x4.add (v128.load (i32.add (local.get $tmp) (local.get $k))) (v128.load (i32.add (local.get $x) (local.get $k)))))
          (local.set $k (i32.add (local.get $k) (i32.const 16)))
          (br $cols)))
        (local.set $x (i32.add (local.get $x) (local.get $rb)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rows)))
      (local.set $k (i32.const 0))
      (block $acc_done (loop $acc
        (br_if $acc_done (i32.ge_u (local.get $k) (local.get $rb)))
        (v128.store (i32.add (local.get $out) (local.get $k))
          (f32x4.add (v128.load (i32.add (local.get $out) (local.get $k))) (v128.load (i32.add (local.get $tmp) (local.get $k)))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $acc)))
      (br $block)))
    (local.set $s (f32x4.splat (local.get $scale)))
    (local.set $k (i32.const 0))
    (block $scaled (loop $scale_loop
      (br_if $scaled (i32.ge_u (local.get $k) (local.get $rb)))
      (v128.store (i32.add (local.get $out) (local.get $k)) (f32x4.mul (v128.load (i32.add (local.get $out) (local.get $k))) (local.get $s)))
      (local.set $k (i32.add (local.get $k) (i32.const 16)))
      (br $scale_loop)))))
