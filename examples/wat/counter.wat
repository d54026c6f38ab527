;; State that would survive into a next run if an instance or its memory were ever reused:
;; `bump` adds one to a mutable global and to the first word of memory and returns
;; global * 1000 + memory word. On a fresh instance it returns 1001, every time.
(module
  (memory (export "memory") 1)
  (global $count (mut i32) (i32.const 0))
  (func (export "bump") (result i32)
    (global.set $count (i32.add (global.get $count) (i32.const 1)))
    (i32.store (i32.const 0) (i32.add (i32.load (i32.const 0)) (i32.const 1)))
    (i32.add (i32.mul (global.get $count) (i32.const 1000)) (i32.load (i32.const 0)))))
