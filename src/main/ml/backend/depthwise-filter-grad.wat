;; DepthwiseConv2dNativeBackpropFilter with channel multiplier 1 (MobileNetV2's depthwise
;; convolutions), NHWC float32, channels a multiple of 4, four channels per SIMD step, in the
;; wasm backend's own memory (imported):
;; dW[a,b,c] = sum over n,i,j of x[n, i*sh+a*dh-pt, j*sw+b*dw-pl, c] * dy[n,i,j,c],
;; accumulated in dW itself (kh*kw*c floats).
;; Regenerate the embedded bytes after an edit: node scripts/wasm-kernels.mjs
(module
  (import "env" "memory" (memory 1))
  (func (export "depthwiseFilterGrad")
    (param $x i32) (param $dy i32) (param $dwt i32) (param $n i32) (param $h i32) (param $w i32) (param $c i32)
    (param $ho i32) (param $wo i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32)
    (param $dh i32) (param $dw i32) (param $pt i32) (param $pl i32)
    (local $img i32) (local $i i32) (local $j i32) (local $a i32) (local $b i32) (local $k i32)
    (local $r i32) (local $q i32) (local $xp i32) (local $wp i32) (local $cb i32)
    (local.set $cb (i32.shl (local.get $c) (i32.const 2)))
    (memory.fill (local.get $dwt) (i32.const 0) (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (local.get $cb)))
    (local.set $img (i32.const 0))
    (block $end_img (loop $l_img
      (br_if $end_img (i32.ge_u (local.get $img) (local.get $n)))
      (local.set $i (i32.const 0))
      (block $end_i (loop $l_i
        (br_if $end_i (i32.ge_u (local.get $i) (local.get $ho)))
        (local.set $j (i32.const 0))
        (block $end_j (loop $l_j
          (br_if $end_j (i32.ge_u (local.get $j) (local.get $wo)))
          (local.set $a (i32.const 0))
          (block $end_a (loop $l_a
            (br_if $end_a (i32.ge_u (local.get $a) (local.get $kh)))
            (local.set $r (i32.sub (i32.add (i32.mul (local.get $i) (local.get $sh)) (i32.mul (local.get $a) (local.get $dh))) (local.get $pt)))
            ;; rows outside the image (unsigned compare catches negatives) add nothing
            (if (i32.lt_u (local.get $r) (local.get $h)) (then
              (local.set $b (i32.const 0))
              (block $end_b (loop $l_b
                (br_if $end_b (i32.ge_u (local.get $b) (local.get $kw)))
                (local.set $q (i32.sub (i32.add (i32.mul (local.get $j) (local.get $sw)) (i32.mul (local.get $b) (local.get $dw))) (local.get $pl)))
                (if (i32.lt_u (local.get $q) (local.get $w)) (then
                  (local.set $xp (i32.add (local.get $x)
                    (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (local.get $r)) (local.get $w)) (local.get $q)) (local.get $cb))))
                  (local.set $wp (i32.add (local.get $dwt) (i32.mul (i32.add (i32.mul (local.get $a) (local.get $kw)) (local.get $b)) (local.get $cb))))
                  (local.set $k (i32.const 0))
                  (block $end_k (loop $l_k
                    (br_if $end_k (i32.ge_u (local.get $k) (local.get $cb)))
                    (v128.store (i32.add (local.get $wp) (local.get $k))
                      (f32x4.add (v128.load (i32.add (local.get $wp) (local.get $k)))
                        (f32x4.mul (v128.load (i32.add (local.get $xp) (local.get $k))) (v128.load (i32.add (local.get $dy) (local.get $k))))))
                    (local.set $k (i32.add (local.get $k) (i32.const 16)))
                    (br $l_k)))))
                (local.set $b (i32.add (local.get $b) (i32.const 1)))
                (br $l_b)))))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br $l_a)))
          ;; next output position: the next dy row
          (local.set $dy (i32.add (local.get $dy) (local.get $cb)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $l_j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l_i)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $l_img)))))
