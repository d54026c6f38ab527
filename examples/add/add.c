/*
 * add: a library module (no _start) whose exports are called with numeric inputs
 * (entrypoint kind "export").
 */
#include <stdint.h>

__attribute__((export_name("add"))) int32_t add(int32_t a, int32_t b) { return a + b; }

/* The n-th Fibonacci number, wrapping modulo 2^64 (fib(90) still fits): exercises i64 in and out. */
__attribute__((export_name("fib"))) int64_t fib(int64_t n) {
  uint64_t a = 0, b = 1;
  for (int64_t i = 0; i < n; i++) {
    uint64_t t = a + b;
    a = b;
    b = t;
  }
  return (int64_t)a;
}

/* Float in, float out: exercises f64. */
__attribute__((export_name("scale"))) double scale(double x, float factor) { return x * factor; }
