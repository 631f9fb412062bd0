/* The model spec language, the text form of a graph (see model.h and
 * docs/models.md):
 *
 *   spec    := preset | "logistic" | "mlp:" D "-" H1 "-" ... "-" C | items
 *   items   := item ("," item)*
 *   item    := op ["nobias"] ["from" NAME] ["as" NAME]
 *   op      := "input" SHAPE | "linear" OUT | "conv" OUT K ["stride" S] ["pad" P]
 *            | "maxpool" K ["stride" S] ["pad" P] | "avgpool" K [...]
 *            | "gap" | "flatten" | "add" NAME | "mul" X
 *            | "batchnorm" ["eps" E] ["noaffine"]
 *            | "layernorm" ["eps" E] ["noaffine"]
 *            | "relu" | "tanh" | "gelu" | "silu" | "sigmoid" | "softplus"
 *            | "elu" [ALPHA] | "leaky_relu" [SLOPE] | "identity" | "dropout" [P]
 *   SHAPE   := C "x" H "x" W | D
 *
 * An item reads the value of the item before it, or of the item named
 * with "from" ("input" is the input); "as" names its own value; "add NAME"
 * adds the named value to the one it reads (a residual connection).  A
 * name with parameters is also the PyTorch module path of the node
 * ("layer1.0.conv1"), so its tensors are NAME.weight and NAME.bias.
 * Each spec is expanded to items, parsed into nodes, and the nodes' shapes
 * are chained from the input; every error names the item. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/model.h"
#include "layers.h"

typedef struct {
  const char *name, *items, *note;
} preset_t;

/* The paper's models (its code README and Table 1). */
static const preset_t presets[] = {
    {"lenet",
     "input 3x32x32, conv 6 5, relu, maxpool 2, conv 16 5, relu, maxpool 2, "
     "flatten, linear 35, relu, linear 50, relu, linear 10",
     "the paper's small LeNet for 3x32x32 (CIFAR-10) images, N = 19,217; "
     "lenet:1x28x28 for MNIST-shaped ones"},
    {"mnist-mlp", "input 784, linear 10, relu, linear 100, relu, linear 10",
     "784-10-100-10 ReLU MLP, N = 9,960"},
    {"mnist-mlp-deep",
     "input 784, linear 10, relu, linear 100, relu, linear 100, relu, linear 10",
     "784-10-100-100-10 ReLU MLP, N = 20,060"},
    {"resnet-mini",
     "input 3x32x32, "
     "conv 8 3 pad 1 nobias as conv1, batchnorm as bn1, relu as stem, "
     "conv 8 3 pad 1 nobias as layer1.0.conv1, batchnorm as layer1.0.bn1, relu, "
     "conv 8 3 pad 1 nobias as layer1.0.conv2, batchnorm as layer1.0.bn2, "
     "add stem, relu as stage1, "
     "conv 16 3 stride 2 pad 1 nobias as layer2.0.conv1, "
     "batchnorm as layer2.0.bn1, relu, "
     "conv 16 3 pad 1 nobias as layer2.0.conv2, batchnorm as layer2.0.bn2, "
     "conv 16 1 stride 2 nobias from stage1 as layer2.0.shortcut.0, "
     "batchnorm as layer2.0.shortcut.1, add layer2.0.bn2, relu as stage2, "
     "conv 32 3 stride 2 pad 1 nobias as layer3.0.conv1, "
     "batchnorm as layer3.0.bn1, relu, "
     "conv 32 3 pad 1 nobias as layer3.0.conv2, batchnorm as layer3.0.bn2, "
     "conv 32 1 stride 2 nobias from stage2 as layer3.0.shortcut.0, "
     "batchnorm as layer3.0.shortcut.1, add layer3.0.bn2, relu, "
     "gap, linear 10 as fc",
     "CIFAR-style ResNet for 3x32x32 images: three stages of one basic block "
     "(8, 16, 32 channels, stride 2 and 1x1 projection shortcuts between "
     "stages), BatchNorm in eval mode, global average pool, linear 10; "
     "N = 19,954"},
    {"bike-mlp",
     "input 13, linear 100, relu, linear 100, relu, linear 50, relu, linear 1",
     "13-100-100-50-1 ReLU MLP for the bike-sharing regression (--loss mse "
     "--targets), N = 16,601"},
};

static const struct {
  const char *name;
  hr_activation_t act;
  double alpha; /* the default slope (elu, leaky_relu) */
} activations[] = {
    {"relu", HR_ACT_RELU, 0},       {"tanh", HR_ACT_TANH, 0},
    {"identity", HR_ACT_LINEAR, 0}, {"gelu", HR_ACT_GELU, 0},
    {"silu", HR_ACT_SILU, 0},       {"sigmoid", HR_ACT_SIGMOID, 0},
    {"softplus", HR_ACT_SOFTPLUS, 0}, {"elu", HR_ACT_ELU, 1.0},
    {"leaky_relu", HR_ACT_LEAKY_RELU, 0.01},
};
enum { NACT = sizeof activations / sizeof activations[0] };

static const char *act_name(hr_activation_t a) {
  for (int i = 0; i < NACT; i++)
    if (activations[i].act == a) return activations[i].name;
  return "identity";
}

static double act_default_alpha(hr_activation_t a) {
  for (int i = 0; i < NACT; i++)
    if (activations[i].act == a) return activations[i].alpha;
  return 0;
}

static const double default_eps = 1e-5;

/* ---- expansion to items -------------------------------------------------- */

static int expand_mlp(const char *spec, hr_activation_t act, char *out,
                      size_t len) {
  const char *p = spec + 4;
  size_t used = 0;
  int nw = 0;
  while (*p) {
    char *end;
    long long v = strtoll(p, &end, 10);
    if (end == p || v < 1 || nw > HR_MAX_LAYERS / 2 || (*end && *end != '-'))
      HR_FAIL(HR_ERR_USAGE, "bad model spec '%s': expected mlp:D-H1-...-C "
              "with positive widths and at most %d layers", spec,
              HR_MAX_LAYERS / 2);
    int n = nw == 0 ? snprintf(out + used, len - used, "input %lld", v)
                    : snprintf(out + used, len - used, "%s%s, linear %lld",
                               nw > 1 ? ", " : "", nw > 1 ? act_name(act) : "", v);
    if (n < 0 || (size_t)n >= len - used)
      HR_FAIL(HR_ERR_USAGE, "model spec '%s' is too long", spec);
    used += (size_t)n;
    nw++;
    p = *end ? end + 1 : end;
  }
  if (nw < 2)
    HR_FAIL(HR_ERR_USAGE, "bad model spec '%s': an MLP needs at least D-C", spec);
  return HR_OK;
}

static const preset_t *find_preset(const char *spec, const char **shape) {
  *shape = NULL;
  for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
    size_t n = strlen(presets[i].name);
    if (!strncmp(spec, presets[i].name, n) &&
        (spec[n] == '\0' || spec[n] == ':')) {
      if (spec[n] == ':') *shape = spec + n + 1;
      return &presets[i];
    }
  }
  return NULL;
}

/* The items of any spec, in out. */
static int expand(const char *spec, int64_t inputs, int64_t outputs,
                  hr_activation_t act, char *out, size_t len) {
  const char *shape;
  const preset_t *p = find_preset(spec, &shape);
  if (p) {
    const char *rest = p->items;
    if (shape) { /* "lenet:1x28x28": the preset's layers on another input */
      rest = strchr(p->items, ',');
      snprintf(out, len, "input %s%s", shape, rest);
    } else {
      snprintf(out, len, "%s", rest);
    }
    return HR_OK;
  }
  if (!strcmp(spec, "logistic")) {
    if (inputs < 1 || outputs < 1)
      HR_FAIL(HR_ERR_INPUT, "logistic needs the data's features and classes");
    snprintf(out, len, "input %lld, linear %lld", (long long)inputs,
             (long long)outputs);
    return HR_OK;
  }
  if (!strncmp(spec, "mlp:", 4)) return expand_mlp(spec, act, out, len);
  if (strlen(spec) >= len) HR_FAIL(HR_ERR_USAGE, "model spec is too long");
  snprintf(out, len, "%s", spec);
  return HR_OK;
}

/* ---- items to layers ------------------------------------------------------ */

enum { MAX_WORDS = 16 };

typedef struct {
  char text[256];               /* the item, trimmed, for messages */
  char buf[256];
  char *word[MAX_WORDS];
  int nwords, index;
  const char *from, *as;        /* the names of "from" and "as", or NULL */
  int nobias;
} item_t;

static int valid_name(const char *w) {
  if (!*w || strlen(w) >= HR_NAME_MAX) return 0;
  for (const char *c = w; *c; c++)
    if (!isalnum((unsigned char)*c) && *c != '_' && *c != '.' && *c != '-')
      return 0;
  return 1;
}

/* Take "from NAME", "as NAME" and "nobias" out of the item's words. */
static int take_modifiers(item_t *it) {
  int kept = 0;
  it->from = it->as = NULL;
  it->nobias = 0;
  for (int i = 0; i < it->nwords; i++) {
    const char *w = it->word[i];
    if (i > 0 && !strcmp(w, "nobias")) {
      it->nobias = 1;
      continue;
    }
    if (i > 0 && (!strcmp(w, "from") || !strcmp(w, "as"))) {
      if (i + 1 >= it->nwords || !valid_name(it->word[i + 1]))
        HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' needs a "
                "name (letters, digits, '_', '.', '-'; under %d characters)",
                w, it->index, it->text, HR_NAME_MAX);
      if (w[0] == 'f') it->from = it->word[i + 1];
      else it->as = it->word[i + 1];
      i++;
      continue;
    }
    it->word[kept++] = it->word[i];
  }
  it->nwords = kept;
  if (it->as && !strcmp(it->as, "input"))
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': 'input' names the "
            "model's input and cannot be given to a node", it->index, it->text);
  return HR_OK;
}

static int split_item(const char *start, size_t n, int index, item_t *it) {
  while (n && isspace((unsigned char)*start)) { start++; n--; }
  while (n && isspace((unsigned char)start[n - 1])) n--;
  if (n == 0) HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d is empty", index);
  if (n >= sizeof it->text)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d is too long", index);
  memcpy(it->text, start, n);
  it->text[n] = '\0';
  memcpy(it->buf, it->text, n + 1);
  it->index = index;
  it->nwords = 0;
  for (char *tok = strtok(it->buf, " \t"); tok; tok = strtok(NULL, " \t")) {
    if (it->nwords == MAX_WORDS)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s' has too many words",
              index, it->text);
    it->word[it->nwords++] = tok;
  }
  return take_modifiers(it);
}

static int parse_count(const item_t *it, const char *word, int64_t *v) {
  char *end;
  long long x = strtoll(word, &end, 10);
  if (end == word || *end || x < 1 || x > (1LL << 30))
    HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' is not a "
            "positive whole number", word, it->index, it->text);
  *v = x;
  return HR_OK;
}

/* A real number in [lo, hi] (hi_open: strictly below hi). */
static int parse_real(const item_t *it, const char *word, double lo, double hi,
                      int hi_open, double *v) {
  char *end;
  double x = strtod(word, &end);
  if (end == word || *end || !isfinite(x) || x < lo || x > hi ||
      (hi_open && x == hi))
    HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' is not a "
            "number in [%g, %g%s", word, it->index, it->text, lo, hi,
            hi_open ? ")" : "]");
  *v = x;
  return HR_OK;
}

static int parse_shape(const item_t *it, hr_shape_t *s) {
  if (it->nwords != 2 || it->from || it->as || it->nobias)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected 'input "
            "CxHxW' or 'input D'", it->index, it->text);
  int64_t v[3] = {1, 1, 1};
  int n = 0;
  char buf[64];
  snprintf(buf, sizeof buf, "%s", it->word[1]);
  for (char *tok = strtok(buf, "x"); tok; tok = strtok(NULL, "x")) {
    if (n == 3) { n = 4; break; } /* too many dimensions */
    HR_CHECK(parse_count(it, tok, &v[n++]));
  }
  if (n != 1 && n != 3)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d is not a shape "
            "CxHxW or a width D", it->word[1], it->index);
  *s = (hr_shape_t){v[0], v[1], v[2]};
  return HR_OK;
}

/* The optional "stride S" and "pad P" after word `first`. */
static int parse_window(const item_t *it, int first, int64_t default_stride,
                        hr_layer_t *L) {
  L->stride = default_stride;
  L->pad = 0;
  for (int i = first; i < it->nwords; i += 2) {
    int is_stride = !strcmp(it->word[i], "stride");
    int is_pad = !strcmp(it->word[i], "pad");
    if ((!is_stride && !is_pad) || i + 1 >= it->nwords)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' (expected "
              "%s K [stride S] [pad P])", it->word[i], it->index, it->text,
              L->kind == HR_LAYER_CONV ? "conv OUT" : it->word[0]);
    const char *v = it->word[i + 1];
    char *end;
    long long x = strtoll(v, &end, 10);
    if (end == v || *end || x < (is_pad ? 0 : 1) || x > (1 << 20))
      HR_FAIL(HR_ERR_USAGE, "bad model spec: %s '%s' in item %d '%s' is not a "
              "%s whole number", is_pad ? "pad" : "stride", v, it->index,
              it->text, is_pad ? "non-negative" : "positive");
    if (is_pad) L->pad = x;
    else L->stride = x;
  }
  if (L->kind != HR_LAYER_CONV && 2 * L->pad > L->kernel)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': pad %lld is more "
            "than half the kernel %lld (PyTorch refuses it too)", it->index,
            it->text, (long long)L->pad, (long long)L->kernel);
  return HR_OK;
}

/* batchnorm/layernorm [eps E] [noaffine] */
static int parse_norm(const item_t *it, hr_layer_t *L) {
  L->alpha = default_eps;
  L->affine = 1;
  for (int i = 1; i < it->nwords; i++) {
    if (!strcmp(it->word[i], "noaffine")) {
      L->affine = 0;
    } else if (!strcmp(it->word[i], "eps") && i + 1 < it->nwords) {
      HR_CHECK(parse_real(it, it->word[++i], 1e-300, 1, 0, &L->alpha));
    } else {
      HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' (expected "
              "'%s [eps E] [noaffine]')", it->word[i], it->index, it->text,
              it->word[0]);
    }
  }
  return HR_OK;
}

static int no_arguments(const item_t *it) {
  if (it->nwords != 1)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': '%s' takes no "
            "arguments", it->index, it->text, it->word[0]);
  return HR_OK;
}

static int parse_activation(const item_t *it, hr_layer_t *L) {
  const char *w0 = it->word[0];
  int dropout = !strcmp(w0, "dropout");
  int i = 0;
  while (i < NACT && strcmp(w0, activations[i].name)) i++;
  if (!dropout && i == NACT)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: unknown operation '%s' in item %d "
            "'%s' (operations: input, linear, conv, maxpool, avgpool, gap, "
            "flatten, add, mul, batchnorm, layernorm, relu, tanh, gelu, silu, "
            "sigmoid, softplus, elu, leaky_relu, identity, dropout; presets: "
            "lenet, mnist-mlp, mnist-mlp-deep, bike-mlp, resnet-mini; or "
            "logistic, mlp:D-H-...-C)", w0, it->index, it->text);
  L->kind = HR_LAYER_ACT;
  L->act = dropout ? HR_ACT_LINEAR : activations[i].act;
  L->alpha = dropout ? 0 : activations[i].alpha;
  int takes = dropout || L->act == HR_ACT_ELU || L->act == HR_ACT_LEAKY_RELU;
  if (!takes) return no_arguments(it);
  if (it->nwords > 2)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected '%s [%s]'",
            it->index, it->text, w0, dropout ? "P" : "ALPHA");
  if (it->nwords == 2) {
    double v;
    /* dropout in eval mode is the identity whatever its p */
    HR_CHECK(parse_real(it, it->word[1], dropout ? 0 : -1e6, dropout ? 1 : 1e6,
                        dropout, &v));
    if (!dropout) L->alpha = v;
  }
  return HR_OK;
}

static int parse_layer(const item_t *it, hr_layer_t *L) {
  const char *w0 = it->word[0];
  memset(L, 0, sizeof *L);
  L->param_index = -1;
  L->kernel = L->stride = 1;
  L->src[0] = L->src[1] = -1;
  if (it->nobias && strcmp(w0, "linear") && strcmp(w0, "conv"))
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': only linear and conv "
            "take 'nobias'", it->index, it->text);
  if (!strcmp(w0, "linear")) {
    if (it->nwords != 2)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected 'linear "
              "OUT'", it->index, it->text);
    L->kind = HR_LAYER_LINEAR;
    return parse_count(it, it->word[1], &L->out.c);
  }
  if (!strcmp(w0, "conv")) {
    if (it->nwords < 3)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected 'conv OUT "
              "K [stride S] [pad P]'", it->index, it->text);
    L->kind = HR_LAYER_CONV;
    HR_CHECK(parse_count(it, it->word[1], &L->out.c));
    HR_CHECK(parse_count(it, it->word[2], &L->kernel));
    return parse_window(it, 3, 1, L); /* PyTorch: stride 1 */
  }
  if (!strcmp(w0, "maxpool") || !strcmp(w0, "avgpool")) {
    if (it->nwords < 2)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected '%s K "
              "[stride S] [pad P]'", it->index, it->text, w0);
    L->kind = w0[0] == 'm' ? HR_LAYER_MAXPOOL : HR_LAYER_AVGPOOL;
    HR_CHECK(parse_count(it, it->word[1], &L->kernel));
    return parse_window(it, 2, L->kernel, L); /* PyTorch: stride = kernel */
  }
  if (!strcmp(w0, "add")) {
    if (it->nwords != 2 || !valid_name(it->word[1]))
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected 'add "
              "NAME' (the value to add)", it->index, it->text);
    L->kind = HR_LAYER_ADD;
    return HR_OK;
  }
  if (!strcmp(w0, "mul")) {
    if (it->nwords != 2)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected 'mul X'",
              it->index, it->text);
    L->kind = HR_LAYER_MUL;
    return parse_real(it, it->word[1], -1e300, 1e300, 0, &L->alpha);
  }
  if (!strcmp(w0, "batchnorm") || !strcmp(w0, "layernorm")) {
    L->kind = w0[0] == 'b' ? HR_LAYER_BATCHNORM : HR_LAYER_LAYERNORM;
    return parse_norm(it, L);
  }
  if (!strcmp(w0, "flatten") || !strcmp(w0, "gap")) {
    L->kind = w0[0] == 'f' ? HR_LAYER_FLATTEN : HR_LAYER_GAP;
    return no_arguments(it);
  }
  return parse_activation(it, L);
}

/* ---- shapes --------------------------------------------------------------- */

static const char *shape_text(hr_shape_t s, char *buf, size_t len) {
  if (s.h == 1 && s.w == 1) snprintf(buf, len, "%lld", (long long)s.c);
  else snprintf(buf, len, "%lldx%lldx%lld", (long long)s.c, (long long)s.h,
                (long long)s.w);
  return buf;
}

static int64_t shape_size(hr_shape_t s) { return s.c * s.h * s.w; }

/* Output shape of a window of `kernel` with stride and padding over `in`,
 * as PyTorch computes it (floor mode). */
static int window_out(const hr_layer_t *L, const char *text, int index,
                      int64_t in, int64_t *out) {
  if (L->kernel > in + 2 * L->pad) {
    char what[32];
    snprintf(what, sizeof what, "%lld", (long long)in);
    HR_FAIL(HR_ERR_INPUT, "layer %d '%s': kernel %lld is larger than its "
            "input (%s%s)", index, text, (long long)L->kernel, what,
            L->pad ? " plus padding" : "");
  }
  *out = (in + 2 * L->pad - L->kernel) / L->stride + 1;
  return HR_OK;
}

/* The parser's state: which values are images (C x H x W, from 'input
 * CxHxW' through conv and pooling) rather than vectors. */
typedef struct {
  hr_model_t *m;
  int image[HR_MAX_LAYERS + 1];
  int cur;                      /* the value the next item reads by default */
} parse_t;

static hr_shape_t value_shape(const hr_model_t *m, int t) {
  return t == 0 ? m->input : m->layer[t - 1].out;
}

static const char *value_name(const hr_model_t *m, int t) {
  return t == 0 ? "input" : m->layer[t - 1].name;
}

/* The value called name, or -1. */
static int find_value(const hr_model_t *m, const char *name) {
  if (!strcmp(name, "input")) return 0;
  for (int i = 0; i < m->nlayers; i++)
    if (!strcmp(m->layer[i].name, name)) return i + 1;
  return -1;
}

static int resolve(const hr_model_t *m, const item_t *it, const char *name,
                   int *t) {
  *t = find_value(m, name);
  if (*t < 0)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s' reads '%s', which no "
            "earlier item is named (name one with 'as %s')", it->index,
            it->text, name, name);
  return HR_OK;
}

static int chain_layer(hr_layer_t *L, hr_shape_t in, int *image, const item_t *it) {
  char a[48];
  L->in = in;
  switch (L->kind) {
    case HR_LAYER_LINEAR:
      if (in.h != 1 || in.w != 1)
        HR_FAIL(HR_ERR_INPUT, "layer %d '%s' needs a flat input but gets "
                "%s: add 'flatten' before it", it->index, it->text,
                shape_text(in, a, sizeof a));
      L->out.h = L->out.w = 1;
      L->nweight = L->out.c * in.c;
      *image = 0;
      return HR_OK;
    case HR_LAYER_CONV:
    case HR_LAYER_MAXPOOL:
    case HR_LAYER_AVGPOOL:
      if (L->kind == HR_LAYER_CONV) {
        L->nweight = L->out.c * in.c * L->kernel * L->kernel;
      } else {
        L->out.c = in.c;
      }
      if (!*image)
        HR_FAIL(HR_ERR_INPUT, "layer %d '%s' needs an image (CxHxW) but gets "
                "the flat %s: give the input as 'input CxHxW'", it->index,
                it->text, shape_text(in, a, sizeof a));
      HR_CHECK(window_out(L, it->text, it->index, in.h, &L->out.h));
      return window_out(L, it->text, it->index, in.w, &L->out.w);
    case HR_LAYER_GAP:
      if (!*image)
        HR_FAIL(HR_ERR_INPUT, "layer %d '%s' needs an image (CxHxW) but gets "
                "the flat %s", it->index, it->text, shape_text(in, a, sizeof a));
      L->out = (hr_shape_t){in.c, 1, 1};
      *image = 0;
      return HR_OK;
    case HR_LAYER_FLATTEN:
      L->out = (hr_shape_t){shape_size(in), 1, 1};
      *image = 0;
      return HR_OK;
    case HR_LAYER_BATCHNORM:
      L->out = in;
      L->nweight = L->nbias = L->affine ? in.c : 0;
      return HR_OK;
    case HR_LAYER_LAYERNORM:
      L->out = in;
      L->nweight = L->nbias = L->affine ? hr_norm_group(L) : 0;
      return HR_OK;
    default:
      L->out = in;
      return HR_OK;
  }
}

/* Its inputs, for a node about to be parsed. */
static int connect(parse_t *st, const item_t *it, hr_layer_t *L) {
  hr_model_t *m = st->m;
  L->src[0] = st->cur;
  if (it->from) HR_CHECK(resolve(m, it, it->from, &L->src[0]));
  if (L->kind != HR_LAYER_ADD) return HR_OK;
  HR_CHECK(resolve(m, it, it->word[1], &L->src[1]));
  hr_shape_t x = value_shape(m, L->src[0]), y = value_shape(m, L->src[1]);
  if (x.c != y.c || x.h != y.h || x.w != y.w) {
    char a[48], b[48];
    HR_FAIL(HR_ERR_INPUT, "layer %d '%s' adds %s (of '%s') to %s: the shapes "
            "must be equal", it->index, it->text, shape_text(y, b, sizeof b),
            it->word[1], shape_text(x, a, sizeof a));
  }
  return HR_OK;
}

static int add_layer(parse_t *st, const item_t *it) {
  hr_model_t *m = st->m;
  if (m->nlayers == HR_MAX_LAYERS)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: more than %d layers", HR_MAX_LAYERS);
  hr_layer_t *L = &m->layer[m->nlayers];
  HR_CHECK(parse_layer(it, L));
  HR_CHECK(connect(st, it, L));
  if (it->as) {
    if (find_value(m, it->as) >= 0)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': the name '%s' is "
              "taken already", it->index, it->text, it->as);
    snprintf(L->name, sizeof L->name, "%s", it->as);
  }
  int image = st->image[L->src[0]];
  HR_CHECK(chain_layer(L, value_shape(m, L->src[0]), &image, it));
  if (L->kind == HR_LAYER_LINEAR || L->kind == HR_LAYER_CONV)
    L->nbias = m->bias && !it->nobias ? L->out.c : 0;
  if (L->kind == HR_LAYER_BATCHNORM) { /* PyTorch's initial statistics */
    if (m->nbuffer + 2 * L->in.c > HR_MAX_BUFFER)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: more than %d BatchNorm channels",
              HR_MAX_BUFFER / 2);
    L->offset_buf = m->nbuffer;
    for (int64_t c = 0; c < L->in.c; c++) {
      m->buffer[m->nbuffer + c] = 0.0;
      m->buffer[m->nbuffer + L->in.c + c] = 1.0;
    }
    m->nbuffer += 2 * L->in.c;
  }
  if (L->nweight + L->nbias) {
    L->param_index = m->nparam_layers++;
    L->offset_w = m->nparams;
    m->nparams += L->nweight;
    L->offset_b = m->nparams;
    m->nparams += L->nbias;
  }
  if ((L->kind != HR_LAYER_LINEAR && L->kind != HR_LAYER_ACT) ||
      L->src[0] != m->nlayers)
    m->flat = 0;
  m->nlayers++;
  st->image[m->nlayers] = image;
  st->cur = m->nlayers;
  return HR_OK;
}

/* The item of node i, without shapes: what parses back to it. */
static void node_text(const hr_model_t *m, int i, char *buf, size_t len) {
  const hr_layer_t *L = &m->layer[i];
  hr_layer_describe(m, i, buf, len);
  char *paren = strstr(buf, " (");
  if (paren) *paren = '\0';
  size_t n = strlen(buf);
  if ((L->kind == HR_LAYER_LINEAR || L->kind == HR_LAYER_CONV) && m->bias &&
      !L->nbias)
    n += (size_t)snprintf(buf + n, len - n, " nobias");
  if (L->src[0] != i)
    n += (size_t)snprintf(buf + n, len - n, " from %s", value_name(m, L->src[0]));
  if (L->name[0]) snprintf(buf + n, len - n, " as %s", L->name);
}

/* The canonical spec: what the weights file stores, and parses again to
 * the same model. */
static int canonical(hr_model_t *m) {
  char a[48], item[512];
  size_t used = (size_t)snprintf(m->spec, sizeof m->spec, "input %s",
                                 shape_text(m->input, a, sizeof a));
  for (int i = 0; i < m->nlayers; i++) {
    node_text(m, i, item, sizeof item);
    if (used + strlen(item) + 3 > sizeof m->spec)
      HR_FAIL(HR_ERR_USAGE, "the model's spec is longer than %d characters",
              HR_SPEC_MAX);
    used += (size_t)snprintf(m->spec + used, sizeof m->spec - used, ", %s", item);
  }
  return HR_OK;
}

/* Every value but the last is read by some node. */
static int check_all_read(const hr_model_t *m) {
  for (int t = 1; t < m->nlayers; t++)
    if (hr_graph_consumers(m, t) == 0) {
      char d[256];
      hr_layer_describe(m, t - 1, d, sizeof d);
      HR_FAIL(HR_ERR_USAGE, "bad model spec: the value of node %d '%s' is "
              "never read (a branch that goes nowhere): read it with 'add' or "
              "'from', or drop it", t - 1, d);
    }
  return HR_OK;
}

static int parse_item(parse_t *st, const item_t *it, int64_t inputs) {
  hr_model_t *m = st->m;
  if (!strcmp(it->word[0], "input")) {
    if (it->index != 0)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: 'input' must be the first item "
              "(item %d '%s')", it->index, it->text);
    HR_CHECK(parse_shape(it, &m->input));
    st->image[0] = m->input.h > 1 || m->input.w > 1 ||
                   strchr(it->word[1], 'x') != NULL;
    return HR_OK;
  }
  if (it->index == 0 && inputs < 1)
    HR_FAIL(HR_ERR_INPUT, "the model spec has no 'input' item and the data's "
            "row width is not known");
  return add_layer(st, it);
}

static int parse_items(hr_model_t *m, const char *text, int64_t inputs) {
  const char *p = text;
  int index = 0;
  parse_t *st = calloc(1, sizeof *st);
  if (!st) HR_FAIL(HR_ERR_MEMORY, "out of memory");
  st->m = m;
  m->input = (hr_shape_t){inputs, 1, 1};
  int rc = HR_OK;
  while (*p && rc == HR_OK) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    item_t it;
    rc = split_item(p, n, index, &it);
    if (rc == HR_OK) rc = parse_item(st, &it, inputs);
    index++;
    p = comma ? comma + 1 : p + n;
  }
  free(st);
  HR_CHECK(rc);
  if (m->nlayers == 0 || m->nparams == 0)
    HR_FAIL(HR_ERR_USAGE, "bad model spec '%s': no layer with parameters "
            "(linear or conv)", text);
  HR_CHECK(check_all_read(m));
  hr_shape_t out = m->layer[m->nlayers - 1].out;
  if (out.h != 1 || out.w != 1) {
    char a[48];
    HR_FAIL(HR_ERR_INPUT, "the model's last layer gives %s, not a vector of "
            "outputs: end with 'flatten' (and a linear layer)",
            shape_text(out, a, sizeof a));
  }
  m->outputs = shape_size(out);
  return HR_OK;
}

static int check_against_data(const hr_model_t *m, const char *spec,
                              int64_t inputs, int64_t outputs) {
  char a[48];
  int64_t in = shape_size(m->input);
  if (inputs && in != inputs) {
    const char *shape;
    const preset_t *p = find_preset(spec, &shape);
    if (m->input.h == 1 && m->input.w == 1)
      HR_FAIL(HR_ERR_INPUT, "model %s takes %lld inputs but the data have "
              "%lld features%s%s", spec, (long long)in, (long long)inputs,
              p ? "; preset: " : "", p ? p->note : "");
    HR_FAIL(HR_ERR_INPUT, "model %s takes %s inputs (%lld values) but the "
            "data have %lld features%s%s", spec,
            shape_text(m->input, a, sizeof a), (long long)in, (long long)inputs,
            p ? "; preset: " : "", p ? p->note : "");
  }
  if (outputs && m->outputs != outputs)
    HR_FAIL(HR_ERR_INPUT, "model %s has %lld outputs but the data have %lld "
            "classes/targets", spec, (long long)m->outputs, (long long)outputs);
  return HR_OK;
}

int hr_model_init(hr_model_t *m, const char *spec, int64_t inputs,
                  int64_t outputs, int bias, hr_activation_t activation,
                  hr_loss_t loss) {
  memset(m, 0, sizeof *m);
  m->bias = bias;
  m->loss = loss;
  m->flat = 1;
  char items[HR_SPEC_MAX];
  HR_CHECK(expand(spec, inputs, outputs, activation, items, sizeof items));
  HR_CHECK(parse_items(m, items, inputs));
  const char *shape;
  const preset_t *p = find_preset(spec, &shape);
  if (p && !strcmp(p->name, "bike-mlp") && loss != HR_LOSS_MSE)
    HR_FAIL(HR_ERR_USAGE, "model bike-mlp is a regression network: give "
            "--loss mse (and --targets)");
  HR_CHECK(check_against_data(m, spec, inputs, outputs));
  return canonical(m);
}

int hr_model_spec_outputs(const char *spec, int64_t inputs, hr_loss_t loss,
                          int64_t *outputs) {
  *outputs = 0;
  if (!strcmp(spec, "logistic")) return HR_OK;
  hr_model_t *m = malloc(sizeof *m);
  if (!m) HR_FAIL(HR_ERR_MEMORY, "out of memory");
  int rc = hr_model_init(m, spec, inputs, 0, 1, HR_ACT_RELU, loss);
  if (rc == HR_OK) *outputs = m->outputs;
  free(m);
  return rc;
}

const hr_layer_t *hr_model_param_layer(const hr_model_t *m, int l) {
  for (int i = 0; i < m->nlayers; i++)
    if (m->layer[i].param_index == l) return &m->layer[i];
  return NULL;
}

int hr_model_is_logistic(const hr_model_t *m) {
  return m->nlayers == 1 && m->layer[0].kind == HR_LAYER_LINEAR;
}

/* "batchnorm eps 0.001 noaffine": the options that differ from PyTorch's. */
static void norm_head(const hr_layer_t *L, char *head, size_t len) {
  size_t n = (size_t)snprintf(head, len, "%s",
                              L->kind == HR_LAYER_BATCHNORM ? "batchnorm" : "layernorm");
  if (L->alpha != default_eps)
    n += (size_t)snprintf(head + n, len - n, " eps %.17g", L->alpha);
  if (!L->affine) snprintf(head + n, len - n, " noaffine");
}

const char *hr_layer_describe(const hr_model_t *m, int i, char *buf,
                              size_t len) {
  const hr_layer_t *L = &m->layer[i];
  char a[48], b[48], head[160];
  switch (L->kind) {
    case HR_LAYER_LINEAR:
      snprintf(head, sizeof head, "linear %lld", (long long)L->out.c);
      break;
    case HR_LAYER_CONV:
    case HR_LAYER_MAXPOOL:
    case HR_LAYER_AVGPOOL: {
      /* stride and pad only where they differ from PyTorch's defaults */
      int conv = L->kind == HR_LAYER_CONV;
      int64_t default_stride = conv ? 1 : L->kernel;
      size_t n = conv ? (size_t)snprintf(head, sizeof head, "conv %lld %lld",
                                         (long long)L->out.c, (long long)L->kernel)
                      : (size_t)snprintf(head, sizeof head, "%s %lld",
                                         L->kind == HR_LAYER_MAXPOOL ? "maxpool" : "avgpool",
                                         (long long)L->kernel);
      if (L->stride != default_stride)
        n += (size_t)snprintf(head + n, sizeof head - n, " stride %lld",
                              (long long)L->stride);
      if (L->pad) snprintf(head + n, sizeof head - n, " pad %lld", (long long)L->pad);
      break;
    }
    case HR_LAYER_FLATTEN: snprintf(head, sizeof head, "flatten"); break;
    case HR_LAYER_GAP: snprintf(head, sizeof head, "gap"); break;
    case HR_LAYER_ADD:
      snprintf(head, sizeof head, "add %s", value_name(m, L->src[1]));
      break;
    case HR_LAYER_MUL: snprintf(head, sizeof head, "mul %.17g", L->alpha); break;
    case HR_LAYER_BATCHNORM:
    case HR_LAYER_LAYERNORM: norm_head(L, head, sizeof head); break;
    case HR_LAYER_ACT:
      if (L->alpha != act_default_alpha(L->act))
        snprintf(head, sizeof head, "%s %.17g", act_name(L->act), L->alpha);
      else
        snprintf(head, sizeof head, "%s", act_name(L->act));
      break;
  }
  snprintf(buf, len, "%s (%s -> %s, %lld parameters)", head,
           shape_text(L->in, a, sizeof a), shape_text(L->out, b, sizeof b),
           (long long)(L->nweight + L->nbias));
  return buf;
}

/* The word of a node's kind, as the spec writes it. */
static const char *node_word(const hr_layer_t *L) {
  static const char *const words[] = {
      [HR_LAYER_LINEAR] = "linear", [HR_LAYER_CONV] = "conv",
      [HR_LAYER_MAXPOOL] = "maxpool", [HR_LAYER_AVGPOOL] = "avgpool",
      [HR_LAYER_FLATTEN] = "flatten", [HR_LAYER_ADD] = "add",
      [HR_LAYER_MUL] = "mul", [HR_LAYER_BATCHNORM] = "batchnorm",
      [HR_LAYER_LAYERNORM] = "layernorm", [HR_LAYER_GAP] = "gap"};
  return L->kind == HR_LAYER_ACT ? act_name(L->act) : words[L->kind];
}

/* A spec too long for a plan line, counted: "graph 3x32x32 -> 10, 40
 * nodes: 12 conv, 12 batchnorm, ..." (kinds in order of appearance). */
static const char *graph_summary(const hr_model_t *m, char *buf, size_t len) {
  char a[48];
  size_t used = (size_t)snprintf(buf, len, "graph %s -> %lld, %d nodes:",
                                 shape_text(m->input, a, sizeof a),
                                 (long long)m->outputs, m->nlayers);
  for (int i = 0; i < m->nlayers && used < len; i++) {
    const char *word = node_word(&m->layer[i]);
    int seen = 0, count = 0;
    for (int j = 0; j < m->nlayers; j++) {
      if (strcmp(node_word(&m->layer[j]), word)) continue;
      seen |= j < i;
      count++;
    }
    if (!seen)
      used += (size_t)snprintf(buf + used, len - used, "%s %d %s",
                               i ? "," : "", count, word);
  }
  return buf;
}

const char *hr_model_describe(const hr_model_t *m, char *buf, size_t len) {
  /* An MLP reads best as mlp:D-H-...-C (with its activation). */
  int mlp = m->flat && m->layer[0].kind == HR_LAYER_LINEAR;
  hr_activation_t act = HR_ACT_RELU;
  int acts = 0;
  for (int i = 0; i < m->nlayers && mlp; i++) {
    const hr_layer_t *L = &m->layer[i];
    int want_linear = (i % 2) == 0;
    if (want_linear != (L->kind == HR_LAYER_LINEAR)) mlp = 0;
    if (L->kind == HR_LAYER_ACT) {
      if (acts++ && L->act != act) mlp = 0;
      act = L->act;
    }
  }
  if (mlp && m->layer[m->nlayers - 1].kind != HR_LAYER_LINEAR) mlp = 0;
  if (!mlp && strlen(m->spec) > HR_DESCRIBE_SPEC_MAX) return graph_summary(m, buf, len);
  if (!mlp) {
    snprintf(buf, len, "%s", m->spec);
    return buf;
  }
  size_t used = (size_t)snprintf(buf, len, "mlp:%lld", (long long)m->input.c);
  for (int i = 0; i < m->nlayers && used < len; i += 2)
    used += (size_t)snprintf(buf + used, len - used, "-%lld",
                             (long long)m->layer[i].out.c);
  if (acts && act != HR_ACT_RELU && used < len)
    snprintf(buf + used, len - used, " (%s)", act_name(act));
  return buf;
}
