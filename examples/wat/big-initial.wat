;; A module whose initial memory (512 pages = 32 MiB) is larger than a small cap: refused up front.
(module
  (memory (export "memory") 512)
  (func (export "_start")))
