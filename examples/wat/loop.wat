;; A runaway WASI command: an infinite loop that never calls the host (only terminate() stops it).
(module
  (memory (export "memory") 1)
  (func (export "_start")
    (loop $forever (br $forever))))
