/* The unfolding half of the statistics (see stats_levels.h and stats.h):
 * each spectrum's bulk is unfolded, the unfolding is checked (monotone,
 * flat), and only an unfolding that passes gives spacing and long-range
 * numbers.
 *
 * Why the checks: a smooth fit of the counting function is right only
 * where the density is smooth.  A Hessian spectrum has a sharp peak at
 * zero, a bulk and outliers orders of magnitude out; a polynomial bends
 * back over such levels (negative spacings) and every statistic after it
 * is meaningless -- a Delta_3 of -4e8 was printed before these checks
 * existed.  The ratios need no unfolding, so the verdict never rests on
 * this half. */
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/rmt.h"
#include "stats_levels.h"

/* Sigma^2 and Delta_3 use at most this many spectra (their average
 * changes little beyond) and at most this many windows per spectrum. */
enum { LONG_RANGE_SPECTRA = 200, LONG_RANGE_WINDOWS = 2000 };

/* The flatness check: the unfolded range of each spectrum is cut into
 * tenths; each tenth's density may differ from 1 by FLAT_BASE plus
 * FLAT_SIGMAS standard deviations of its count. */
enum { TENTHS = 10 };
static const double FLAT_BASE = 0.05, FLAT_SIGMAS = 4.0;

void hr_levels_free(hr_levels_t *k) {
  free(k->start);
  free(k->level);
  k->start = NULL;
  k->level = NULL;
}

/* ---- the bulks ------------------------------------------------------------- */

/* Each spectrum's levels within its own Tukey fences (3 IQR beyond the
 * quartiles), so that one spectrum's outliers neither distort its own fit
 * nor enter another's pool.  A spectrum whose quartiles coincide (heavily
 * degenerate levels) has no meaningful fences and is kept whole. */
static int bulk_levels(const hr_levels_t *k, hr_levels_t *b, int64_t *beyond) {
  memset(b, 0, sizeof *b);
  b->spectra = k->spectra;
  b->start = calloc((size_t)k->spectra + 1, sizeof *b->start);
  b->level = malloc((size_t)(k->count ? k->count : 1) * sizeof *b->level);
  if (!b->start || !b->level) {
    hr_levels_free(b);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for the bulk levels");
  }
  *beyond = 0;
  for (int64_t s = 0; s < k->spectra; s++) {
    int64_t n, m = 0;
    const double *v = hr_levels_row(k, s, &n);
    double q1 = v[n / 4], q3 = v[(3 * n) / 4], iqr = q3 - q1;
    double lo = iqr > 0 ? q1 - 3.0 * iqr : -INFINITY;
    double hi = iqr > 0 ? q3 + 3.0 * iqr : INFINITY;
    for (int64_t i = 0; i < n; i++)
      if (v[i] >= lo && v[i] <= hi) b->level[b->start[s] + m++] = v[i];
    b->start[s + 1] = b->start[s] + m;
    *beyond += n - m;
  }
  b->count = b->start[k->spectra];
  return HR_OK;
}

/* ---- one unfolding of every target spectrum ---------------------------------- */

typedef struct {
  hr_unfold_t method;
  int degree;  /* poly */
} choice_t;

static void choice_name(choice_t c, char *buf, size_t len) {
  switch (c.method) {
    case HR_UNFOLD_POOL: snprintf(buf, len, "pool"); break;
    case HR_UNFOLD_KDE: snprintf(buf, len, "kde"); break;
    case HR_UNFOLD_SPLINE: snprintf(buf, len, "spline"); break;
    default: snprintf(buf, len, "poly %d", c.degree); break;
  }
}

/* The spectra that are unfolded: all of them, except for pool unfolding,
 * where every third spectrum (0, 3, 6, ...) is unfolded against the pooled
 * levels of the others (the paper's split, after tscholak/unfoldr). */
static int is_target(hr_unfold_t method, int64_t s) {
  return method != HR_UNFOLD_POOL || s % 3 == 0;
}

typedef struct {
  double *pool;          /* pool unfolding: sorted levels of non-targets */
  int64_t pool_count, pool_spectra;
} pool_t;

static int build_pool(const hr_levels_t *b, pool_t *p) {
  memset(p, 0, sizeof *p);
  p->pool = malloc((size_t)(b->count ? b->count : 1) * sizeof *p->pool);
  if (!p->pool) HR_FAIL(HR_ERR_MEMORY, "out of memory for the unfolding pool");
  for (int64_t s = 0; s < b->spectra; s++) {
    if (is_target(HR_UNFOLD_POOL, s)) continue;
    int64_t n;
    const double *v = hr_levels_row(b, s, &n);
    memcpy(p->pool + p->pool_count, v, (size_t)n * sizeof *v);
    p->pool_count += n;
    p->pool_spectra++;
  }
  hr_sort_doubles(p->pool, p->pool_count);
  return HR_OK;
}

/* Unfold one spectrum's levels into out. */
static int unfold_row(const hr_stats_config_t *cfg, choice_t c, const pool_t *p,
                      const double *v, int64_t n, double *out) {
  switch (c.method) {
    case HR_UNFOLD_POOL:
      hr_unfold_pool(v, n, p->pool, p->pool_count, p->pool_spectra, out);
      return HR_OK;
    case HR_UNFOLD_KDE:
      hr_unfold_kde(v, n, 0.0, out);
      return HR_OK;
    case HR_UNFOLD_SPLINE:
      return hr_unfold_spline(v, n, out);
    default:
      return hr_unfold_poly(v, n, c.degree, cfg->trim, out);
  }
}

/* The central unfolded levels of every target, each scaled to mean
 * spacing exactly 1: a smooth unfolding is right only up to a few per
 * cent in the centre (a KDE leaks density past the edges), and the
 * surmises, Sigma^2 and Delta_3 all assume unit density.  The scale is
 * kept (raw_*) as a check on the unfolding. */
typedef struct {
  choice_t choice;
  double *x;             /* target t owns x[start[t] .. start[t+1]) */
  int64_t *start, targets;
  double raw_span;
  int64_t raw_spacings;
  int64_t backward;      /* spacings < 0: the unfolding ran backwards */
} unfolded_t;

static void unfolded_free(unfolded_t *u) {
  free(u->x);
  free(u->start);
  u->x = NULL;
  u->start = NULL;
}

/* Append one target's central part (trim dropped at each end), scaled. */
static void keep_central(const hr_stats_config_t *cfg, double *work, int64_t n,
                         unfolded_t *u) {
  int64_t drop = (int64_t)(cfg->trim * (double)n), m = n - 2 * drop;
  const double *x = work + drop;
  double lo = INFINITY, hi = -INFINITY;
  for (int64_t i = 0; i < m; i++) lo = fmin(lo, x[i]), hi = fmax(hi, x[i]);
  if (m < 2 || !(x[m - 1] > x[0]) || !(hi > lo)) return;  /* nothing to scale */
  double scale = (double)(m - 1) / (x[m - 1] - x[0]);
  double *dst = u->x + u->start[u->targets];
  for (int64_t i = 0; i < m; i++) dst[i] = (x[i] - x[0]) * scale;
  for (int64_t i = 0; i + 1 < m; i++) u->backward += dst[i + 1] < dst[i];
  u->raw_span += x[m - 1] - x[0];
  u->raw_spacings += m - 1;
  u->start[u->targets + 1] = u->start[u->targets] + m;
  u->targets++;
}

/* path (NULL: none) begins the messages of an unfolding asked for by
 * name; auto's notes leave it out. */
static int unfold_levels(const hr_stats_config_t *cfg, const hr_levels_t *b,
                         choice_t c, const char *path, unfolded_t *u) {
  memset(u, 0, sizeof *u);
  u->choice = c;
  char where[4200] = "";
  if (path) snprintf(where, sizeof where, "'%s': ", path);
  if (c.method == HR_UNFOLD_POOL && b->spectra < 2)
    HR_FAIL(HR_ERR_INPUT, "%sone spectrum: pool unfolding needs at least 2 "
            "(use --unfold poly or kde)", where);
  pool_t p = {NULL, 0, 0};
  int64_t most = 1;
  for (int64_t s = 0; s < b->spectra; s++)
    most = b->start[s + 1] - b->start[s] > most ? b->start[s + 1] - b->start[s] : most;
  double *work = malloc((size_t)most * sizeof *work);
  u->x = malloc((size_t)(b->count ? b->count : 1) * sizeof *u->x);
  u->start = calloc((size_t)b->spectra + 1, sizeof *u->start);
  int rc = work && u->x && u->start ? HR_OK
      : hr_error_set(HR_ERR_MEMORY, __FILE__, __LINE__, __func__,
                     "out of memory for unfolding");
  if (rc == HR_OK && c.method == HR_UNFOLD_POOL) rc = build_pool(b, &p);
  for (int64_t s = 0; rc == HR_OK && s < b->spectra; s++) {
    if (!is_target(c.method, s)) continue;
    int64_t n;
    const double *v = hr_levels_row(b, s, &n);
    rc = n > 0 ? unfold_row(cfg, c, &p, v, n, work) : HR_OK;
    if (rc != HR_OK) {
      char why[512];  /* the message buffer is about to be rewritten */
      snprintf(why, sizeof why, "%s", hr_error_message());
      rc = hr_error_set(rc, __FILE__, __LINE__, __func__, "%sspectrum %lld: %s",
                        where, (long long)s, why);
    } else if (n > 0) {
      keep_central(cfg, work, n, u);
    }
  }
  free(work);
  free(p.pool);
  if (rc == HR_OK && u->raw_spacings < 2)
    rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                      "%stoo few levels remain after unfolding and trimming "
                      "%.0f%% at each end; lower --trim", where, 100 * cfg->trim);
  if (rc != HR_OK) unfolded_free(u);
  return rc;
}

/* ---- the checks ---------------------------------------------------------------- */

/* The variance of the count of levels in a window of length len under
 * the law the ratios found: Poisson's len, or the GOE's number variance
 * (larger than GUE's and GSE's, so the allowance errs on the generous
 * side for them). */
static double count_variance(hr_law_t law, double len) {
  return law == HR_LAW_POISSON ? len : hr_number_variance_goe(len);
}

typedef struct {
  double dev, tol, density;  /* at the tenth where dev / tol is largest */
  int worst, flat;
} flatness_t;

/* The density of unfolded levels in each tenth of each target's range,
 * pooled over targets: count / expected count. */
static flatness_t flatness(const unfolded_t *u, hr_law_t law) {
  double count[TENTHS] = {0}, expect[TENTHS] = {0}, var[TENTHS] = {0};
  for (int64_t t = 0; t < u->targets; t++) {
    const double *x = u->x + u->start[t];
    int64_t m = u->start[t + 1] - u->start[t];
    double width = (x[m - 1] - x[0]) / TENTHS;
    for (int64_t i = 0; i < m; i++) {
      double f = floor((x[i] - x[0]) / width);
      int tenth = f < 0 ? 0 : f >= TENTHS ? TENTHS - 1 : (int)f;
      count[tenth] += 1.0;
    }
    for (int j = 0; j < TENTHS; j++) {
      expect[j] += (double)m / TENTHS;
      var[j] += count_variance(law, width);
    }
  }
  flatness_t r = {0.0, FLAT_BASE, 1.0, 0, 1};
  double worst = -1.0;
  for (int j = 0; j < TENTHS; j++) {
    double density = count[j] / expect[j], dev = fabs(density - 1.0);
    double tol = FLAT_BASE + FLAT_SIGMAS * sqrt(var[j]) / expect[j];
    if (!(dev <= tol)) r.flat = 0;
    if (dev / tol > worst) {
      worst = dev / tol;
      r.dev = dev, r.tol = tol, r.density = density, r.worst = j;
    }
  }
  return r;
}

/* Unfold with choice c and judge it into rec; the unfolded levels stay in
 * u when rec->ok. */
static void try_unfolding(const hr_stats_config_t *cfg, const hr_levels_t *b,
                          choice_t c, const hr_stats_t *st,
                          hr_stats_unfolding_t *rec, unfolded_t *u) {
  memset(rec, 0, sizeof *rec);
  choice_name(c, rec->name, sizeof rec->name);
  rec->ks_spacing[0] = rec->ks_spacing[1] = rec->ks_spacing[2] = NAN;
  rec->brody_q = rec->sigma2 = rec->delta3 = NAN;
  if (unfold_levels(cfg, b, c, st->unfold_auto ? NULL : st->path, u) != HR_OK) {
    snprintf(rec->note, sizeof rec->note, "%s", hr_error_message());
    hr_error_clear();
    return;
  }
  rec->ok = 1;
  rec->mean_spacing = u->raw_span / (double)u->raw_spacings;
  rec->n_backward = u->backward;
  rec->n_spacings = u->raw_spacings - u->backward;
  rec->monotone = u->backward == 0;
  flatness_t f = flatness(u, st->verdict);
  rec->flat = f.flat;
  rec->flat_dev = f.dev;
  rec->flat_tol = f.tol;
  rec->flat_density = f.density;
  rec->flat_worst = f.worst;
  rec->enough = rec->n_spacings >= HR_STATS_MIN_SPACINGS;
  rec->passed = rec->enough && rec->monotone && rec->flat;
}

/* Why rec did not pass, in a few words. */
static void rejection(const hr_stats_unfolding_t *rec, char *buf, size_t len) {
  if (!rec->ok)
    snprintf(buf, len, "%s: could not be done (%s)", rec->name, rec->note);
  else if (!rec->enough)
    snprintf(buf, len, "%s: too few spacings (%lld; the checks need %d)", rec->name,
             (long long)rec->n_spacings, HR_STATS_MIN_SPACINGS);
  else if (!rec->monotone)
    snprintf(buf, len, "%s: not monotone (%lld unfolded spacings < 0)", rec->name,
             (long long)rec->n_backward);
  else
    snprintf(buf, len, "%s: not flat (density %.3f in tenth %d of the range; "
             "allowed 1 +/- %.3f)", rec->name,
             rec->flat_density, rec->flat_worst + 1,
             rec->flat_tol);
}

/* ---- the statistics of an unfolding ------------------------------------------- */

static double spacing_cdf(double s, void *law) {
  return hr_spacing_cdf(*(const hr_spacing_law_t *)law, s);
}

typedef struct {
  double *spacings;      /* sorted */
  int64_t n;
  double ks[3], p[3], brody;
  double sigma2[HR_STATS_NL], delta3[HR_STATS_NL];
} spacing_stats_t;

/* Sigma^2 and Delta_3 averaged over (at most LONG_RANGE_SPECTRA of) the
 * targets; NaN where a target's span is shorter than L, or when the
 * unfolding ran backwards (its levels are not a staircase). */
static void long_range(const unfolded_t *u, const double *L, spacing_stats_t *r) {
  double sum2[HR_STATS_NL] = {0}, sum3[HR_STATS_NL] = {0};
  int64_t used[HR_STATS_NL] = {0};
  int64_t stride = (u->targets + LONG_RANGE_SPECTRA - 1) / LONG_RANGE_SPECTRA;
  for (int64_t t = 0; u->backward == 0 && t < u->targets; t += stride) {
    const double *x = u->x + u->start[t];
    int64_t m = u->start[t + 1] - u->start[t];
    int64_t windows = m < LONG_RANGE_WINDOWS ? m : LONG_RANGE_WINDOWS;
    for (int i = 0; m >= 3 && i < HR_STATS_NL; i++) {
      double s2 = hr_number_variance(x, m, L[i], windows);
      double d3 = hr_spectral_rigidity(x, m, L[i], windows);
      if (isnan(s2) || isnan(d3)) continue;
      sum2[i] += s2;
      sum3[i] += d3;
      used[i]++;
    }
  }
  for (int i = 0; i < HR_STATS_NL; i++) {
    r->sigma2[i] = used[i] ? sum2[i] / (double)used[i] : NAN;
    r->delta3[i] = used[i] ? sum3[i] / (double)used[i] : NAN;
  }
}

/* Spacings (those >= 0: equal levels give true zeros), KS against the
 * Poisson and Wigner laws, the Brody fit and the long-range statistics. */
static int spacing_stats(const unfolded_t *u, const double *L, spacing_stats_t *r) {
  memset(r, 0, sizeof *r);
  r->spacings = malloc((size_t)(u->raw_spacings ? u->raw_spacings : 1) * sizeof *r->spacings);
  if (!r->spacings) HR_FAIL(HR_ERR_MEMORY, "out of memory for the spacings");
  for (int64_t t = 0; t < u->targets; t++)
    for (int64_t i = u->start[t]; i + 1 < u->start[t + 1]; i++)
      if (u->x[i + 1] >= u->x[i]) r->spacings[r->n++] = u->x[i + 1] - u->x[i];
  hr_sort_doubles(r->spacings, r->n);
  for (int law = 0; law < 3; law++) {
    hr_spacing_law_t l = (hr_spacing_law_t)law;
    r->ks[law] = hr_ks_distance(r->spacings, r->n, spacing_cdf, &l);
    r->p[law] = hr_ks_pvalue(r->ks[law], r->n);
  }
  r->brody = hr_brody_fit(r->spacings, r->n);
  long_range(u, L, r);
  return HR_OK;
}

static hr_spacing_law_t nearest_spacing_law(const double ks[3]) {
  int best = 0;
  for (int law = 1; law < 3; law++)
    if (ks[law] < ks[best]) best = law;
  return (hr_spacing_law_t)best;
}

/* ---- choosing ------------------------------------------------------------------ */

/* auto's order: the spline first, which follows each spectrum's own
 * density (on 20 GOE spectra of N = 1000 it gives Brody q 0.95, Sigma^2(10)
 * 0.886 and Delta_3(10) 0.2353 against 1, 0.909 and 0.2357; the paper's
 * pool gives 0.86, 0.989 and 0.2487, docs/statistics-calibration.md); the
 * pool when there are enough spectra to pool (it fits nothing, and it is
 * what passes on the batch spectra of the paper's MLP, where a spline bends
 * back); polynomials from stiff to flexible; the kernel density, which
 * blurs sharp peaks; and a pool of few spectra last (their pool is noisy). */
static int auto_choices(int64_t spectra, choice_t *list) {
  int n = 0;
  list[n++] = (choice_t){HR_UNFOLD_SPLINE, 0};
  if (spectra >= 6) list[n++] = (choice_t){HR_UNFOLD_POOL, 0};
  for (int d = 3; d <= 12; d += 3) list[n++] = (choice_t){HR_UNFOLD_POLY, d};
  list[n++] = (choice_t){HR_UNFOLD_KDE, 0};
  if (spectra >= 2 && spectra < 6) list[n++] = (choice_t){HR_UNFOLD_POOL, 0};
  return n;
}

/* The first unfolding that passes, or (none) the index -1; the tried
 * ones' records in st->tried.  u holds the kept one's levels. */
static int choose(const hr_stats_config_t *cfg, const hr_levels_t *b,
                  hr_stats_t *st, unfolded_t *u) {
  choice_t list[HR_STATS_UNFOLDINGS];
  int n = auto_choices(st->n_spectra, list);
  st->n_tried = 0;
  for (int i = 0; i < n; i++) {
    hr_stats_unfolding_t *rec = &st->tried[st->n_tried++];
    try_unfolding(cfg, b, list[i], st, rec, u);
    if (rec->passed) {
      st->unfold = list[i].method;
      st->unfold_degree = list[i].degree;
      return i;
    }
    unfolded_free(u);
  }
  return -1;
}

/* Adds "text; " to the list in buf. */
static void append_item(char *buf, size_t len, const char *text) {
  size_t used = strlen(buf);
  if (used < len) snprintf(buf + used, len - used, "%s; ", text);
}

/* What was kept and why the earlier ones were not. */
static void describe_choice(hr_stats_t *st, int kept) {
  char *note = st->unfold_note, why[256];
  size_t len = sizeof st->unfold_note;
  note[0] = '\0';
  for (int i = 0; i < st->n_tried; i++) {
    if (i == kept) continue;
    rejection(&st->tried[i], why, sizeof why);
    append_item(note, len, why);
  }
  size_t used = strlen(note);
  if (used >= 2) note[used - 2] = '\0';
}

void hr_stats_unfold_label(const hr_stats_t *st, char *buf, size_t len) {
  if (st->unfold == HR_UNFOLD_AUTO || st->unfold == HR_UNFOLD_ALL)
    snprintf(buf, len, "none");
  else
    choice_name((choice_t){st->unfold, st->unfold_degree}, buf, len);
}

void hr_stats_unreliable_reason(const hr_stats_t *st, char *buf, size_t len) {
  char name[32];
  hr_stats_unfold_label(st, name, sizeof name);
  if (st->unfold_auto || st->unfold == HR_UNFOLD_AUTO)
    snprintf(buf, len, "no unfolding is monotone and flat");
  else
    snprintf(buf, len, "the %s unfolding is not monotone and flat", name);
}

/* Hide every number of the spacing half (unreliable). */
static void withhold(hr_stats_t *st) {
  for (int law = 0; law < 3; law++) st->ks_spacing[law] = st->p_spacing[law] = NAN;
  st->brody_q = st->mean_spacing = st->flat_dev = st->flat_tol = NAN;
  for (int i = 0; i < HR_STATS_NL; i++) st->sigma2[i] = st->delta3[i] = NAN;
  free(st->spacings);
  st->spacings = NULL;
}

static int fill_from(const unfolded_t *u, const hr_stats_unfolding_t *rec,
                     hr_stats_t *st) {
  spacing_stats_t r;
  HR_CHECK(spacing_stats(u, st->L, &r));
  st->spacings = r.spacings;
  st->n_spacings = r.n;
  memcpy(st->ks_spacing, r.ks, sizeof r.ks);
  memcpy(st->p_spacing, r.p, sizeof r.p);
  st->brody_q = r.brody;
  memcpy(st->sigma2, r.sigma2, sizeof r.sigma2);
  memcpy(st->delta3, r.delta3, sizeof r.delta3);
  st->mean_spacing = rec->mean_spacing;
  st->n_backward = rec->n_backward;
  st->flat_dev = rec->flat_dev;
  st->flat_tol = rec->flat_tol;
  return HR_OK;
}

int hr_stats_unfold(const hr_stats_config_t *cfg, const hr_levels_t *k,
                    hr_stats_t *st) {
  for (int i = 0; i < HR_STATS_NL; i++) st->L[i] = 0.5 * (i + 1);
  hr_levels_t b;
  HR_CHECK(bulk_levels(k, &b, &st->n_beyond_bulk));
  st->n_unfolded = b.count;
  unfolded_t u;
  memset(&u, 0, sizeof u);
  int rc = HR_OK, kept;
  st->unfold_auto = cfg->unfold == HR_UNFOLD_AUTO || cfg->unfold == HR_UNFOLD_ALL;
  if (st->unfold_auto) {
    kept = choose(cfg, &b, st, &u);
    describe_choice(st, kept);
  } else {
    /* the method asked for: it must run; its checks decide reliability */
    choice_t c = {(hr_unfold_t)cfg->unfold, cfg->poly_degree};
    st->unfold = c.method;
    st->unfold_degree = c.degree;
    st->n_tried = 1;
    try_unfolding(cfg, &b, c, st, &st->tried[0], &u);
    if (!st->tried[0].ok) rc = hr_error_set(HR_ERR_INPUT, __FILE__, __LINE__, __func__,
                                            "%s", st->tried[0].note);
    kept = rc == HR_OK ? 0 : -1;
    if (rc == HR_OK && !st->tried[0].passed)
      rejection(&st->tried[0], st->unfold_note, sizeof st->unfold_note);
  }
  st->spacing_reliable = kept >= 0 && st->tried[kept].passed;
  if (rc == HR_OK && kept >= 0) rc = fill_from(&u, &st->tried[kept], st);
  if (rc == HR_OK && !st->spacing_reliable) withhold(st);
  if (kept < 0) st->unfold = HR_UNFOLD_AUTO;  /* none kept */
  unfolded_free(&u);
  hr_levels_free(&b);
  return rc;
}

/* ---- --unfold all: how much the unfolding matters ---------------------------- */

static void full_unfolding(const hr_stats_config_t *cfg, const hr_levels_t *b,
                           choice_t c, const hr_stats_t *st,
                           hr_stats_unfolding_t *rec) {
  unfolded_t u;
  try_unfolding(cfg, b, c, st, rec, &u);
  if (!rec->ok) return;
  spacing_stats_t r;
  if (spacing_stats(&u, st->L, &r) == HR_OK) {
    memcpy(rec->ks_spacing, r.ks, sizeof r.ks);
    rec->brody_q = r.brody;
    rec->sigma2 = r.sigma2[HR_STATS_NL - 1];
    rec->delta3 = r.delta3[HR_STATS_NL - 1];
    rec->nearest = nearest_spacing_law(r.ks);
    free(r.spacings);
  } else {
    hr_error_clear();
  }
  unfolded_free(&u);
}

/* The spread of one statistic over the unfoldings that pass. */
static double spread(const hr_stats_t *st, size_t offset) {
  double lo = INFINITY, hi = -INFINITY;
  for (int i = 0; i < st->n_unfoldings; i++) {
    const hr_stats_unfolding_t *u = &st->unfoldings[i];
    double v = *(const double *)((const char *)u + offset);
    if (!u->passed || isnan(v)) continue;
    lo = fmin(lo, v);
    hi = fmax(hi, v);
  }
  return hi >= lo ? hi - lo : NAN;
}

/* The verdict of the ratios (they need no unfolding) as a spacing law;
 * GSE has no spacing surmise here and counts as GUE's side. */
static hr_spacing_law_t ratio_side(const hr_stats_t *st) {
  switch (st->verdict) {
    case HR_LAW_POISSON: return HR_SPACING_POISSON;
    case HR_LAW_GOE: return HR_SPACING_GOE;
    default: return HR_SPACING_GUE;
  }
}

static const char *spacing_name(hr_spacing_law_t law) {
  return law == HR_SPACING_POISSON ? "Poisson" : law == HR_SPACING_GOE ? "GOE" : "GUE";
}

/* A warning naming the unfoldings that pass their checks and still
 * disagree with the ratios: those that fail are unreliable anyway. */
static void disagreement(hr_stats_t *st) {
  hr_spacing_law_t ref = ratio_side(st);
  char list[400] = "";
  size_t used = 0;
  for (int i = 0; i < st->n_unfoldings; i++) {
    hr_stats_unfolding_t *u = &st->unfoldings[i];
    if (!u->ok || u->nearest == ref) continue;
    u->flagged = 1;
    if (u->passed && used < sizeof list)
      used += (size_t)snprintf(list + used, sizeof list - used, "%s%s: %s",
                               used ? ", " : "", u->name, spacing_name(u->nearest));
  }
  st->unfolding_warning[0] = '\0';
  if (used)
    snprintf(st->unfolding_warning, sizeof st->unfolding_warning,
             "the spacing verdict depends on the unfolding: %s, where the ratio "
             "statistics (which need no unfolding) say %s", list, spacing_name(ref));
}

void hr_stats_unfold_all(const hr_stats_config_t *cfg, const hr_levels_t *k,
                         hr_stats_t *st) {
  hr_levels_t b;
  if (bulk_levels(k, &b, &st->n_beyond_bulk) != HR_OK) {
    hr_error_clear();
    return;
  }
  choice_t list[HR_STATS_UNFOLDINGS];
  int n = 0;
  if (st->n_spectra >= 2) list[n++] = (choice_t){HR_UNFOLD_POOL, 0};
  for (int d = 3; d <= 12; d += 3) list[n++] = (choice_t){HR_UNFOLD_POLY, d};
  list[n++] = (choice_t){HR_UNFOLD_KDE, 0};
  list[n++] = (choice_t){HR_UNFOLD_SPLINE, 0};
  for (int i = 0; i < n; i++) full_unfolding(cfg, &b, list[i], st, &st->unfoldings[i]);
  st->n_unfoldings = n;
  hr_levels_free(&b);
  size_t ks = offsetof(hr_stats_unfolding_t, ks_spacing);
  st->spread_ks_poisson = spread(st, ks + HR_SPACING_POISSON * sizeof(double));
  st->spread_ks_goe = spread(st, ks + HR_SPACING_GOE * sizeof(double));
  st->spread_brody = spread(st, offsetof(hr_stats_unfolding_t, brody_q));
  st->spread_sigma2 = spread(st, offsetof(hr_stats_unfolding_t, sigma2));
  st->spread_delta3 = spread(st, offsetof(hr_stats_unfolding_t, delta3));
  disagreement(st);
}
