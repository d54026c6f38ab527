/*
 * hello: a WASI command that shows what a task hands to a workload.
 *   args   → greeted by name ("world" when there are none)
 *   env    → GREETING (default "Hello"); EXIT_CODE chooses the exit status
 *   stdin  → echoed back, with its length
 * stderr gets one line, so tests can tell the two streams apart.
 */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *greeting = getenv("GREETING");
  if (greeting == NULL) greeting = "Hello";
  printf("%s,", greeting);
  if (argc <= 1) printf(" world");
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("!\n");

  char buf[4096];
  size_t n, total = 0;
  fputs("stdin: ", stdout);
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    fwrite(buf, 1, n, stdout);
    total += n;
  }
  printf("\nread %zu bytes from stdin\n", total);
  fprintf(stderr, "hello: done\n");

  const char *code = getenv("EXIT_CODE");
  return code != NULL ? atoi(code) : 0;
}
