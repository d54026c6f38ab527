/*
 * primes: a CPU-bound WASI command. Counts the primes p <= N (N is the first argument, default
 * 100000) by trial division, on purpose slow enough to be measurable: 1e5 takes milliseconds,
 * 8e6 about a second, 3e7 several seconds.
 */
#include <stdio.h>
#include <stdlib.h>

static int is_prime(unsigned long n) {
  if (n < 2) return 0;
  if (n % 2 == 0) return n == 2;
  for (unsigned long d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return 0;
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
