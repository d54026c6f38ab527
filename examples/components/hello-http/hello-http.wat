;; wasi:http/incoming-handler written by hand in the canonical ABI (names as wasm-tools'
;; `cm32p2` convention; signatures taken from `componentEmbed({dummy: true})` of wit/world.wit).
;; Every request gets 200 and the body "hello from <path-with-query>\n", except a path starting
;; with "/spin", whose handler never returns (for the proplet's per-request deadline).
(module
  (import "cm32p2|wasi:http/types@0.2" "[method]incoming-request.path-with-query" (func $path (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "incoming-request_drop" (func $drop_request (param i32)))
  (import "cm32p2|wasi:http/types@0.2" "[constructor]fields" (func $fields (result i32)))
  (import "cm32p2|wasi:http/types@0.2" "[constructor]outgoing-response" (func $response (param i32) (result i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]outgoing-response.body" (func $response_body (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[method]outgoing-body.write" (func $body_write (param i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[static]outgoing-body.finish" (func $body_finish (param i32 i32 i32 i32)))
  (import "cm32p2|wasi:http/types@0.2" "[static]response-outparam.set" (func $outparam_set (param i32 i32 i32 i32 i64 i32 i32 i32 i32)))
  (import "cm32p2|wasi:io/streams@0.2" "[method]output-stream.blocking-write-and-flush" (func $write (param i32 i32 i32 i32)))
  (import "cm32p2|wasi:io/streams@0.2" "output-stream_drop" (func $drop_stream (param i32)))

  (memory (export "cm32p2_memory") 1)
  (global $heap (mut i32) (i32.const 4096))
  (data (i32.const 64) "hello from ")

  ;; bump allocator over the one page above 4096 (reset on every request)
  (func $alloc (param $align i32) (param $size i32) (result i32)
    (local $ptr i32)
    (local.set $ptr
      (i32.and
        (i32.add (global.get $heap) (i32.sub (local.get $align) (i32.const 1)))
        (i32.xor (i32.sub (local.get $align) (i32.const 1)) (i32.const -1))))
    (global.set $heap (i32.add (local.get $ptr) (local.get $size)))
    (if (i32.gt_u (global.get $heap) (i32.const 65536)) (then unreachable))
    (local.get $ptr))
  (func (export "cm32p2_realloc") (param $old i32) (param $oldsize i32) (param $align i32) (param $newsize i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (call $alloc (local.get $align) (local.get $newsize)))
    (if (local.get $oldsize) (then (memory.copy (local.get $ptr) (local.get $old) (local.get $oldsize))))
    (local.get $ptr))

  (func (export "cm32p2|wasi:http/incoming-handler@0.2|handle") (param $request i32) (param $outparam i32)
    (local $resp i32) (local $body i32) (local $stream i32) (local $plen i32) (local $msg i32) (local $len i32)
    (global.set $heap (i32.const 4096))
    ;; option<string> at 0: case byte, then (ptr, len) at 4 and 8
    (call $path (local.get $request) (i32.const 0))
    (if (i32.load8_u (i32.const 0)) (then (local.set $plen (i32.load (i32.const 8)))))
    ;; "/spin" = 0x2f 0x73 0x70 0x69 0x6e: "/spi" as a little-endian i32, then "n"
    (if (i32.ge_u (local.get $plen) (i32.const 5))
      (then
        (if (i32.and
              (i32.eq (i32.load (i32.load (i32.const 4))) (i32.const 0x6970732f))
              (i32.eq (i32.load8_u offset=4 (i32.load (i32.const 4))) (i32.const 0x6e)))
          (then (loop $forever (br $forever))))))
    ;; message = "hello from " + path + "\n", built at 2048 (the path is at most 1 KiB here)
    (if (i32.gt_u (local.get $plen) (i32.const 1024)) (then (local.set $plen (i32.const 1024))))
    (local.set $msg (i32.const 2048))
    (memory.copy (local.get $msg) (i32.const 64) (i32.const 11))
    (if (local.get $plen) (then (memory.copy (i32.add (local.get $msg) (i32.const 11)) (i32.load (i32.const 4)) (local.get $plen))))
    (local.set $len (i32.add (local.get $plen) (i32.const 12)))
    (i32.store8 (i32.add (local.get $msg) (i32.sub (local.get $len) (i32.const 1))) (i32.const 10))
    (call $drop_request (local.get $request))

    (local.set $resp (call $response (call $fields)))
    ;; result<own<outgoing-body>> at 16
    (call $response_body (local.get $resp) (i32.const 16))
    (local.set $body (i32.load (i32.const 20)))
    ;; result<own<output-stream>> at 24
    (call $body_write (local.get $body) (i32.const 24))
    (local.set $stream (i32.load (i32.const 28)))
    ;; ok(response)
    (call $outparam_set (local.get $outparam) (i32.const 0) (local.get $resp) (i32.const 0) (i64.const 0) (i32.const 0) (i32.const 0) (i32.const 0) (i32.const 0))
    (call $write (local.get $stream) (local.get $msg) (local.get $len) (i32.const 32))
    (call $drop_stream (local.get $stream))
    ;; finish(body, none) → result at 48
    (call $body_finish (local.get $body) (i32.const 0) (i32.const 0) (i32.const 48)))
)
