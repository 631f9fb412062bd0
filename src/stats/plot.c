/* Figures on PLplot (see plot.h): the description of a figure, built
 * layer by layer, and its drawing into PNG and SVG.
 *
 * The description is plain data and needs no PLplot; only hr_plot_save
 * (and hr_plot_create, so that a build without PLplot fails early) does.
 * Drawing happens once per device from the same description, which is
 * what makes the PNG and the SVG show the same figure. */
#include "hessrmt/plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hessrmt/error.h"
#include "hessrmt/output.h"

#ifdef HR_HAVE_PLPLOT
#include <plplot.h>
#endif

typedef enum {
  LAYER_HISTOGRAM, LAYER_BAND, LAYER_SERIES, LAYER_VLINE, LAYER_RUG,
  LAYER_NOTE, LAYER_TEXT
} layer_kind_t;

/* One thing drawn.  histogram: bin edges x[0..n], heights y[0..n);
 * band: x, lower y, upper y2; series: x, y; rug: x; vline: at;
 * note: (at, at_y) with just; text: a legend line only. */
typedef struct {
  layer_kind_t kind;
  hr_style_t style;
  char *text;  /* legend label, or a note's text; NULL: no legend entry */
  int64_t n;
  double *x, *y, *y2;
  double at, at_y, just;
} layer_t;

struct hr_plot {
  hr_plot_config_t cfg;  /* its strings point to the copies below */
  char *title, *subtitle, *xlabel, *ylabel;
  layer_t *layer;
  int n_layers, cap;
};

int hr_plot_available(void) {
#ifdef HR_HAVE_PLPLOT
  return 1;
#else
  return 0;
#endif
}

void hr_plot_config_default(hr_plot_config_t *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->width = 1000;
  cfg->height = 700;
  cfg->xmin = cfg->xmax = cfg->ymin = cfg->ymax = NAN;
  cfg->headroom = 0.05;
  cfg->legend = HR_LEGEND_AUTO;
}

void hr_plot_escape(const char *text, char *out, size_t len) {
  size_t used = 0;
  if (len == 0) return;
  for (; text && *text && used + 1 < len; text++) {
    if (*text == '#') {
      if (used + 2 >= len) break;
      out[used++] = '#';
    }
    out[used++] = *text;
  }
  out[used] = '\0';
}

/* ---- the description ------------------------------------------------------- */

static char *copy_text(const char *s) { return s && *s ? strdup(s) : NULL; }

static void layer_free(layer_t *l) {
  free(l->text);
  free(l->x);
  free(l->y);
  free(l->y2);
}

/* A new layer with `arrays` arrays (x, then y, then y2) of n + 1 values
 * each (n + 1: a histogram's edges). */
static int layer_new(layer_kind_t kind, const char *text, const hr_style_t *style,
                     int64_t n, int arrays, layer_t *l) {
  memset(l, 0, sizeof *l);
  l->kind = kind;
  l->n = n;
  if (style) l->style = *style;
  l->text = copy_text(text);
  size_t count = (size_t)n + 1;
  if (arrays > 0) l->x = calloc(count, sizeof *l->x);
  if (arrays > 1) l->y = calloc(count, sizeof *l->y);
  if (arrays > 2) l->y2 = calloc(count, sizeof *l->y2);
  if ((text && *text && !l->text) || (arrays > 0 && !l->x) ||
      (arrays > 1 && !l->y) || (arrays > 2 && !l->y2)) {
    layer_free(l);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for a figure layer of %lld values",
            (long long)n);
  }
  return HR_OK;
}

/* Append l to the figure, which then owns it (freed here on failure). */
static int layer_push(hr_plot_t *p, layer_t *l) {
  if (p->n_layers == p->cap) {
    int cap = p->cap ? 2 * p->cap : 8;
    layer_t *grown = realloc(p->layer, (size_t)cap * sizeof *grown);
    if (!grown) {
      layer_free(l);
      HR_FAIL(HR_ERR_MEMORY, "out of memory for the layers of a figure");
    }
    p->layer = grown;
    p->cap = cap;
  }
  p->layer[p->n_layers++] = *l;
  return HR_OK;
}

int hr_plot_create(const hr_plot_config_t *cfg, hr_plot_t **plot) {
  *plot = NULL;
  if (!hr_plot_available()) HR_FAIL(HR_ERR_USAGE, HR_PLOT_MISSING);
  if (cfg->width < 100 || cfg->height < 100 || cfg->width > 20000 ||
      cfg->height > 20000)
    HR_FAIL(HR_ERR_USAGE, "figure size %d x %d pixels: each side must be "
            "within 100 ... 20000", cfg->width, cfg->height);
  hr_plot_t *p = calloc(1, sizeof *p);
  if (!p) HR_FAIL(HR_ERR_MEMORY, "out of memory for a figure");
  p->cfg = *cfg;
  p->cfg.title = p->title = copy_text(cfg->title);
  p->cfg.subtitle = p->subtitle = copy_text(cfg->subtitle);
  p->cfg.xlabel = p->xlabel = copy_text(cfg->xlabel);
  p->cfg.ylabel = p->ylabel = copy_text(cfg->ylabel);
  if ((cfg->title && *cfg->title && !p->title) ||
      (cfg->subtitle && *cfg->subtitle && !p->subtitle) ||
      (cfg->xlabel && *cfg->xlabel && !p->xlabel) ||
      (cfg->ylabel && *cfg->ylabel && !p->ylabel)) {
    hr_plot_free(p);
    HR_FAIL(HR_ERR_MEMORY, "out of memory for a figure's labels");
  }
  *plot = p;
  return HR_OK;
}

void hr_plot_free(hr_plot_t *plot) {
  if (!plot) return;
  for (int i = 0; i < plot->n_layers; i++) layer_free(&plot->layer[i]);
  free(plot->layer);
  free(plot->title);
  free(plot->subtitle);
  free(plot->xlabel);
  free(plot->ylabel);
  free(plot);
}

/* Count finite x into the bins; heights as counts or as a density over
 * all finite values (so a histogram over part of the range still
 * compares with the density it samples). */
static void bin_values(const double *x, int64_t n, double lo, double hi,
                       int density, layer_t *l) {
  int64_t bins = l->n, finite = 0;
  double width = (hi - lo) / (double)bins;
  for (int64_t b = 0; b <= bins; b++) l->x[b] = lo + width * (double)b;
  l->x[bins] = hi;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(x[i])) continue;
    finite++;
    if (x[i] < lo || x[i] > hi) continue;
    int64_t b = (int64_t)((x[i] - lo) / width);
    l->y[b < bins ? b : bins - 1] += 1.0;
  }
  if (density && finite > 0)
    for (int64_t b = 0; b < bins; b++) l->y[b] /= (double)finite * width;
}

int hr_plot_histogram(hr_plot_t *plot, const double *x, int64_t n, double lo,
                      double hi, int bins, int density, hr_rgb_t colour,
                      const char *label) {
  if (bins < 1 || n < 0 || (n > 0 && !x))
    HR_FAIL(HR_ERR_INTERNAL, "histogram of %lld values in %d bins",
            (long long)n, bins);
  if (!isfinite(lo) || !isfinite(hi)) lo = 0.0, hi = 1.0;
  if (!(hi > lo)) {
    /* one value: a bar of sensible width around it */
    double half = fabs(lo) > 0 ? 0.05 * fabs(lo) : 0.5;
    lo -= half;
    hi += half;
  }
  hr_style_t style = {colour, HR_LINE_SOLID, 1.0, HR_MARK_NONE, 0.0};
  layer_t l;
  HR_CHECK(layer_new(LAYER_HISTOGRAM, label, &style, bins, 2, &l));
  bin_values(x, n, lo, hi, density, &l);
  return layer_push(plot, &l);
}

int hr_plot_series(hr_plot_t *plot, const double *x, const double *y,
                   int64_t n, const hr_style_t *style, const char *label) {
  if (n < 0 || (n > 0 && (!x || !y)))
    HR_FAIL(HR_ERR_INTERNAL, "series of %lld points without data", (long long)n);
  layer_t l;
  HR_CHECK(layer_new(LAYER_SERIES, label, style, n, 2, &l));
  if (n > 0) {
    memcpy(l.x, x, (size_t)n * sizeof *x);
    memcpy(l.y, y, (size_t)n * sizeof *y);
  }
  return layer_push(plot, &l);
}

int hr_plot_function(hr_plot_t *plot, double (*f)(double x, void *ctx),
                     void *ctx, double x0, double x1, int points,
                     const hr_style_t *style, const char *label) {
  if (points < 2 || !(x0 < x1) || (plot->cfg.log_x && !(x0 > 0)))
    HR_FAIL(HR_ERR_INTERNAL, "function sampled at %d points on [%g, %g]",
            points, x0, x1);
  double *x = malloc((size_t)points * sizeof *x);
  double *y = malloc((size_t)points * sizeof *y);
  if (!x || !y) {
    free(x);
    free(y);
    HR_FAIL(HR_ERR_MEMORY, "out of memory sampling a curve");
  }
  for (int i = 0; i < points; i++) {
    double t = (double)i / (points - 1);
    x[i] = plot->cfg.log_x ? x0 * pow(x1 / x0, t) : x0 + (x1 - x0) * t;
    y[i] = f(x[i], ctx);
  }
  int rc = hr_plot_series(plot, x, y, points, style, label);
  free(x);
  free(y);
  HR_CHECK(rc);
  return HR_OK;
}

int hr_plot_band(hr_plot_t *plot, const double *x, const double *lo,
                 const double *hi, int64_t n, hr_rgb_t colour,
                 const char *label) {
  if (n < 0 || (n > 0 && (!x || !lo || !hi)))
    HR_FAIL(HR_ERR_INTERNAL, "band of %lld points without data", (long long)n);
  hr_style_t style = {colour, HR_LINE_NONE, 0.0, HR_MARK_NONE, 0.0};
  layer_t l;
  HR_CHECK(layer_new(LAYER_BAND, label, &style, n, 3, &l));
  if (n > 0) {
    memcpy(l.x, x, (size_t)n * sizeof *x);
    memcpy(l.y, lo, (size_t)n * sizeof *lo);
    memcpy(l.y2, hi, (size_t)n * sizeof *hi);
  }
  return layer_push(plot, &l);
}

int hr_plot_rug(hr_plot_t *plot, const double *x, int64_t n,
                const hr_style_t *style, const char *label) {
  if (n < 0 || (n > 0 && !x))
    HR_FAIL(HR_ERR_INTERNAL, "rug of %lld values without data", (long long)n);
  layer_t l;
  HR_CHECK(layer_new(LAYER_RUG, label, style, n, 1, &l));
  if (n > 0) memcpy(l.x, x, (size_t)n * sizeof *x);
  return layer_push(plot, &l);
}

int hr_plot_vline(hr_plot_t *plot, double x, const hr_style_t *style,
                  const char *label) {
  layer_t l;
  HR_CHECK(layer_new(LAYER_VLINE, label, style, 0, 0, &l));
  l.at = x;
  return layer_push(plot, &l);
}

int hr_plot_note(hr_plot_t *plot, double fx, double fy, double just,
                 const char *text) {
  layer_t l;
  HR_CHECK(layer_new(LAYER_NOTE, text, NULL, 0, 0, &l));
  l.at = fx;
  l.at_y = fy;
  l.just = just;
  return layer_push(plot, &l);
}

int hr_plot_legend_text(hr_plot_t *plot, const char *text) {
  layer_t l;
  HR_CHECK(layer_new(LAYER_TEXT, text, NULL, 0, 0, &l));
  return layer_push(plot, &l);
}

#ifndef HR_HAVE_PLPLOT

int hr_plot_save(const hr_plot_t *plot, const char *base) {
  return hr_plot_save_checked(plot, base, NULL);
}

int hr_plot_save_checked(const hr_plot_t *plot, const char *base, int *overlaps) {
  (void)plot;
  (void)base;
  (void)overlaps;
  HR_FAIL(HR_ERR_USAGE, HR_PLOT_MISSING);
}

#else

/* ---- the axes ---------------------------------------------------------------- */

/* The frame in drawing coordinates: log10 of the data on a log axis. */
typedef struct {
  double x0, x1, y0, y1;
} frame_t;

static double axis_value(double v, int log_axis) {
  if (!isfinite(v)) return NAN;
  if (!log_axis) return v;
  return v > 0.0 ? log10(v) : NAN;
}

typedef struct {
  double lo, hi;
} extent_t;

static void extent_add(extent_t *e, double t) {
  if (!isfinite(t)) return;
  if (t < e->lo) e->lo = t;
  if (t > e->hi) e->hi = t;
}

static void extent_histogram(const layer_t *l, int log_x, int log_y,
                             extent_t *ex, extent_t *ey) {
  for (int64_t b = 0; b <= l->n; b++) extent_add(ex, axis_value(l->x[b], log_x));
  for (int64_t b = 0; b < l->n; b++) extent_add(ey, axis_value(l->y[b], log_y));
  if (!log_y) extent_add(ey, 0.0);  /* bars stand on zero */
}

/* Where the data lie, in drawing coordinates (rugs and notes follow the
 * frame, so they do not count). */
static void data_extent(const hr_plot_t *p, extent_t *ex, extent_t *ey) {
  int lx = p->cfg.log_x, ly = p->cfg.log_y;
  ex->lo = ey->lo = INFINITY;
  ex->hi = ey->hi = -INFINITY;
  for (int i = 0; i < p->n_layers; i++) {
    const layer_t *l = &p->layer[i];
    if (l->kind == LAYER_HISTOGRAM) extent_histogram(l, lx, ly, ex, ey);
    if (l->kind == LAYER_VLINE) extent_add(ex, axis_value(l->at, lx));
    if (l->kind != LAYER_SERIES && l->kind != LAYER_BAND) continue;
    for (int64_t k = 0; k < l->n; k++) {
      double tx = axis_value(l->x[k], lx), ty = axis_value(l->y[k], ly);
      double ty2 = l->y2 ? axis_value(l->y2[k], ly) : ty;
      if (!isfinite(tx) || !isfinite(ty)) continue;
      extent_add(ex, tx);
      extent_add(ey, ty);
      extent_add(ey, ty2);
    }
  }
}

/* An axis range: the fixed ends where given, else the data's with a
 * margin; a linear axis of non-negative data near zero starts at zero
 * (densities, variances), a log axis over a decade or more ends on whole
 * decades, and an empty or one-point range is widened. */
static void resolve_axis(double fixed_lo, double fixed_hi, int log_axis,
                         extent_t e, double pad, double headroom,
                         double *lo, double *hi) {
  if (e.lo > e.hi) e.lo = 0.0, e.hi = 1.0;
  if (e.lo == e.hi) {
    double half = log_axis ? 0.5 : (e.lo != 0.0 ? 0.1 * fabs(e.lo) : 0.5);
    e.lo = (!log_axis && e.lo == 0.0) ? 0.0 : e.lo - half;
    e.hi += half;
  }
  double span = e.hi - e.lo;
  int from_zero = !log_axis && e.lo >= 0.0 && e.lo <= 0.2 * e.hi;
  *lo = from_zero ? 0.0 : e.lo - pad * span;
  *hi = e.hi + (pad + headroom) * span;
  if (log_axis && span >= 1.0) {  /* whole decades, each end labelled */
    *lo = floor(*lo);
    *hi = ceil(*hi);
  }
  double flo = axis_value(fixed_lo, log_axis), fhi = axis_value(fixed_hi, log_axis);
  if (isfinite(flo)) *lo = flo;
  if (isfinite(fhi)) *hi = fhi;
  if (!(*hi > *lo)) *hi = *lo + (log_axis ? 1.0 : fmax(fabs(*lo), 1.0));
}

static frame_t plot_frame(const hr_plot_t *p) {
  extent_t ex, ey;
  frame_t f;
  data_extent(p, &ex, &ey);
  const hr_plot_config_t *c = &p->cfg;
  resolve_axis(c->xmin, c->xmax, c->log_x, ex, 0.02, 0.0, &f.x0, &f.x1);
  resolve_axis(c->ymin, c->ymax, c->log_y, ey, 0.03, c->headroom, &f.y0, &f.y1);
  return f;
}

/* ---- drawing ----------------------------------------------------------------- */

/* cmap0: 0 background, 1 axes and text, 2 grid, 3 a translucent white
 * under notes; layer i draws lines in 4 + 2i and fills in 5 + 2i. */
enum { COL_BG = 0, COL_FG = 1, COL_GRID = 2, COL_VEIL = 3, COL_LAYERS = 4 };

static int line_col(int i) { return COL_LAYERS + 2 * i; }
static int fill_col(int i) { return COL_LAYERS + 2 * i + 1; }

enum { FILL_ALPHA_PERCENT = 40, BAND_ALPHA_PERCENT = 25 };

/* Scratch arrays, allocated before PLplot starts so that running out of
 * memory never happens inside a PLplot session. */
typedef struct {
  double *x, *y;
  double *note_y;  /* per layer: where its note is drawn (place_notes) */
} scratch_t;

typedef struct {
  const hr_plot_t *p;
  frame_t f;     /* may grow upwards in a session to make room for the legend */
  double scale;  /* line widths for the page size */
  double text;   /* plschr factor for body text (set in the session) */
  scratch_t s;
  hr_legend_pos_t corner;
  int overlaps;  /* notes that found no free place (place_notes) */
} draw_t;

/* A figure of any size looks like the 1000 x 700 one enlarged (as with
 * a higher dpi): lines scale with the page, and text is 6 mm high there
 * (17 pixels) and grows alike, but stays legible on small pages.
 * PLplot's cairo default text height itself depends on the page, so the
 * text factor is set in the session (text_factor). */
static double page_scale(const hr_plot_config_t *c) {
  return fmax(fmin(c->width / 1000.0, c->height / 700.0), 0.6);
}

static double text_factor(double scale) {
  PLFLT def, ht;
  plgchr(&def, &ht);
  return def > 0 ? 6.0 * fmax(scale, 0.75) / def : 1.0;
}

/* PLplot's built-in line styles (pllegend takes only these). */
static int plplot_line_style(hr_line_t line) {
  switch (line) {
    case HR_LINE_DASHED: return 3;
    case HR_LINE_DOTTED: return 2;
    case HR_LINE_DASHDOT: return 5;
    default: return 1;
  }
}

/* Markers are Unicode glyphs, drawn by the cairo drivers' own fonts. */
static const char *marker_glyph(hr_marker_t m) {
  switch (m) {
    case HR_MARK_CIRCLE: return "\xe2\x97\x8f";       /* U+25CF */
    case HR_MARK_SQUARE: return "\xe2\x96\xa0";       /* U+25A0 */
    case HR_MARK_TRIANGLE: return "\xe2\x96\xb2";     /* U+25B2 */
    case HR_MARK_DIAMOND: return "\xe2\x97\x86";      /* U+25C6 */
    case HR_MARK_CROSS: return "\xe2\x9c\x95";        /* U+2715 */
    case HR_MARK_OPEN_CIRCLE: return "\xe2\x97\x8b";  /* U+25CB */
    case HR_MARK_BAR: return "\xe2\x94\x82";          /* U+2502 */
    default: return "";
  }
}

static double line_width(const draw_t *d, const hr_style_t *s) {
  return (s->width > 0 ? s->width : 2.0) * d->scale;
}

static double marker_scale(const hr_style_t *s) {
  return s->marker_size > 0 ? s->marker_size : 1.0;
}

static void use_line(const draw_t *d, int i) {
  const hr_style_t *s = &d->p->layer[i].style;
  plcol0(line_col(i));
  plwidth(line_width(d, s));
  pllsty(plplot_line_style(s->line));
}

static double tx(const draw_t *d, double v) { return axis_value(v, d->p->cfg.log_x); }
static double ty(const draw_t *d, double v) { return axis_value(v, d->p->cfg.log_y); }

static void draw_histogram(const draw_t *d, int i) {
  const layer_t *l = &d->p->layer[i];
  for (int64_t b = 0; b < l->n; b++) {
    double x0 = tx(d, l->x[b]), x1 = tx(d, l->x[b + 1]), top = ty(d, l->y[b]);
    if (!isfinite(x0) || !isfinite(x1) || !isfinite(top) || l->y[b] <= 0) continue;
    double base = d->p->cfg.log_y ? d->f.y0 : 0.0;
    PLFLT bx[5] = {x0, x1, x1, x0, x0}, by[5] = {base, base, top, top, base};
    plcol0(fill_col(i));
    plfill(4, bx, by);
    plcol0(line_col(i));
    plwidth(1.0 * d->scale);
    pllsty(1);
    plline(5, bx, by);
  }
}

/* The band's finite stretches, each a polygon: upper edge forward, lower
 * edge back. */
static void draw_band(const draw_t *d, int i) {
  const layer_t *l = &d->p->layer[i];
  plcol0(fill_col(i));
  int64_t k = 0;
  while (k < l->n) {
    int64_t m = 0;
    for (; k < l->n; k++) {
      double x = tx(d, l->x[k]), lo = ty(d, l->y[k]), hi = ty(d, l->y2[k]);
      if (!isfinite(x) || !isfinite(lo) || !isfinite(hi)) break;
      d->s.x[m] = x;
      d->s.y[m] = hi;
      d->s.x[2 * l->n - 1 - m] = x;
      d->s.y[2 * l->n - 1 - m] = lo;
      m++;
    }
    k++;
    if (m < 2) continue;
    /* close the gap between the forward and backward halves */
    memmove(d->s.x + m, d->s.x + 2 * l->n - m, (size_t)m * sizeof *d->s.x);
    memmove(d->s.y + m, d->s.y + 2 * l->n - m, (size_t)m * sizeof *d->s.y);
    plfill((PLINT)(2 * m), d->s.x, d->s.y);
  }
}

/* A polyline broken wherever a point is undefined. */
static void draw_lines(const draw_t *d, int i) {
  const layer_t *l = &d->p->layer[i];
  if (l->style.line == HR_LINE_NONE) return;
  use_line(d, i);
  int64_t m = 0;
  for (int64_t k = 0; k <= l->n; k++) {
    double x = k < l->n ? tx(d, l->x[k]) : NAN, y = k < l->n ? ty(d, l->y[k]) : NAN;
    if (isfinite(x) && isfinite(y)) {
      d->s.x[m] = x;
      d->s.y[m++] = y;
      continue;
    }
    if (m >= 2) plline((PLINT)m, d->s.x, d->s.y);
    m = 0;
  }
  pllsty(1);
}

static int inside(const frame_t *f, double x, double y) {
  return x >= fmin(f->x0, f->x1) && x <= fmax(f->x0, f->x1) &&
         y >= fmin(f->y0, f->y1) && y <= fmax(f->y0, f->y1);
}

/* Markers at (x, y) within the frame (text is not clipped to it). */
static void draw_markers(const draw_t *d, int i, const double *x,
                         const double *y, int64_t n) {
  const hr_style_t *s = &d->p->layer[i].style;
  if (s->marker == HR_MARK_NONE) return;
  int64_t m = 0;
  for (int64_t k = 0; k < n; k++) {
    double px = tx(d, x[k]), py = ty(d, y[k]);
    if (!isfinite(px) || !isfinite(py) || !inside(&d->f, px, py)) continue;
    d->s.x[m] = px;
    d->s.y[m++] = py;
  }
  plcol0(line_col(i));
  plschr(0, 0.8 * d->text * marker_scale(s));
  if (m > 0) plstring((PLINT)m, d->s.x, d->s.y, marker_glyph(s->marker));
  plschr(0, d->text);
}

/* Rug markers sit 3% above the bottom; values beyond the x range just
 * inside its edges, so that none is lost. */
static void draw_rug(const draw_t *d, int i) {
  const layer_t *l = &d->p->layer[i];
  double inset = 0.012 * fabs(d->f.x1 - d->f.x0);  /* a marker's half width */
  double lo = fmin(d->f.x0, d->f.x1) + inset, hi = fmax(d->f.x0, d->f.x1) - inset;
  double y = d->f.y0 + 0.03 * (d->f.y1 - d->f.y0);
  int64_t m = 0;
  for (int64_t k = 0; k < l->n; k++) {
    double x = tx(d, l->x[k]);
    if (isnan(x)) continue;
    d->s.x[m] = fmin(fmax(x, lo), hi);
    d->s.y[m++] = y;
  }
  const hr_style_t *s = &l->style;
  plcol0(line_col(i));
  plschr(0, 0.8 * d->text * marker_scale(s));
  if (m > 0) plstring((PLINT)m, d->s.x, d->s.y, marker_glyph(s->marker));
  plschr(0, d->text);
}

static void draw_vline(const draw_t *d, int i) {
  double x = tx(d, d->p->layer[i].at);
  if (!isfinite(x) || x < fmin(d->f.x0, d->f.x1) || x > fmax(d->f.x0, d->f.x1))
    return;
  use_line(d, i);
  pljoin(x, d->f.y0, x, d->f.y1);
  pllsty(1);
}

/* Text width is estimated, not measured (PLplot does not say): DejaVu
 * Sans averages about 0.66 text heights per character. */
enum { CHAR_WIDTH_PERCENT = 66 };

/* Characters that take room: UTF-8 sequences count once, and PLplot's
 * escapes (#u, #d; #gx, a Greek letter; ## a '#') as what they show. */
static double text_chars(const char *t) {
  double n = 0;
  for (; *t; t++) {
    if (*t == '#' && t[1]) {
      t++;
      if (*t == 'g' && t[1]) t++, n++;
      else if (*t == '#') n++;
      continue;
    }
    n += ((unsigned char)*t & 0xC0) != 0x80;
  }
  return n;
}

/* The current text height and the viewport's size, in mm. */
static void text_metrics(double *ht, double *vw, double *vh) {
  PLFLT def, h, sx0, sx1, sy0, sy1, vx0, vx1, vy0, vy1;
  plgchr(&def, &h);
  plgspa(&sx0, &sx1, &sy0, &sy1);
  plgvpd(&vx0, &vx1, &vy0, &vy1);
  *ht = h;
  *vw = (vx1 - vx0) * (sx1 - sx0);
  *vh = (vy1 - vy0) * (sy1 - sy0);
}

/* A note on a veil of translucent white, readable over bars and lines. */
static void draw_note(const draw_t *d, int i) {
  const layer_t *l = &d->p->layer[i];
  if (!l->text) return;
  double ht, vw, vh;
  text_metrics(&ht, &vw, &vh);
  double fw = text_chars(l->text) * CHAR_WIDTH_PERCENT / 100.0 * ht / vw;
  double fh = 0.8 * ht / vh, pad = 0.4 * ht / vw;
  double fx0 = l->at - l->just * fw - pad, fx1 = fx0 + fw + 2 * pad;
  double sx = d->f.x1 - d->f.x0, sy = d->f.y1 - d->f.y0;
  PLFLT bx[4] = {d->f.x0 + fx0 * sx, d->f.x0 + fx1 * sx, d->f.x0 + fx1 * sx,
                 d->f.x0 + fx0 * sx};
  double at_y = d->s.note_y[i];
  PLFLT by[4] = {d->f.y0 + (at_y - fh) * sy, d->f.y0 + (at_y - fh) * sy,
                 d->f.y0 + (at_y + fh) * sy, d->f.y0 + (at_y + fh) * sy};
  plcol0(COL_VEIL);
  plfill(4, bx, by);
  plcol0(COL_FG);
  plptex(d->f.x0 + l->at * sx, d->f.y0 + at_y * sy, 1.0, 0.0, l->just, l->text);
}

/* Layers of one kind, in the order they were added. */
static void draw_kind(const draw_t *d, layer_kind_t kind) {
  for (int i = 0; i < d->p->n_layers; i++) {
    const layer_t *l = &d->p->layer[i];
    if (l->kind != kind) continue;
    switch (kind) {
      case LAYER_HISTOGRAM: draw_histogram(d, i); break;
      case LAYER_BAND: draw_band(d, i); break;
      case LAYER_SERIES:
        draw_lines(d, i);
        draw_markers(d, i, l->x, l->y, l->n);
        break;
      case LAYER_VLINE: draw_vline(d, i); break;
      case LAYER_RUG: draw_rug(d, i); break;
      case LAYER_NOTE: draw_note(d, i); break;
      case LAYER_TEXT: break;
    }
  }
}

/* ---- the page: colours, frame, labels, legend ------------------------------- */

static void set_colours(const hr_plot_t *p) {
  plscmap0n(COL_LAYERS + 2 * p->n_layers);
  plscolbg(255, 255, 255);
  plscol0(COL_FG, 0, 0, 0);
  plscol0(COL_GRID, 225, 225, 225);
  plscol0a(COL_VEIL, 255, 255, 255, 0.8);
  for (int i = 0; i < p->n_layers; i++) {
    hr_rgb_t c = p->layer[i].style.colour;
    double alpha = (p->layer[i].kind == LAYER_BAND ? BAND_ALPHA_PERCENT
                                                   : FILL_ALPHA_PERCENT) / 100.0;
    plscol0a(line_col(i), c.r, c.g, c.b, 1.0);
    plscol0a(fill_col(i), c.r, c.g, c.b, alpha);
  }
}

/* The frame leaves room, in text heights, for the tick labels and axis
 * labels (left, bottom) and the title lines (top). */
static void set_viewport(const draw_t *d) {
  PLFLT def, ht, x0, x1, y0, y1;
  plgchr(&def, &ht);
  plgspa(&x0, &x1, &y0, &y1);
  double w = x1 - x0, h = y1 - y0;
  double top = d->p->cfg.subtitle ? 5.6 : 3.8;
  plvpor(8.0 * ht / w, 1.0 - 2.5 * ht / w, 4.6 * ht / h, 1.0 - top * ht / h);
  plwind(d->f.x0, d->f.x1, d->f.y0, d->f.y1);
}

/* PLplot labels every decade of a log axis, which over 100 decades is
 * unreadable; a wide log axis is drawn as a linear axis of exponents
 * labelled 10^k by log_label instead. */
enum { MAX_LABELLED_DECADES = 12 };

static void log_label(PLINT axis, PLFLT value, char *label, PLINT length,
                      PLPointer data) {
  (void)axis;
  (void)data;
  if (fabs(value - round(value)) < 1e-9)
    snprintf(label, (size_t)length, "10#u%d#d", (int)round(value));
  else
    snprintf(label, (size_t)length, "10#u%.3g#d", value);
}

static void axis_options(char *buf, size_t len, const char *base, int log_axis,
                         double span) {
  const char *log = fabs(span) > MAX_LABELLED_DECADES ? "o" : "l";
  snprintf(buf, len, "%s%s", base, log_axis ? log : "");
}

static void draw_grid(const draw_t *d) {
  char xo[16], yo[16];
  axis_options(xo, sizeof xo, "g", d->p->cfg.log_x, d->f.x1 - d->f.x0);
  axis_options(yo, sizeof yo, "g", d->p->cfg.log_y, d->f.y1 - d->f.y0);
  plcol0(COL_GRID);
  plwidth(1.0 * d->scale);
  plbox(xo, 0.0, 0, yo, 0.0, 0);
}

static void draw_axes(const draw_t *d) {
  char xo[16], yo[16];
  axis_options(xo, sizeof xo, "bcnst", d->p->cfg.log_x, d->f.x1 - d->f.x0);
  axis_options(yo, sizeof yo, "bcnstv", d->p->cfg.log_y, d->f.y1 - d->f.y0);
  plcol0(COL_FG);
  plwidth(1.2 * d->scale);
  plbox(xo, 0.0, 0, yo, 0.0, 0);
}

/* A line centred above the frame, `disp` body text heights above it, at
 * `rel` times the body text size; a line wider than the frame is centred
 * on the page instead, and one wider than the page is shrunk to fit. */
static void top_line(const draw_t *d, double rel, double disp, const char *text) {
  double ht, vw, vh;
  PLFLT sx0, sx1, sy0, sy1, vx0, vx1, vy0, vy1;
  plgspa(&sx0, &sx1, &sy0, &sy1);
  plgvpd(&vx0, &vx1, &vy0, &vy1);
  plschr(0, d->text);
  text_metrics(&ht, &vw, &vh);
  double width = text_chars(text) * CHAR_WIDTH_PERCENT / 100.0 * ht * rel;
  double room = 0.97 * (sx1 - sx0), size = rel * fmin(1.0, room / width);
  double pos = width * size / rel > vw ? (0.5 - vx0) / (vx1 - vx0) : 0.5;
  plschr(0, size * d->text);
  plmtex("t", disp / size, pos, 0.5, text);
  plschr(0, d->text);
}

static void draw_labels(const draw_t *d) {
  const hr_plot_config_t *c = &d->p->cfg;
  plcol0(COL_FG);
  if (c->xlabel) plmtex("b", 3.1, 0.5, 0.5, c->xlabel);
  if (c->ylabel) plmtex("l", 5.6, 0.5, 0.5, c->ylabel);
  if (c->subtitle) top_line(d, 0.9, 1.2, c->subtitle);
  if (c->title) top_line(d, 1.2, c->subtitle ? 3.3 : 1.3, c->title);
}

static void legend_entry(const draw_t *d, int i, PLINT *opt, PLINT *box_col,
                         PLINT *sym_num, PLFLT *sym_scale, const char **sym) {
  const layer_t *l = &d->p->layer[i];
  *box_col = fill_col(i);
  /* pllegend puts a lone symbol at the left end of the sample; on a line,
   * three symbols (ends and middle) read as "line with markers" */
  *sym_num = l->kind == LAYER_SERIES && l->style.line != HR_LINE_NONE ? 3 : 1;
  *sym_scale = 0.8 * d->text * marker_scale(&l->style);
  *sym = marker_glyph(l->style.marker);
  if (l->kind == LAYER_TEXT)
    *opt = PL_LEGEND_NONE;
  else if (l->kind == LAYER_HISTOGRAM || l->kind == LAYER_BAND)
    *opt = PL_LEGEND_COLOR_BOX;
  else if (l->kind == LAYER_RUG)
    *opt = PL_LEGEND_SYMBOL;
  else
    *opt = (l->style.line != HR_LINE_NONE ? PL_LEGEND_LINE : 0) |
           (l->style.marker != HR_MARK_NONE ? PL_LEGEND_SYMBOL : 0);
  if (*opt == 0) *opt = PL_LEGEND_NONE;
}

/* ---- where the legend goes ------------------------------------------------ */

/* A box in frame fractions (0..1 on both axes). */
typedef struct {
  double x0, x1, y0, y1;
} box_t;

static int in_box(const box_t *b, double fx, double fy) {
  return fx >= b->x0 && fx <= b->x1 && fy >= b->y0 && fy <= b->y1;
}

static double frac_x(const draw_t *d, double v) {
  return (tx(d, v) - d->f.x0) / (d->f.x1 - d->f.x0);
}

static double frac_y(const draw_t *d, double v) {
  return (ty(d, v) - d->f.y0) / (d->f.y1 - d->f.y0);
}

/* Points of a curve inside the box, each segment sampled 8 times so that
 * a sparse curve crossing the box still counts. */
static double curve_cover(const draw_t *d, const double *x, const double *y,
                          int64_t n, const box_t *b) {
  double hits = 0;
  for (int64_t k = 0; k < n; k++) {
    double fx = frac_x(d, x[k]), fy = frac_y(d, y[k]);
    if (!isfinite(fx) || !isfinite(fy)) continue;
    hits += in_box(b, fx, fy);
    if (k + 1 == n) break;
    double gx = frac_x(d, x[k + 1]), gy = frac_y(d, y[k + 1]);
    for (int j = 1; j < 8 && isfinite(gx) && isfinite(gy); j++)
      hits += in_box(b, fx + (gx - fx) * j / 8.0, fy + (gy - fy) * j / 8.0);
  }
  return hits;
}

/* Bars reaching into the box weigh as much as a stretch of curve. */
static double histogram_cover(const draw_t *d, const layer_t *l, const box_t *b) {
  double hits = 0;
  for (int64_t k = 0; k < l->n; k++) {
    double fx = 0.5 * (frac_x(d, l->x[k]) + frac_x(d, l->x[k + 1]));
    double top = l->y[k] > 0 ? frac_y(d, l->y[k]) : NAN;
    if (isfinite(fx) && isfinite(top) && fx >= b->x0 && fx <= b->x1 && top >= b->y0)
      hits += 8;
  }
  return hits;
}

static double layer_cover(const draw_t *d, const layer_t *l, const box_t *b) {
  switch (l->kind) {
    case LAYER_HISTOGRAM: return histogram_cover(d, l, b);
    case LAYER_SERIES: return curve_cover(d, l->x, l->y, l->n, b);
    case LAYER_BAND:
      return curve_cover(d, l->x, l->y, l->n, b) + curve_cover(d, l->x, l->y2, l->n, b);
    case LAYER_VLINE: {
      double fx = frac_x(d, l->at);
      return isfinite(fx) && fx >= b->x0 && fx <= b->x1 ? 50 : 0;
    }
    case LAYER_RUG: return b->y0 < 0.06 ? (double)l->n : 0;
    case LAYER_NOTE: return in_box(b, l->at, l->at_y) ? 50 : 0;
    default: return 0;
  }
}

/* The legend's size in frame fractions, estimated from its longest label
 * (UTF-8 characters at about 0.55 text heights each) and its rows. */
static void legend_size(const draw_t *d, double *w, double *h) {
  double ht, vw, vh, longest = 0;
  text_metrics(&ht, &vw, &vh);
  int rows = 0;
  for (int i = 0; i < d->p->n_layers; i++) {
    const char *t = d->p->layer[i].text;
    if (!t || d->p->layer[i].kind == LAYER_NOTE) continue;
    longest = fmax(longest, text_chars(t));
    rows++;
  }
  double text = CHAR_WIDTH_PERCENT / 100.0 * 0.95 * longest;
  *w = 0.015 + 0.07 + (1.8 + text) * ht / vw;
  *h = 0.02 + 2.1 * rows * 0.95 * ht / vh;
}

static box_t corner_box(hr_legend_pos_t c, double w, double h) {
  int right = c != HR_LEGEND_TOP_LEFT && c != HR_LEGEND_BOTTOM_LEFT;
  int top = c != HR_LEGEND_BOTTOM_RIGHT && c != HR_LEGEND_BOTTOM_LEFT;
  box_t b = {right ? 1.0 - w : 0.0, right ? 1.0 : w, top ? 1.0 - h : 0.0,
             top ? 1.0 : h};
  return b;
}

static hr_legend_pos_t legend_corner(const draw_t *d, double w, double h,
                                     double *cover) {
  hr_legend_pos_t best = d->p->cfg.legend;
  *cover = INFINITY;
  for (int c = HR_LEGEND_TOP_RIGHT; c <= HR_LEGEND_BOTTOM_LEFT; c++) {
    if (d->p->cfg.legend != HR_LEGEND_AUTO && c != (int)d->p->cfg.legend) continue;
    box_t b = corner_box((hr_legend_pos_t)c, w, h);
    double sum = 0;
    for (int i = 0; i < d->p->n_layers; i++) sum += layer_cover(d, &d->p->layer[i], &b);
    if (sum < *cover) *cover = sum, best = (hr_legend_pos_t)c;
  }
  return best;
}

/* The highest data (frame fraction) between fx0 and fx1. */
static double data_top(const draw_t *d, double fx0, double fx1) {
  double top = -INFINITY;
  for (int i = 0; i < d->p->n_layers; i++) {
    const layer_t *l = &d->p->layer[i];
    int bars = l->kind == LAYER_HISTOGRAM;
    if (!bars && l->kind != LAYER_SERIES && l->kind != LAYER_BAND) continue;
    for (int64_t k = 0; k < l->n; k++) {
      double a = frac_x(d, l->x[k]), b = bars ? frac_x(d, l->x[k + 1]) : a;
      double y = frac_y(d, l->y2 ? l->y2[k] : l->y[k]);
      if (bars && !(l->y[k] > 0)) continue;
      if (isfinite(y) && fmax(a, b) >= fx0 && fmin(a, b) <= fx1) top = fmax(top, y);
    }
  }
  return top;
}

/* Choose the legend's corner; where it would still hide data and the top
 * of the y axis is automatic, raise the top until the data clear the
 * legend (but keep at least 45% of the frame for the data). */
static void place_legend(draw_t *d) {
  double w, h, cover;
  legend_size(d, &w, &h);
  d->corner = legend_corner(d, w, h, &cover);
  int top = d->corner == HR_LEGEND_TOP_RIGHT || d->corner == HR_LEGEND_TOP_LEFT;
  if (cover == 0 || !top || isfinite(d->p->cfg.ymax)) return;
  box_t b = corner_box(d->corner, w, h);
  double high = data_top(d, b.x0, b.x1), room = 1.0 - h - 0.03;
  if (!(high > room) || room < 0.45) return;
  d->f.y1 = d->f.y0 + fmin(high / room, 2.0) * (d->f.y1 - d->f.y0);
  plwind(d->f.x0, d->f.x1, d->f.y0, d->f.y1);
}

/* ---- where the notes go ---------------------------------------------------- */

/* A note's box in frame fractions when drawn at height y (as draw_note
 * veils it). */
static box_t note_box(const layer_t *l, double y) {
  double ht, vw, vh;
  text_metrics(&ht, &vw, &vh);
  double fw = text_chars(l->text) * CHAR_WIDTH_PERCENT / 100.0 * ht / vw;
  double fh = 0.8 * ht / vh, pad = 0.4 * ht / vw, x0 = l->at - l->just * fw - pad;
  box_t b = {x0, x0 + fw + 2 * pad, y - fh, y + fh};
  return b;
}

static int boxes_meet(const box_t *a, const box_t *b) {
  return a->x0 < b->x1 && b->x0 < a->x1 && a->y0 < b->y1 && b->y0 < a->y1;
}

/* A free height for note i near where it was asked for: the asked one,
 * else one box height further down, up, down, ... (within the frame),
 * clear of the legend and of the notes placed before it. */
static int note_free(const draw_t *d, int i, const box_t *legend, double y) {
  box_t b = note_box(&d->p->layer[i], y);
  if (b.y0 < 0.0 || b.y1 > 1.0) return 0;
  if (legend && boxes_meet(&b, legend)) return 0;
  for (int j = 0; j < i; j++) {
    const layer_t *o = &d->p->layer[j];
    if (o->kind != LAYER_NOTE || !o->text) continue;
    box_t ob = note_box(o, d->s.note_y[j]);
    if (boxes_meet(&b, &ob)) return 0;
  }
  return 1;
}

/* Labels never overlap: each note moves, in the order added, to the
 * nearest free height; one that finds none stays put and is counted. */
static void place_notes(draw_t *d) {
  double w, h;
  legend_size(d, &w, &h);
  int rows = 0;
  for (int i = 0; i < d->p->n_layers; i++)
    rows += d->p->layer[i].text && d->p->layer[i].kind != LAYER_NOTE;
  box_t legend = corner_box(d->corner, w, h);
  d->overlaps = 0;
  for (int i = 0; i < d->p->n_layers; i++) {
    const layer_t *l = &d->p->layer[i];
    d->s.note_y[i] = l->at_y;
    if (l->kind != LAYER_NOTE || !l->text) continue;
    box_t b = note_box(l, l->at_y);
    double step = 1.1 * (b.y1 - b.y0);
    int placed = 0;
    for (int k = 0; k <= 40 && !placed; k++) {
      double y = l->at_y + (k % 2 ? -1.0 : 1.0) * step * (double)((k + 1) / 2);
      if (note_free(d, i, rows ? &legend : NULL, y)) d->s.note_y[i] = y, placed = 1;
    }
    d->overlaps += !placed;
  }
}

static PLINT legend_position(hr_legend_pos_t pos) {
  PLINT base = PL_POSITION_INSIDE | PL_POSITION_VIEWPORT;
  switch (pos) {
    case HR_LEGEND_TOP_LEFT: return base | PL_POSITION_TOP | PL_POSITION_LEFT;
    case HR_LEGEND_BOTTOM_RIGHT: return base | PL_POSITION_BOTTOM | PL_POSITION_RIGHT;
    case HR_LEGEND_BOTTOM_LEFT: return base | PL_POSITION_BOTTOM | PL_POSITION_LEFT;
    default: return base | PL_POSITION_TOP | PL_POSITION_RIGHT;
  }
}

/* The legend arrays live in the scratch space: PLINTs and PLFLTs of up
 * to n_layers entries each (see scratch_alloc). */
typedef struct {
  PLINT *opt, *text_col, *box_col, *box_pat, *line_col, *line_sty, *sym_col,
      *sym_num;
  PLFLT *box_scale, *box_width, *line_width, *sym_scale;
  const char **text, **sym;
} legend_t;

static int legend_fill(const draw_t *d, legend_t *g) {
  int m = 0;
  for (int i = 0; i < d->p->n_layers; i++) {
    const layer_t *l = &d->p->layer[i];
    if (!l->text || l->kind == LAYER_NOTE) continue;
    legend_entry(d, i, &g->opt[m], &g->box_col[m], &g->sym_num[m],
                 &g->sym_scale[m], &g->sym[m]);
    g->text[m] = l->text;
    g->text_col[m] = COL_FG;
    g->box_pat[m] = 0;
    g->box_scale[m] = 0.9;
    g->box_width[m] = 1.0;
    g->line_col[m] = g->sym_col[m] = line_col(i);
    g->line_sty[m] = plplot_line_style(l->style.line);
    g->line_width[m] = line_width(d, &l->style);
    m++;
  }
  return m;
}

static void draw_legend(const draw_t *d, legend_t *g) {
  int m = legend_fill(d, g);
  if (m == 0) return;
  PLFLT width, height;
  plwidth(1.0 * d->scale);
  pllegend(&width, &height, PL_LEGEND_BACKGROUND | PL_LEGEND_BOUNDING_BOX,
           legend_position(d->corner), 0.015, 0.02, 0.07, COL_BG,
           COL_FG, 1, m, 1, m, g->opt, 1.0, 0.95 * d->text, 2.1, 0.0,
           g->text_col,
           g->text, g->box_col, g->box_pat, g->box_scale, g->box_width,
           g->line_col, g->line_sty, g->line_width, g->sym_col, g->sym_scale,
           g->sym_num, g->sym);
}

static void draw_page(draw_t *d, legend_t *g) {
  pladv(0);
  d->text = text_factor(d->scale);
  plschr(0, d->text);
  plslabelfunc(log_label, NULL);
  /* labels such as 0.0125 rather than a separate "(x10^-2)", which
   * PLplot puts where the title or the x label may be */
  plsxax(6, 0);
  plsyax(6, 0);
  set_viewport(d);
  place_legend(d);
  place_notes(d);
  draw_grid(d);
  draw_kind(d, LAYER_HISTOGRAM);
  draw_kind(d, LAYER_BAND);
  draw_kind(d, LAYER_SERIES);
  draw_kind(d, LAYER_VLINE);
  draw_kind(d, LAYER_RUG);
  draw_axes(d);
  draw_kind(d, LAYER_NOTE);
  draw_labels(d);
  draw_legend(d, g);
}

/* ---- saving ------------------------------------------------------------------- */

/* One allocation for the scratch points (a band needs 2n) and the legend. */
static void *scratch_alloc(const hr_plot_t *p, scratch_t *s, legend_t *g) {
  int64_t most = 2;
  for (int i = 0; i < p->n_layers; i++)
    if (2 * p->layer[i].n + 2 > most) most = 2 * p->layer[i].n + 2;
  size_t L = (size_t)p->n_layers + 1;
  size_t bytes = 2 * (size_t)most * sizeof(double) + 4 * L * sizeof(PLFLT) +
                 8 * L * sizeof(PLINT) + 2 * L * sizeof(char *);
  char *mem = calloc(1, bytes);
  if (!mem) return NULL;
  s->x = (double *)mem;
  s->y = s->x + most;
  PLFLT *f = (PLFLT *)(s->y + most);
  g->box_scale = f, g->box_width = f + L, g->line_width = f + 2 * L,
  g->sym_scale = f + 3 * L;
  const char **t = (const char **)(f + 4 * L);
  g->text = t, g->sym = t + L;
  PLINT *n = (PLINT *)(t + 2 * L);
  g->opt = n, g->text_col = n + L, g->box_col = n + 2 * L, g->box_pat = n + 3 * L;
  g->line_col = n + 4 * L, g->line_sty = n + 5 * L, g->sym_col = n + 6 * L;
  g->sym_num = n + 7 * L;
  return mem;
}

/* PLplot asks on stdin for a device it lacks, so look first. */
static int device_available(const char *dev) {
  enum { MAX_DEVICES = 128 };
  const char *menus[MAX_DEVICES], *names[MAX_DEVICES];
  const char **pm = menus, **pn = names;
  int n = MAX_DEVICES;
  plgDevs(&pm, &pn, &n);
  for (int i = 0; i < n; i++)
    if (strcmp(names[i], dev) == 0) return 1;
  return 0;
}

/* PLplot exits the process when it cannot open its output file, so the
 * file is created (and emptied) here first, where failure is an error. */
static int check_writable(const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) HR_FAIL(HR_ERR_IO, "cannot write figure '%s': %s", path, strerror(errno));
  fclose(f);
  return HR_OK;
}

/* One PLplot session on a fresh stream, ended before returning: PLplot's
 * state is global, and an ended stream leaves nothing behind for the next
 * figure. */
static int draw_session(draw_t *d, legend_t *g, const char *dev,
                        const char *partial) {
  PLINT old, strm, code = 0;
  char message[1024] = "";
  plgstrm(&old);
  plmkstrm(&strm);
  plsError(&code, message);
  plsdev(dev);
  plsfnam(partial);
  plspage(0.0, 0.0, d->p->cfg.width, d->p->cfg.height, 0, 0);
  set_colours(d->p);
  plinit();
  frame_t keep = d->f;  /* each device starts from the same frame */
  draw_page(d, g);
  d->f = keep;
  plend1();
  plsstrm(old);
  if (code != 0)
    HR_FAIL(HR_ERR_IO, "PLplot could not draw '%s': %s", partial, message);
  return HR_OK;
}

static int render(draw_t *d, legend_t *g, const char *dev,
                  const char *base, const char *ext) {
  char path[4200], partial[4300];
  if ((size_t)snprintf(path, sizeof path, "%s.%s", base, ext) >= sizeof path)
    HR_FAIL(HR_ERR_USAGE, "figure path '%s' is too long", base);
  snprintf(partial, sizeof partial, "%s.partial", path);
  if (!device_available(dev))
    HR_FAIL(HR_ERR_USAGE, "PLplot has no '%s' device: install "
            "plplot-driver-cairo", dev);
  HR_CHECK(check_writable(partial));
  int rc = draw_session(d, g, dev, partial);
  struct stat sb;
  if (rc == HR_OK && (stat(partial, &sb) != 0 || sb.st_size == 0))
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "PLplot wrote nothing to '%s'%s", partial,
                      hr_output_full_note(partial));
  if (rc == HR_OK && rename(partial, path) != 0)
    rc = hr_error_set(HR_ERR_IO, __FILE__, __LINE__, __func__,
                      "cannot rename '%s' to '%s': %s", partial, path,
                      strerror(errno));
  if (rc != HR_OK) remove(partial);
  return rc;
}

int hr_plot_save_checked(const hr_plot_t *plot, const char *base, int *overlaps) {
  draw_t d = {plot, plot_frame(plot), page_scale(&plot->cfg), 1.0,
              {NULL, NULL, NULL}, HR_LEGEND_TOP_RIGHT, 0};
  legend_t g;
  void *mem = scratch_alloc(plot, &d.s, &g);
  d.s.note_y = malloc(((size_t)plot->n_layers + 1) * sizeof *d.s.note_y);
  if (!mem || !d.s.note_y) {
    free(mem);
    free(d.s.note_y);
    HR_FAIL(HR_ERR_MEMORY, "out of memory drawing figure '%s'", base);
  }
  int rc = render(&d, &g, "pngcairo", base, "png");
  if (rc == HR_OK) rc = render(&d, &g, "svgcairo", base, "svg");
  free(mem);
  free(d.s.note_y);
  HR_CHECK(rc);
  if (overlaps) *overlaps = d.overlaps;
  return HR_OK;
}

int hr_plot_save(const hr_plot_t *plot, const char *base) {
  return hr_plot_save_checked(plot, base, NULL);
}

#endif
