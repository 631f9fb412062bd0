/* The model spec language (see model.h and the README's "Models"):
 *
 *   spec    := preset | "logistic" | "mlp:" D "-" H1 "-" ... "-" C | items
 *   items   := item ("," item)*
 *   item    := "input" SHAPE | "linear" OUT | "conv" OUT K ["stride" S] ["pad" P]
 *            | "maxpool" K ["stride" S] | "avgpool" K ["stride" S]
 *            | "flatten" | "relu" | "tanh" | "identity"
 *   SHAPE   := C "x" H "x" W | D
 *
 * Each spec is expanded to items, parsed into layers, and the layers'
 * shapes are chained from the input; every error names the item. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/model.h"

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
    {"bike-mlp",
     "input 13, linear 100, relu, linear 100, relu, linear 50, relu, linear 1",
     "13-100-100-50-1 ReLU MLP for the bike-sharing regression (--loss mse "
     "--targets), N = 16,601"},
};

static const char *act_name(hr_activation_t a) {
  return a == HR_ACT_RELU ? "relu" : a == HR_ACT_TANH ? "tanh" : "identity";
}

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

enum { MAX_WORDS = 8 };

typedef struct {
  char text[128];               /* the item, trimmed, for messages */
  char buf[128];
  char *word[MAX_WORDS];
  int nwords, index;
} item_t;

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
  return HR_OK;
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

static int parse_shape(const item_t *it, hr_shape_t *s) {
  if (it->nwords != 2)
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

/* The optional "stride S" and (conv) "pad P" after word `first`. */
static int parse_window(const item_t *it, int first, int allow_pad,
                        int64_t default_stride, hr_layer_t *L) {
  L->stride = default_stride;
  L->pad = 0;
  for (int i = first; i < it->nwords; i += 2) {
    int is_stride = !strcmp(it->word[i], "stride");
    int is_pad = allow_pad && !strcmp(it->word[i], "pad");
    if ((!is_stride && !is_pad) || i + 1 >= it->nwords)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: '%s' in item %d '%s' (expected "
              "%s)", it->word[i], it->index, it->text,
              allow_pad ? "conv OUT K [stride S] [pad P]"
                        : "maxpool|avgpool K [stride S]");
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
  return HR_OK;
}

static int parse_layer(const item_t *it, hr_layer_t *L) {
  const char *w0 = it->word[0];
  memset(L, 0, sizeof *L);
  L->param_index = -1;
  L->kernel = L->stride = 1;
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
    return parse_window(it, 3, 1, 1, L); /* PyTorch: stride 1 */
  }
  if (!strcmp(w0, "maxpool") || !strcmp(w0, "avgpool")) {
    if (it->nwords < 2)
      HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': expected '%s K "
              "[stride S]'", it->index, it->text, w0);
    L->kind = w0[0] == 'm' ? HR_LAYER_MAXPOOL : HR_LAYER_AVGPOOL;
    HR_CHECK(parse_count(it, it->word[1], &L->kernel));
    return parse_window(it, 2, 0, L->kernel, L); /* PyTorch: stride = kernel */
  }
  static const struct { const char *name; hr_layer_kind_t kind; hr_activation_t act; }
      simple[] = {{"flatten", HR_LAYER_FLATTEN, HR_ACT_LINEAR},
                  {"relu", HR_LAYER_ACT, HR_ACT_RELU},
                  {"tanh", HR_LAYER_ACT, HR_ACT_TANH},
                  {"identity", HR_LAYER_ACT, HR_ACT_LINEAR}};
  for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
    if (!strcmp(w0, simple[i].name)) {
      if (it->nwords != 1)
        HR_FAIL(HR_ERR_USAGE, "bad model spec: item %d '%s': '%s' takes no "
                "arguments", it->index, it->text, w0);
      L->kind = simple[i].kind;
      L->act = simple[i].act;
      return HR_OK;
    }
  HR_FAIL(HR_ERR_USAGE, "bad model spec: unknown layer '%s' in item %d '%s' "
          "(layers: input, linear, conv, maxpool, avgpool, flatten, relu, "
          "tanh, identity; presets: lenet, mnist-mlp, mnist-mlp-deep, "
          "bike-mlp; or logistic, mlp:D-H-...-C)", w0, it->index, it->text);
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

/* image: the input is an image (from 'input CxHxW' through conv and
 * pooling), not a vector (from 'input D', flatten or linear). */
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
    case HR_LAYER_FLATTEN:
      L->out = (hr_shape_t){shape_size(in), 1, 1};
      *image = 0;
      return HR_OK;
    default:
      L->out = in;
      return HR_OK;
  }
}

static int add_layer(hr_model_t *m, const item_t *it, hr_shape_t *cur,
                     int *image) {
  if (m->nlayers == HR_MAX_LAYERS)
    HR_FAIL(HR_ERR_USAGE, "bad model spec: more than %d layers", HR_MAX_LAYERS);
  hr_layer_t *L = &m->layer[m->nlayers];
  HR_CHECK(parse_layer(it, L));
  HR_CHECK(chain_layer(L, *cur, image, it));
  if (L->nweight) {
    L->param_index = m->nparam_layers++;
    L->offset_w = m->nparams;
    m->nparams += L->nweight;
    L->offset_b = m->nparams;
    L->nbias = m->bias ? L->out.c : 0;
    m->nparams += L->nbias;
  }
  if (L->kind != HR_LAYER_LINEAR && L->kind != HR_LAYER_ACT) m->flat = 0;
  *cur = L->out;
  m->nlayers++;
  return HR_OK;
}

/* The canonical spec: what the weights file stores, and parses again to
 * the same model. */
static void canonical(hr_model_t *m) {
  char a[48];
  size_t used = (size_t)snprintf(m->spec, sizeof m->spec, "input %s",
                                 shape_text(m->input, a, sizeof a));
  for (int i = 0; i < m->nlayers && used + 2 < sizeof m->spec; i++) {
    used += (size_t)snprintf(m->spec + used, sizeof m->spec - used, ", ");
    hr_layer_describe(m, i, m->spec + used, sizeof m->spec - used);
    char *paren = strstr(m->spec + used, " (");
    if (paren) *paren = '\0';
    used = strlen(m->spec);
  }
}

static int parse_items(hr_model_t *m, const char *text, int64_t inputs) {
  const char *p = text;
  int index = 0, image = 0;
  hr_shape_t cur = {inputs, 1, 1};
  while (*p) {
    const char *comma = strchr(p, ',');
    size_t n = comma ? (size_t)(comma - p) : strlen(p);
    item_t it;
    HR_CHECK(split_item(p, n, index, &it));
    if (!strcmp(it.word[0], "input")) {
      if (index != 0)
        HR_FAIL(HR_ERR_USAGE, "bad model spec: 'input' must be the first item "
                "(item %d '%s')", index, it.text);
      HR_CHECK(parse_shape(&it, &m->input));
      cur = m->input;
      image = m->input.h > 1 || m->input.w > 1 || strchr(it.word[1], 'x') != NULL;
    } else {
      if (index == 0) {
        if (inputs < 1)
          HR_FAIL(HR_ERR_INPUT, "the model spec has no 'input' item and the "
                  "data's row width is not known");
        m->input = cur;
      }
      HR_CHECK(add_layer(m, &it, &cur, &image));
    }
    index++;
    p = comma ? comma + 1 : p + n;
  }
  if (m->nlayers == 0 || m->nparams == 0)
    HR_FAIL(HR_ERR_USAGE, "bad model spec '%s': no layer with parameters "
            "(linear or conv)", text);
  if (cur.h != 1 || cur.w != 1) {
    char a[48];
    HR_FAIL(HR_ERR_INPUT, "the model's last layer gives %s, not a vector of "
            "outputs: end with 'flatten' (and a linear layer)",
            shape_text(cur, a, sizeof a));
  }
  m->outputs = shape_size(cur);
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
  char items[2048];
  HR_CHECK(expand(spec, inputs, outputs, activation, items, sizeof items));
  HR_CHECK(parse_items(m, items, inputs));
  const char *shape;
  const preset_t *p = find_preset(spec, &shape);
  if (p && !strcmp(p->name, "bike-mlp") && loss != HR_LOSS_MSE)
    HR_FAIL(HR_ERR_USAGE, "model bike-mlp is a regression network: give "
            "--loss mse (and --targets)");
  HR_CHECK(check_against_data(m, spec, inputs, outputs));
  canonical(m);
  return HR_OK;
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

const char *hr_layer_describe(const hr_model_t *m, int i, char *buf,
                              size_t len) {
  const hr_layer_t *L = &m->layer[i];
  char a[48], b[48], head[96];
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
    default: snprintf(head, sizeof head, "%s", act_name(L->act));
  }
  snprintf(buf, len, "%s (%s -> %s, %lld parameters)", head,
           shape_text(L->in, a, sizeof a), shape_text(L->out, b, sizeof b),
           (long long)(L->nweight + L->nbias));
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
