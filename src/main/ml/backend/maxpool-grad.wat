;; MaxPoolGrad for 2x2 windows with stride 2 and no padding, NHWC float32, channels a multiple
;; of 4, four channels per SIMD step, inside the wasm backend's own memory (imported).
;; Each window's gradient goes to its first maximum, as on the cpu backend: scanning
;; (0,0) (0,1) (1,0) (1,1) with strict '>' from -Infinity (NaN never wins).
;; Regenerate the embedded bytes after an edit: node scripts/wasm-kernels.mjs
(module
  (import "env" "memory" (memory 1))
  ;; x, dy, dx: byte addresses; n images of (2*ho) x (2*wo) x c.
  (func (export "maxPoolGrad2x2") (param $x i32) (param $dy i32) (param $dx i32) (param $n i32) (param $ho i32) (param $wo i32) (param $c i32)
    (local $rows i32) (local $i i32) (local $j i32) (local $d i32)
    (local $p i32) (local $q i32) (local $cb i32) (local $rb i32)
    (local $v00 v128) (local $v01 v128) (local $v10 v128) (local $v11 v128) (local $g v128)
    (local $ninf v128) (local $ok0 v128) (local $a v128) (local $c1 v128) (local $c2 v128) (local $c3 v128)
    (local.set $ninf (f32x4.splat (f32.const -inf)))
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))                          ;; bytes per pixel
    (local.set $rb (i32.mul (local.get $cb) (i32.shl (local.get $wo) (i32.const 1)))) ;; bytes per input row
    (local.set $rows (i32.mul (local.get $n) (local.get $ho)))                     ;; window rows over all images
    (local.set $i (i32.const 0))
    (block $done_rows (loop $row
      (br_if $done_rows (i32.ge_u (local.get $i) (local.get $rows)))
      ;; byte offset of the window row's top-left pixel: 2*i input rows in
      (local.set $p (i32.mul (i32.shl (local.get $i) (i32.const 1)) (local.get $rb)))
      (local.set $j (i32.const 0))
      (block $done_cols (loop $col
        (br_if $done_cols (i32.ge_u (local.get $j) (local.get $wo)))
        (local.set $d (i32.const 0))
        (block $done_ch (loop $ch
          (br_if $done_ch (i32.ge_u (local.get $d) (local.get $cb)))
          (local.set $q (i32.add (local.get $p) (local.get $d)))
          (local.set $v00 (v128.load (i32.add (local.get $x) (local.get $q))))
          (local.set $v01 (v128.load (i32.add (local.get $x) (i32.add (local.get $q) (local.get $cb)))))
          (local.set $v10 (v128.load (i32.add (local.get $x) (i32.add (local.get $q) (local.get $rb)))))
          (local.set $v11 (v128.load (i32.add (local.get $x) (i32.add (i32.add (local.get $q) (local.get $rb)) (local.get $cb)))))
          (local.set $g (v128.load (local.get $dy)))
          (local.set $ok0 (f32x4.gt (local.get $v00) (local.get $ninf)))
          (local.set $a (v128.bitselect (local.get $v00) (local.get $ninf) (local.get $ok0)))
          (local.set $c1 (f32x4.gt (local.get $v01) (local.get $a)))
          (local.set $a (v128.bitselect (local.get $v01) (local.get $a) (local.get $c1)))
          (local.set $c2 (f32x4.gt (local.get $v10) (local.get $a)))
          (local.set $a (v128.bitselect (local.get $v10) (local.get $a) (local.get $c2)))
          (local.set $c3 (f32x4.gt (local.get $v11) (local.get $a)))
          ;; winners: (1,1) if c3; (1,0) if c2 and not c3; (0,1) if c1 and neither; (0,0) if ok0 and none
          (v128.store (i32.add (local.get $dx) (i32.add (i32.add (local.get $q) (local.get $rb)) (local.get $cb)))
            (v128.and (local.get $g) (local.get $c3)))
          (local.set $c2 (v128.andnot (local.get $c2) (local.get $c3)))
          (v128.store (i32.add (local.get $dx) (i32.add (local.get $q) (local.get $rb)))
            (v128.and (local.get $g) (local.get $c2)))
          (local.set $c3 (v128.or (local.get $c2) (local.get $c3)))
          (local.set $c1 (v128.andnot (local.get $c1) (local.get $c3)))
          (v128.store (i32.add (local.get $dx) (i32.add (local.get $q) (local.get $cb)))
            (v128.and (local.get $g) (local.get $c1)))
          (v128.store (i32.add (local.get $dx) (local.get $q))
            (v128.and (local.get $g) (v128.andnot (local.get $ok0) (v128.or (local.get $c1) (local.get $c3)))))
          (local.set $dy (i32.add (local.get $dy) (i32.const 16)))
          (local.set $d (i32.add (local.get $d) (i32.const 16)))
          (br $ch)))
        (local.set $p (i32.add (local.get $p) (i32.shl (local.get $cb) (i32.const 1))))
        (local.set $j (i32.add (local.get $j) (i32.const 1)))
        (br $col)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $row)))))
