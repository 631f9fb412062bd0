/* Parameters by their PyTorch names.
 *
 * A node with parameters is named by its module path when it comes from
 * the converter (`as layer1.0.conv1`), so its tensors are the names
 * model.named_parameters() prints: layer1.0.conv1.weight, .bias.  The
 * Hessian of a block is a principal sub-matrix, so what a name selects
 * must be one contiguous range of theta; nodes are laid out in order and
 * each node's weight precedes its bias, so a module's tensors, and a
 * prefix's nodes when they are consecutive, are. */
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/model.h"

/* Whether `word` is the first len characters of name, and all of them. */
static int same(const char *word, const char *name, size_t len) {
  return strlen(word) == len && !strncmp(word, name, len);
}

/* Whether node i answers to `name` exactly. */
static int node_is(const hr_model_t *m, int i, const char *name, size_t len) {
  char index[32], alias[32];
  const char *own = m->layer[i].name;
  if (own[0]) return same(own, name, len);
  snprintf(index, sizeof index, "%d", i);
  snprintf(alias, sizeof alias, "node%d", i);
  return same(index, name, len) || same(alias, name, len);
}

/* Whether node i's own name lies under the dotted prefix `name`. */
static int node_under(const hr_model_t *m, int i, const char *name) {
  size_t len = strlen(name);
  const char *own = m->layer[i].name;
  return !strncmp(own, name, len) && own[len] == '.';
}

static int64_t node_params(const hr_layer_t *L) { return L->nweight + L->nbias; }

/* NAME.weight or NAME.bias: that tensor of the node NAME (*found = 1);
 * *found = 0 if `name` is not of that form or no node has that name. */
static int one_tensor(const hr_model_t *m, const char *name, int64_t *first,
                      int64_t *count, int *found) {
  *found = 0;
  const char *dot = strrchr(name, '.');
  if (!dot || (strcmp(dot, ".weight") && strcmp(dot, ".bias"))) return HR_OK;
  int bias = !strcmp(dot, ".bias");
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!node_is(m, i, name, (size_t)(dot - name)) || !node_params(L)) continue;
    if (bias && !L->nbias)
      HR_FAIL(HR_ERR_USAGE, "parameter '%s': that layer has no bias", name);
    *first = bias ? L->offset_b : L->offset_w;
    *count = bias ? L->nbias : L->nweight;
    *found = 1;
    return HR_OK;
  }
  return HR_OK;
}

int hr_model_named_params(const hr_model_t *m, const char *name,
                          int64_t *first, int64_t *count) {
  *first = *count = 0;
  int found;
  HR_CHECK(one_tensor(m, name, first, count, &found));
  if (found) return HR_OK;
  enum { BEFORE, INSIDE, AFTER } at = BEFORE;
  for (int i = 0; i < m->nlayers; i++) {
    const hr_layer_t *L = &m->layer[i];
    if (!node_params(L)) continue;
    int in = node_is(m, i, name, strlen(name)) || node_under(m, i, name);
    if (in && at == AFTER)
      HR_FAIL(HR_ERR_USAGE, "parameters '%s': its layers are not consecutive "
              "in model.parameters() order, so they are not one block; name "
              "them one by one", name);
    if (in && at == BEFORE) *first = L->offset_w;
    if (in) *count = L->offset_w + node_params(L) - *first;
    at = in ? INSIDE : at == INSIDE ? AFTER : at;
  }
  if (!*count)
    HR_FAIL(HR_ERR_USAGE, "no parameters are named '%s' (names as PyTorch's "
            "named_parameters() gives them: NAME.weight, NAME.bias, a layer "
            "NAME, or a prefix of dotted names)", name);
  return HR_OK;
}
