;; Writes "line 01\n" … "line 24\n" to stdout, busy-waiting about 300 ms (monotonic clock) between
;; lines, then "done\n" to stderr, and exits 0: numbered output over about 7 s, so a test can
;; interrupt a live log stream midway and check every line arrives once and in order.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "line 00\n")
  (data (i32.const 80) "done\n")
  (func $now (result i64)
    (drop (call $clock (i32.const 1) (i64.const 1000) (i32.const 32)))
    (i64.load (i32.const 32)))
  (func $write (param $fd i32) (param $at i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $at))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func (export "_start") (local $i i32) (local $until i64)
    (loop $lines
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      ;; the line number in two ASCII digits at offsets 69 and 70
      (i32.store8 (i32.const 69) (i32.add (i32.const 48) (i32.div_u (local.get $i) (i32.const 10))))
      (i32.store8 (i32.const 70) (i32.add (i32.const 48) (i32.rem_u (local.get $i) (i32.const 10))))
      (call $write (i32.const 1) (i32.const 64) (i32.const 8))
      (local.set $until (i64.add (call $now) (i64.const 300000000)))
      (loop $wait (br_if $wait (i64.lt_u (call $now) (local.get $until))))
      (br_if $lines (i32.lt_u (local.get $i) (i32.const 24))))
    (call $write (i32.const 2) (i32.const 80) (i32.const 5))))
