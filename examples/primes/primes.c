/*
 * primes: a CPU-bound WASI command. Counts the primes p <= N (N is the first argument, default
 * 100000) by trial division with a 6k±1 wheel: on purpose no sieve, so the work grows like
 * N^1.5 and stays in registers (no memory traffic): 1e5 takes milliseconds, 8e6 about a second,
 * 3e7 several seconds on one core.
 */
#include <stdio.h>
#include <stdlib.h>

static int is_prime(unsigned long n) {
  if (n < 4) return n >= 2;
  if (n % 2 == 0 || n % 3 == 0) return 0;
  for (unsigned long d = 5; d * d <= n; d += 6) {
    if (n % d == 0 || n % (d + 2) == 0) return 0;
  }
  return 1;
}

int main(int argc, char **argv) {
  unsigned long limit = argc > 1 ? strtoul(argv[1], NULL, 10) : 100000;
  unsigned long count = 0;
  for (unsigned long n = 2; n <= limit; n++) count += is_prime(n);
  printf("%lu primes up to %lu\n", count, limit);
  return 0;
}
