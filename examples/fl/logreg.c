/*
 * Federated learning training client (docs/fl.md): logistic regression trained with mini-batch
 * SGD on the participant's local shard, for one round.
 *
 * Input  (stdin): the global model, {"format":"propeller-fl-model/1","shape":[D+1],"weights":[...]}
 *                 (D feature weights, then the bias).
 * Data          : FL_DATA (default /data/shard.csv), a read-only granted directory: one example per
 *                 line, D feature values then the 0/1 label, comma separated. It never leaves here.
 * Environment   : FL_ROUND, FL_MODEL_DIGEST (echoed in the update, so a replay is recognisable).
 * Arguments     : --epochs N (1), --lr X (0.1), --batch N (16), --seed N (1), --mu X (0: FedAvg;
 *                 > 0: FedProx's proximal term mu/2 |w - w_global|^2), --l2 X (0).
 * Output (stdout): the update, {"format":"propeller-fl-update/1","round":R,"baseModel":"sha256:…",
 *                  "samples":N,"shape":[D+1],"weights":[...]} with every weight in %.17g.
 * Exit status 0, or 2 with a message on stderr for bad input.
 */
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PARAMS 32768
#define MAX_MODEL_BYTES (1024 * 1024)
#define MAX_EXAMPLES 100000

static void die(const char *msg) {
  fprintf(stderr, "logreg: %s\n", msg);
  exit(2);
}

/*
 * Everything lives in static buffers, nothing on the heap: wrapped as a component, the preview1
 * adapter grows the same linear memory for its own state, and malloc's growth must not meet it.
 */
#define MAX_DATA_BYTES (8 * 1024 * 1024)
#define MAX_VALUES (2 * 1024 * 1024)
static char model_text[MAX_MODEL_BYTES + 1];
static char data_text[MAX_DATA_BYTES + 1];
static double xs[MAX_VALUES];
static double ys[MAX_EXAMPLES];
static int order[MAX_EXAMPLES];

/* A whole file into `buf` by plain read(2) calls of at most 4 KiB. */
static size_t read_all(int fd, char *buf, size_t max) {
  size_t n = 0;
  for (;;) {
    if (n == max) die("input too large");
    size_t want = max - n < 4096 ? max - n : 4096;
    ssize_t got = read(fd, buf + n, want);
    if (got < 0) die("read failed");
    if (got == 0) break;
    n += (size_t)got;
  }
  buf[n] = 0;
  return n;
}

/* The numbers of the "weights" array of the model JSON. */
static int parse_weights(const char *json, double *w, int max) {
  const char *p = strstr(json, "\"weights\"");
  if (!p) die("the model has no weights");
  p = strchr(p, '[');
  if (!p) die("the model's weights are not an array");
  p++;
  int n = 0;
  for (;;) {
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    if (*p == ']') break;
    char *end;
    double v = strtod(p, &end);
    if (end == p) die("a model weight is not a number");
    if (n >= max) die("the model has too many weights");
    w[n++] = v;
    p = end;
    while (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') p++;
    if (*p == ',') p++;
    else if (*p != ']') die("malformed weights array");
  }
  return n;
}

static unsigned long long rng_state;
static unsigned long long rng_next(void) {
  /* splitmix64: deterministic per (seed, round), so a rerun gives the same update */
  unsigned long long z = (rng_state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

static double sigmoid(double z) {
  if (z >= 0) return 1.0 / (1.0 + exp(-z));
  double e = exp(z);
  return e / (1.0 + e);
}

int main(int argc, char **argv) {
  int epochs = 1, batch = 16;
  double lr = 0.1, mu = 0.0, l2 = 0.0;
  unsigned long long seed = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--epochs")) epochs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--lr")) lr = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--batch")) batch = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) seed = strtoull(argv[i + 1], NULL, 10);
    else if (!strcmp(argv[i], "--mu")) mu = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--l2")) l2 = atof(argv[i + 1]);
    else die("unknown argument (known: --epochs --lr --batch --seed --mu --l2)");
  }
  if (epochs < 1 || epochs > 1000 || batch < 1 || !(lr > 0) || mu < 0 || l2 < 0) die("bad hyperparameters");
  const char *round_s = getenv("FL_ROUND");
  const char *digest = getenv("FL_MODEL_DIGEST");
  const char *path = getenv("FL_DATA");
  if (!round_s || !digest) die("FL_ROUND and FL_MODEL_DIGEST must be set");
  if (!path) path = "/data/shard.csv";
  int round = atoi(round_s);
  for (const char *c = digest; *c; c++)
    if (!(*c == ':' || (*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'z'))) die("FL_MODEL_DIGEST is not a digest");

  read_all(0, model_text, MAX_MODEL_BYTES);
  char *model = model_text;
  static double global[MAX_PARAMS], w[MAX_PARAMS], grad[MAX_PARAMS];
  int p = parse_weights(model, global, MAX_PARAMS);
  if (p < 2) die("the model needs at least one feature weight and the bias");
  int d = p - 1;
  memcpy(w, global, sizeof(double) * p);

  int fd = open(path, O_RDONLY);
  if (fd < 0) die("cannot open the local shard (is the data directory granted?)");
  read_all(fd, data_text, MAX_DATA_BYTES);
  close(fd);
  char *text = data_text;
  double *x = xs, *y = ys;
  int n = 0;
  for (char *line = text; *line;) {
    char *next = strchr(line, '\n');
    if (next) *next = 0;
    if (*line && *line != '\r') {
      if (n >= MAX_EXAMPLES || (size_t)(n + 1) * d > MAX_VALUES) die("too many examples");
      char *q = line;
      for (int j = 0; j <= d; j++) {
        char *end;
        double v = strtod(q, &end);
        if (end == q) die("a shard line has too few numbers for the model");
        if (j < d) x[(size_t)n * d + j] = v;
        else y[n] = v > 0.5 ? 1.0 : 0.0;
        q = end;
        if (*q == ',') q++;
      }
      n++;
    }
    if (!next) break;
    line = next + 1;
  }
  if (n == 0) die("the local shard is empty");

  for (int i = 0; i < n; i++) order[i] = i;
  rng_state = seed * 1000003ULL + (unsigned long long)round;
  for (int e = 0; e < epochs; e++) {
    for (int i = n - 1; i > 0; i--) {
      int j = (int)(rng_next() % (unsigned long long)(i + 1));
      int t = order[i];
      order[i] = order[j];
      order[j] = t;
    }
    for (int s = 0; s < n; s += batch) {
      int m = s + batch <= n ? batch : n - s;
      memset(grad, 0, sizeof(double) * p);
      for (int b = 0; b < m; b++) {
        const double *xi = &x[(size_t)order[s + b] * d];
        double z = w[d];
        for (int j = 0; j < d; j++) z += w[j] * xi[j];
        double err = sigmoid(z) - y[order[s + b]];
        for (int j = 0; j < d; j++) grad[j] += err * xi[j];
        grad[d] += err;
      }
      for (int j = 0; j < p; j++) {
        double g = grad[j] / m + mu * (w[j] - global[j]) + (j < d ? l2 * w[j] : 0.0);
        w[j] -= lr * g;
      }
    }
  }
  for (int j = 0; j < p; j++)
    if (!isfinite(w[j])) die("training diverged (non-finite weight): lower --lr");

  printf("{\"format\":\"propeller-fl-update/1\",\"round\":%d,\"baseModel\":\"%s\",\"samples\":%d,\"shape\":[%d],\"weights\":[", round, digest, n, p);
  for (int j = 0; j < p; j++) printf(j ? ",%.17g" : "%.17g", w[j]);
  printf("]}\n");
  return 0;
}
