/* Figures on PLplot: small primitives for the figures of `stats` and,
 * later, of training (a loss curve with its 95% band on a log axis,
 * histograms of several spectra).
 *
 * A figure is described first (its axes, then layers: histograms,
 * curves, bands, rugs, vertical lines, notes) and drawn only when saved,
 * once per device, so that one description becomes both BASE.png
 * (pngcairo, exactly width x height pixels) and BASE.svg (svgcairo).
 * Each file is written as BASE.EXT.partial and renamed when complete: a
 * crash never leaves half a figure under the final name.  Every layer
 * with a label gets a legend entry, in the order the layers were added.
 *
 * Coordinates are in data units; on a logarithmic axis values <= 0 and
 * NaN are skipped (a curve breaks there), as are NaN values on a linear
 * axis.  An axis range left as NaN is taken from the data.  Text is UTF-8
 * and may use PLplot's escapes (#u superscript, #d subscript, #gl for a
 * Greek lambda): a literal '#' must be written "##" (hr_plot_escape).
 *
 * PLplot keeps global state, so saving is not thread-safe; figures are
 * saved one after another (each on a fresh PLplot stream that is ended
 * before the call returns), and any number may be made in one process.
 * Without PLplot (HR_HAVE_PLPLOT undefined) hr_plot_create and
 * hr_plot_save return HR_ERR_USAGE with HR_PLOT_MISSING as the message. */
#ifndef HESSRMT_PLOT_H
#define HESSRMT_PLOT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  unsigned char r, g, b;
} hr_rgb_t;

/* A colour-blind-safe palette (Okabe and Ito, 2008). */
#define HR_RGB_BLACK ((hr_rgb_t){0, 0, 0})
#define HR_RGB_GREY ((hr_rgb_t){120, 120, 120})
#define HR_RGB_ORANGE ((hr_rgb_t){230, 159, 0})
#define HR_RGB_SKY ((hr_rgb_t){86, 180, 233})
#define HR_RGB_GREEN ((hr_rgb_t){0, 158, 115})
#define HR_RGB_BLUE ((hr_rgb_t){0, 114, 178})
#define HR_RGB_VERMILLION ((hr_rgb_t){213, 94, 0})
#define HR_RGB_PURPLE ((hr_rgb_t){204, 121, 167})

typedef enum {
  HR_LINE_NONE, HR_LINE_SOLID, HR_LINE_DASHED, HR_LINE_DOTTED, HR_LINE_DASHDOT
} hr_line_t;

typedef enum {
  HR_MARK_NONE, HR_MARK_CIRCLE, HR_MARK_SQUARE, HR_MARK_TRIANGLE,
  HR_MARK_DIAMOND, HR_MARK_CROSS, HR_MARK_OPEN_CIRCLE, HR_MARK_BAR
} hr_marker_t;  /* BAR: a short vertical stroke, for dense rugs */

/* How a curve, a rug or a vertical line is drawn.  width 0 means 2
 * (pixels at the PNG's scale); marker_size 0 means 1 (relative to the
 * text height). */
typedef struct {
  hr_rgb_t colour;
  hr_line_t line;
  double width;
  hr_marker_t marker;
  double marker_size;
} hr_style_t;

/* A corner of the frame, inside it; AUTO takes the corner where the
 * legend covers the fewest data (top right first on a tie). */
typedef enum {
  HR_LEGEND_AUTO, HR_LEGEND_TOP_RIGHT, HR_LEGEND_TOP_LEFT,
  HR_LEGEND_BOTTOM_RIGHT, HR_LEGEND_BOTTOM_LEFT
} hr_legend_pos_t;

typedef struct {
  const char *title;     /* first line above the frame */
  const char *subtitle;  /* second, smaller line (may be NULL) */
  const char *xlabel, *ylabel;
  int width, height;     /* pixels of the PNG (points of the SVG) */
  int log_x, log_y;
  double xmin, xmax, ymin, ymax;  /* NaN: from the data */
  double headroom;       /* fraction of the y range added on top (room for
                            the legend); applies to automatic ymax only */
  hr_legend_pos_t legend;
} hr_plot_config_t;

/* The message of the HR_ERR_USAGE failure of a build without PLplot. */
#define HR_PLOT_MISSING                                                   \
  "this hessrmt was built without PLplot: figures are unavailable "      \
  "(install libplplot-dev plplot-driver-cairo and rebuild)"

/* 1 when this build draws figures (it has PLplot), else 0. */
int hr_plot_available(void);

/* 1000 x 700, linear axes, automatic ranges, headroom 0.05, legend
 * placed automatically; no title or labels. */
void hr_plot_config_default(hr_plot_config_t *cfg);

/* Copy text into out (len bytes, truncated, always terminated) with each
 * '#' doubled, so that names from outside show as written. */
void hr_plot_escape(const char *text, char *out, size_t len);

typedef struct hr_plot hr_plot_t;

/* A new, empty figure (the strings are copied). */
int hr_plot_create(const hr_plot_config_t *cfg, hr_plot_t **plot);
void hr_plot_free(hr_plot_t *plot);

/* Histogram of x[0..n) in `bins` equal bins on [lo, hi] (widened if
 * hi <= lo); values outside are not counted in any bar.  density: bar
 * heights are count / (n_finite * width), so the bars integrate to the
 * fraction of the finite values that fall in [lo, hi] and compare with a
 * probability density; else raw counts.  Drawn as translucent bars with
 * an outline, so several histograms can overlap. */
int hr_plot_histogram(hr_plot_t *plot, const double *x, int64_t n, double lo,
                      double hi, int bins, int density, hr_rgb_t colour,
                      const char *label);

/* The points (x[i], y[i]) joined by a line and/or marked, per style. */
int hr_plot_series(hr_plot_t *plot, const double *x, const double *y,
                   int64_t n, const hr_style_t *style, const char *label);

/* y = f(x) sampled at `points` points on [x0, x1] (logarithmically spaced
 * on a log x axis); f may return NaN where it is undefined. */
int hr_plot_function(hr_plot_t *plot, double (*f)(double x, void *ctx),
                     void *ctx, double x0, double x1, int points,
                     const hr_style_t *style, const char *label);

/* A translucent band between lo[i] and hi[i] over x[i] (a confidence
 * band); drawn beneath the curves whatever the order of adding. */
int hr_plot_band(hr_plot_t *plot, const double *x, const double *lo,
                 const double *hi, int64_t n, hr_rgb_t colour,
                 const char *label);

/* Markers just above the bottom of the frame at each x[i] (a rug),
 * whatever the y scale; values beyond the x range sit at its edge. */
int hr_plot_rug(hr_plot_t *plot, const double *x, int64_t n,
                const hr_style_t *style, const char *label);

/* A vertical line across the frame at x. */
int hr_plot_vline(hr_plot_t *plot, double x, const hr_style_t *style,
                  const char *label);

/* A line of text at (fx, fy), fractions of the frame (0, 0 bottom left);
 * just: 0 left, 0.5 centred, 1 right aligned. */
int hr_plot_note(hr_plot_t *plot, double fx, double fy, double just,
                 const char *text);

/* A line of text in the legend, without a sample (a count, a fit). */
int hr_plot_legend_text(hr_plot_t *plot, const char *text);

/* Draw the figure into base.png and base.svg (base has no extension).
 * Labels never overlap: a note that would cover the legend or an earlier
 * note moves to the nearest free height (in steps of its own height,
 * down first, then up); hr_plot_save_checked also says how many notes
 * found no free place and were drawn where asked (*overlaps). */
int hr_plot_save(const hr_plot_t *plot, const char *base);
int hr_plot_save_checked(const hr_plot_t *plot, const char *base, int *overlaps);

#endif
