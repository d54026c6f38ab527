;; Core module implementing world `calc` (calc.wit) by hand in the canonical ABI:
;; strings and lists arrive as (ptr, len) in linear memory allocated through cabi_realloc;
;; results wider than one core value are written to memory and returned as a pointer.
(module
  (memory (export "memory") 1)
  ;; bump allocator: nothing is freed (every call is one short run)
  (global $heap (mut i32) (i32.const 1024))
  (data (i32.const 16) "Hello, ")
  (data (i32.const 32) "division by zero")

  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    ;; grow when the bump pointer passes the end of memory
    (block $ok
      (br_if $ok (i32.le_u (global.get $heap) (i32.mul (memory.size) (i32.const 65536))))
      (if (i32.eq
            (memory.grow (i32.add (i32.div_u (i32.sub (global.get $heap) (i32.mul (memory.size) (i32.const 65536))) (i32.const 65536)) (i32.const 1)))
            (i32.const -1))
        (then unreachable)))
    (local.get $ptr))

  (func (export "cabi_realloc") (param $old i32) (param $oldsize i32) (param $align i32) (param $newsize i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $align) (local.get $newsize)))
    (if (local.get $oldsize) (then (memory.copy (local.get $ptr) (local.get $old) (local.get $oldsize))))
    (local.get $ptr))

  (func (export "add") (param i32 i32) (result i32)
    (i32.add (local.get 0) (local.get 1)))

  ;; greet(name) = "Hello, " + name + "!"
  (func (export "greet") (param $p i32) (param $n i32) (result i32)
    (local $out i32) (local $ret i32) (local $len i32)
    (local.set $len (i32.add (local.get $n) (i32.const 8)))
    (local.set $out (call $alloc (i32.const 1) (local.get $len)))
    (memory.copy (local.get $out) (i32.const 16) (i32.const 7))
    (memory.copy (i32.add (local.get $out) (i32.const 7)) (local.get $p) (local.get $n))
    (i32.store8 (i32.add (local.get $out) (i32.add (local.get $n) (i32.const 7))) (i32.const 33))
    (local.set $ret (call $alloc (i32.const 4) (i32.const 8)))
    (i32.store (local.get $ret) (local.get $out))
    (i32.store offset=4 (local.get $ret) (local.get $len))
    (local.get $ret))

  (func (export "sum") (param $p i32) (param $n i32) (result i64)
    (local $acc i64) (local $i i32)
    (block $done
      (loop $next
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i64.add (local.get $acc)
          (i64.extend_i32_s (i32.load (i32.add (local.get $p) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $next)))
    (local.get $acc))

  ;; enum sign { negative, zero, positive }
  (func (export "sign-of") (param $x i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $x) (i32.const 0))
      (then (i32.const 0))
      (else (if (result i32) (i32.eqz (local.get $x)) (then (i32.const 1)) (else (i32.const 2))))))

  ;; record point { x, y } is flattened to two parameters
  (func $abs (param $v i32) (result i32)
    (if (result i32) (i32.lt_s (local.get $v) (i32.const 0))
      (then (i32.sub (i32.const 0) (local.get $v)))
      (else (local.get $v))))
  (func (export "manhattan") (param $x i32) (param $y i32) (result i32)
    (i32.add (call $abs (local.get $x)) (call $abs (local.get $y))))

  ;; result<s32, string>: byte 0 = case (0 ok, 1 err), payload at offset 4
  (func (export "checked-div") (param $a i32) (param $b i32) (result i32)
    (local $ret i32)
    (local.set $ret (call $alloc (i32.const 4) (i32.const 12)))
    (if (i32.eqz (local.get $b))
      (then
        (i32.store8 (local.get $ret) (i32.const 1))
        (i32.store offset=4 (local.get $ret) (i32.const 32))
        (i32.store offset=8 (local.get $ret) (i32.const 16)))
      (else
        (i32.store8 (local.get $ret) (i32.const 0))
        (i32.store offset=4 (local.get $ret) (i32.div_s (local.get $a) (local.get $b)))))
    (local.get $ret))

  ;; option<s32>: byte 0 = case (0 none, 1 some), value at offset 4
  (func (export "first") (param $p i32) (param $n i32) (result i32)
    (local $ret i32)
    (local.set $ret (call $alloc (i32.const 4) (i32.const 8)))
    (if (i32.eqz (local.get $n))
      (then (i32.store8 (local.get $ret) (i32.const 0)))
      (else
        (i32.store8 (local.get $ret) (i32.const 1))
        (i32.store offset=4 (local.get $ret) (i32.load (local.get $p)))))
    (local.get $ret))

  (func (export "boom") unreachable)

  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages)))

  (func (export "spin") (loop $forever (br $forever)))
)
