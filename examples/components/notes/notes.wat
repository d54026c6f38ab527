;; notes: a WASI preview1 command that writes "note.txt" into the directory preopened as fd 3
;; (the first granted directory) and reads it back. It prints what happened, so a task can show
;; that a directory is reachable only when granted: without a grant the open fails (errno 8,
;; bad descriptor); in a read-only grant it fails too (errno 69 in a component, read-only fs).
;; Built as a core module, and as a preview2 command component by ../build.mjs.
(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open" (func $path_open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func $fd_close (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (memory (export "memory") 1)
  (data (i32.const 100) "note.txt")
  (data (i32.const 200) "open failed: errno ")
  (data (i32.const 300) "written by notes\n")
  (data (i32.const 400) "read back: ")
  (data (i32.const 500) "write failed: errno ")

  ;; print(ptr, len) to stdout
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr))
    (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))

  ;; print a number below 100 as two digits and a newline
  (func $print_errno (param $n i32)
    (i32.store8 (i32.const 40) (i32.add (i32.const 48) (i32.div_u (local.get $n) (i32.const 10))))
    (i32.store8 (i32.const 41) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
    (i32.store8 (i32.const 42) (i32.const 10))
    (call $print (i32.const 40) (i32.const 3)))

  (func (export "_start")
    (local $err i32) (local $fd i32) (local $n i32)
    ;; path_open(dirfd 3, follow symlinks, "note.txt", O_CREAT|O_TRUNC, rights fd_read|fd_write, fdflags 0, &fd at 16)
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 8)
      (i32.const 9) (i64.const 0x42) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err)
      (then
        (call $print (i32.const 200) (i32.const 19))
        (call $print_errno (local.get $err))
        (call $proc_exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 16)))
    ;; write the note
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 17))
    (local.set $err (call $fd_write (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (if (local.get $err)
      (then
        (call $print (i32.const 500) (i32.const 20))
        (call $print_errno (local.get $err))
        (call $proc_exit (i32.const 1))))
    (drop (call $fd_close (local.get $fd)))
    ;; open it again for reading and print its contents
    (local.set $err (call $path_open (i32.const 3) (i32.const 1) (i32.const 100) (i32.const 8)
      (i32.const 0) (i64.const 0x42) (i64.const 0) (i32.const 0) (i32.const 16)))
    (if (local.get $err)
      (then
        (call $print (i32.const 200) (i32.const 19))
        (call $print_errno (local.get $err))
        (call $proc_exit (i32.const 1))))
    (local.set $fd (i32.load (i32.const 16)))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.const 256))
    (drop (call $fd_read (local.get $fd) (i32.const 0) (i32.const 1) (i32.const 8)))
    (local.set $n (i32.load (i32.const 8)))
    (call $print (i32.const 400) (i32.const 11))
    (call $print (i32.const 1024) (local.get $n)))
)
