;; Conv2DBackpropFilter for convolutions with few input channels (the first layer of a CNN on
;; grayscale or RGB images), NHWC float32, output channels a multiple of 4, in the wasm
;; backend's own memory (imported): dW[a,b,c,:] += x[n, i*sh+a-pt, j*sw+b-pl, c] * dy[n,i,j,:]
;; over every output position, four output channels per SIMD step, accumulated in dW itself
;; (kh*kw*ci*co floats: stays in L1). Replaces im2col + a GEMM whose operand XNNPACK repacks
;; at every call. Regenerate the embedded bytes after an edit: node scripts/wasm-kernels.mjs
(module
  (import "env" "memory" (memory 1))
  (func (export "convFilterGrad")
    (param $x i32) (param $dy i32) (param $dw i32) (param $n i32) (param $h i32) (param $w i32) (param $ci i32)
    (param $ho i32) (param $wo i32) (param $co i32) (param $kh i32) (param $kw i32) (param $sh i32) (param $sw i32)
    (param $pt i32) (param $pl i32)
    (local $img i32) (local $i i32) (local $j i32) (local $a i32) (local $b i32) (local $c i32) (local $k i32)
    (local $r i32) (local $q i32) (local $xp i32) (local $wp i32) (local $cob i32) (local $xs v128)
    (local.set $cob (i32.shl (local.get $co) (i32.const 2)))
    (memory.fill (local.get $dw) (i32.const 0)
      (i32.mul (i32.mul (i32.mul (local.get $kh) (local.get $kw)) (local.get $ci)) (local.get $cob)))
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
            (local.set $r (i32.sub (i32.add (i32.mul (local.get $i) (local.get $sh)) (local.get $a)) (local.get $pt)))
            ;; rows outside the image (unsigned compare catches negatives) add nothing
            (if (i32.lt_u (local.get $r) (local.get $h)) (then
              (local.set $b (i32.const 0))
              (block $end_b (loop $l_b
                (br_if $end_b (i32.ge_u (local.get $b) (local.get $kw)))
                (local.set $q (i32.sub (i32.add (i32.mul (local.get $j) (local.get $sw)) (local.get $b)) (local.get $pl)))
                (if (i32.lt_u (local.get $q) (local.get $w)) (then
                  ;; x[img, r, q, 0] and dW[a, b, 0, 0], byte addresses
                  (local.set $xp (i32.add (local.get $x) (i32.shl
                    (i32.mul (i32.add (i32.mul (i32.add (i32.mul (local.get $img) (local.get $h)) (local.get $r)) (local.get $w)) (local.get $q)) (local.get $ci))
                    (i32.const 2))))
                  (local.set $wp (i32.add (local.get $dw)
                    (i32.mul (i32.mul (i32.add (i32.mul (local.get $a) (local.get $kw)) (local.get $b)) (local.get $ci)) (local.get $cob))))
                  (local.set $c (i32.const 0))
                  (block $end_c (loop $l_c
                    (br_if $end_c (i32.ge_u (local.get $c) (local.get $ci)))
                    (local.set $xs (f32x4.splat (f32.load (local.get $xp))))
                    (local.set $k (i32.const 0))
                    (block $end_k (loop $l_k
                      (br_if $end_k (i32.ge_u (local.get $k) (local.get $cob)))
                      (v128.store (i32.add (local.get $wp) (local.get $k))
                        (f32x4.add (v128.load (i32.add (local.get $wp) (local.get $k)))
                          (f32x4.mul (local.get $xs) (v128.load (i32.add (local.get $dy) (local.get $k))))))
                      (local.set $k (i32.add (local.get $k) (i32.const 16)))
                      (br $l_k)))
                    (local.set $xp (i32.add (local.get $xp) (i32.const 4)))
                    (local.set $wp (i32.add (local.get $wp) (local.get $cob)))
                    (local.set $c (i32.add (local.get $c) (i32.const 1)))
                    (br $l_c)))))
                (local.set $b (i32.add (local.get $b) (i32.const 1)))
                (br $l_b)))))
            (local.set $a (i32.add (local.get $a) (i32.const 1)))
            (br $l_a)))
          ;; next output position: the next dy row
          (local.set $dy (i32.add (local.get $dy) (local.get $cob)))
          (local.set $j (i32.add (local.get $j) (i32.const 1)))
          (br $l_j)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $l_i)))
      (local.set $img (i32.add (local.get $img) (i32.const 1)))
      (br $l_img)))))
