;; Memory growth: a library module that grows its memory one page at a time until memory.grow
;; refuses (returns -1), and reports the final size in pages. Declares no maximum, so only the
;; proplet's memory cap stops it.
(module
  (memory (export "memory") 1)
  (func (export "grow_all") (result i32)
    (block $done
      (loop $more
        (br_if $done (i32.eq (memory.grow (i32.const 1)) (i32.const -1)))
        ;; bounded anyway: 65536 pages is the 32-bit limit
        (br_if $more (i32.lt_u (memory.size) (i32.const 65536)))))
    (memory.size))
  (func (export "grow") (param $pages i32) (result i32)
    (memory.grow (local.get $pages))))
