/* The statistics as text and as JSON (see stats.h). */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hessrmt/error.h"
#include "hessrmt/output.h"
#include "hessrmt/stats.h"
#include "hessrmt/version.h"
#include "stats_levels.h"

static const char *unfold_names[] = {"auto", "pool", "poly", "kde", "spline", "all"};
static const char *law_labels[HR_LAW_COUNT] = {"Poisson", "GOE", "GUE", "GSE"};
static const char *spacing_labels[3] = {"Poisson", "GOE", "GUE"};

/* Sigma^2 and Delta_3 are printed at these L (indices into st->L). */
static const int printed_L[] = {1, 3, 9, 19};  /* L = 1, 2, 5, 10 */

/* ---- the summary ---------------------------------------------------------- */

static void print_p(FILE *out, double p) {
  if (p < 1e-300) fprintf(out, "%10s", "<1e-300");
  else fprintf(out, "%10.3g", p);
}

static void print_levels(const hr_stats_t *st, FILE *out) {
  fprintf(out, "hessrmt stats: %s (dataset %s)\n", st->path, st->dataset);
  fprintf(out, "  data        %s\n", st->title);
  fprintf(out, "              %lld spectra x %lld levels, %s precision%s\n",
          (long long)st->n_spectra, (long long)st->n_levels, st->precision,
          strcmp(st->precision, "float32 data") == 0
              ? " (no provenance: the auto cut assumes a double solve; give "
                "--cut for a float32 solve)" : "");
  fprintf(out, "  cut         |l| > %.3g (%s); kept %lld of %lld levels (%.1f%%)\n",
          st->cut, st->cut_auto ? "auto: 100 eps N max|l|, the largest of any spectrum"
                                : "--cut",
          (long long)st->n_kept, (long long)st->n_total,
          100.0 * (double)st->n_kept / (double)st->n_total);
  fprintf(out, "              exactly zero: %lld levels (structural zeros of Gram "
          "and low-rank spectra)", (long long)st->exact_zeros);
  if (!isnan(st->file_rank_mean))
    fprintf(out, "; numerical rank in the file: %.1f per spectrum", st->file_rank_mean);
  fprintf(out, "\n  degeneracy  fraction of levels with |l| <= cut-off:\n             ");
  for (int i = 0; i < HR_STATS_LADDER; i++)
    fprintf(out, "%s 1e%-4.0f %6.4f", i % 5 ? "" : (i ? "\n             " : ""),
            log10(st->ladder_cut[i]), st->ladder_fraction[i]);
  fprintf(out, "\n  density     kept levels in [%.6g, %.6g]; bulk [%.6g, %.6g] "
          "(Tukey fences, 3 IQR); %lld outliers\n",
          st->kept[0], st->kept[st->n_kept - 1], st->bulk_lo, st->bulk_hi,
          (long long)st->n_outliers);
}

/* "mean +/- err", or the mean alone where too few values gave no
 * standard error (fewer than two blocks). */
static const char *mean_err(char *buf, size_t len, double mean, double err) {
  if (isfinite(err)) snprintf(buf, len, "%.5f +/- %.5f", mean, err);
  else snprintf(buf, len, "%.5f (too few for a standard error)", mean);
  return buf;
}

static void print_ratios(const hr_stats_t *st, FILE *out) {
  char buf[64], sig[32];
  fprintf(out, "  ratios      %lld values of r~ = min(r, 1/r): mean %s (block standard "
          "error)\n", (long long)st->n_ratios,
          mean_err(buf, sizeof buf, st->mean_r_tilde, st->mean_r_tilde_err));
  if (st->n_ratios_degenerate)
    fprintf(out, "              %lld more touch a zero spacing (degenerate levels) "
            "and are left out\n", (long long)st->n_ratios_degenerate);
  fprintf(out, "              %-8s %10s %10s %12s %10s\n", "law", "mean r~",
          "(sigmas)", "KS distance", "p-value");
  for (int law = 0; law < HR_LAW_COUNT; law++) {
    double ref = hr_ratio_mean_reference((hr_law_t)law);
    double sigmas = (st->mean_r_tilde - ref) / st->mean_r_tilde_err;
    /* a zero standard error (a picket fence) or none: no sigmas */
    if (isfinite(sigmas)) snprintf(sig, sizeof sig, "%10.1f", sigmas);
    else snprintf(sig, sizeof sig, "%10s", "-");
    fprintf(out, "              %-8s %10.5f %s %12.5f ", law_labels[law], ref, sig,
            st->ks_ratio[law]);
    print_p(out, st->p_ratio[law]);
    fprintf(out, "\n");
  }
  for (int i = 0; i < HR_STATS_ORDERS; i++) {
    const hr_stats_order_t *o = &st->order[i];
    if (o->count == 0) {
      fprintf(out, "  order k=%d   none: too few levels for ratios of order %d\n",
              o->k, o->k);
      continue;
    }
    fprintf(out, "  order k=%d   mean r~ %s over %lld; expected", o->k,
            mean_err(buf, sizeof buf, o->mean, o->err), (long long)o->count);
    for (int law = 0; law < HR_LAW_COUNT; law++)
      fprintf(out, " %s %.4f", law_labels[law], o->expected[law]);
    fprintf(out, "; nearest %s\n", o->nearest < HR_LAW_COUNT ? law_labels[o->nearest] : "-");
  }
}

static void print_unfold_choice(const hr_stats_t *st, FILE *out) {
  char name[32];
  hr_stats_unfold_label(st, name, sizeof name);
  fprintf(out, "  unfolding   %s%s, on each spectrum's bulk: %lld of %lld kept levels "
          "(%lld beyond its 3 IQR fences left out)\n",
          st->unfold_auto ? "auto: " : "", st->unfold_auto && st->unfold == HR_UNFOLD_AUTO
              ? "no unfolding passed" : name,
          (long long)st->n_unfolded, (long long)st->n_kept,
          (long long)st->n_beyond_bulk);
  if (st->spacing_reliable)
    fprintf(out, "              monotone, and flat: density within 1 +/- %.3f in every "
            "tenth (allowed %.3f);\n              %lld spacings, mean %.4f before "
            "scaling to 1\n", st->flat_dev, st->flat_tol,
            (long long)st->n_spacings, st->mean_spacing);
  if (st->unfold_note[0])
    fprintf(out, "              %s %s\n", st->spacing_reliable ? "rejected first:" :
            st->unfold_auto ? "tried:" : "failed its checks:", st->unfold_note);
}

static void print_unfolded(const hr_stats_t *st, FILE *out) {
  print_unfold_choice(st, out);
  if (!st->spacing_reliable) {
    char why[96];
    hr_stats_unreliable_reason(st, why, sizeof why);
    fprintf(out, "  spacings    UNRELIABLE: %s on these levels,\n"
            "              so the spacing and long-range statistics are not given "
            "(stats --unfold\n              all shows each unfolding's numbers, for "
            "diagnosis); the ratios above\n              need no unfolding\n", why);
    return;
  }
  fprintf(out, "  spacings    KS distance (p-value):");
  for (int law = 0; law < 3; law++) {
    fprintf(out, " %s %.4f (", spacing_labels[law], st->ks_spacing[law]);
    fprintf(out, st->p_spacing[law] < 1e-300 ? "<1e-300)" : "%.3g)", st->p_spacing[law]);
  }
  fprintf(out, "\n              Brody q = %.4f (0 Poisson, 1 GOE)\n", st->brody_q);
  fprintf(out, "  long range  %6s %10s %10s %10s %10s %10s %10s\n", "L",
          "Sigma^2", "Poisson", "GOE", "Delta_3", "Poisson", "GOE");
  for (size_t i = 0; i < sizeof printed_L / sizeof printed_L[0]; i++) {
    int j = printed_L[i];
    double L = st->L[j];
    fprintf(out, "              %6.1f %10.4f %10.4f %10.4f %10.4f %10.4f %10.4f\n",
            L, st->sigma2[j], L, hr_number_variance_goe(L), st->delta3[j],
            L / 15.0, hr_spectral_rigidity_goe(L));
  }
}

/* ---- --paper-conventions ------------------------------------------------- */

static void print_paper_ratios(const hr_stats_paper_t *p, FILE *out) {
  fprintf(out, "  levels      |l| > %.0e (fixed, not --cut): %lld kept\n", HR_PAPER_CUT,
          (long long)p->n_kept);
  fprintf(out, "  raw ratios  r = s_(i+1)/s_i (not min(r, 1/r)), kept if r < %.0f: %lld "
          "of %lld\n              (%lld dropped, %lld of them with s_i = 0)\n",
          HR_PAPER_RATIO_MAX, (long long)p->n_ratios, (long long)p->n_ratios_all,
          (long long)p->n_dropped, (long long)p->n_zero_spacing);
  fprintf(out, "              mean r %.5f; fraction r < 1: %.5f (GOE surmise 1/2)\n",
          p->mean_r, p->frac_below_1);
  fprintf(out, "              KS distance, laws truncated to [0, %.0f) and renormalised:"
          "\n              GOE surmise of r %.5f (p ", HR_PAPER_RATIO_MAX, p->ks_goe);
  fprintf(out, p->p_goe < 1e-300 ? "<1e-300" : "%.3g", p->p_goe);
  fprintf(out, "), Poisson 1/(1+r)^2 %.5f\n", p->ks_poisson);
}

static void print_paper_spacings(const hr_stats_paper_t *p, FILE *out) {
  if (!p->unfolded) {
    fprintf(out, "  unfolding   not enough spectra: the pool unfolding needs at "
            "least 2; skipped\n");
    return;
  }
  fprintf(out, "  unfolding   spectra 0..%lld against the pool of the other %lld "
          "(%lld levels):\n              l -> #{pool < l} / %lld\n",
          (long long)p->n_targets - 1, (long long)p->n_pool_spectra,
          (long long)p->n_pool_levels, (long long)p->n_pool_spectra);
  fprintf(out, "  spacings    %lld, mean %.5f (not rescaled, as the notebook)\n",
          (long long)p->n_spacings, p->mean_spacing);
  fprintf(out, "              KS distance of spacing / mean:\n              Wigner "
          "surmise %.5f (p ", p->ks_wigner);
  fprintf(out, p->p_wigner < 1e-300 ? "<1e-300" : "%.3g", p->p_wigner);
  fprintf(out, "), Poisson e^-s %.5f\n", p->ks_exponential);
}

static void print_paper(const hr_stats_paper_t *p, FILE *out) {
  fprintf(out, "  paper conventions: as the notebooks of \"Applicability of random "
          "matrix theory in deep\n  learning\" computed them, beside (not "
          "instead of) the statistics above\n");
  print_paper_ratios(p, out);
  print_paper_spacings(p, out);
  fprintf(out, "  cut-offs    fraction of all levels with |l| < cut-off:\n             ");
  for (int i = 0; i < HR_PAPER_CUTOFFS; i++)
    fprintf(out, "%s 1e%-4.0f %6.4f", i % 5 ? "" : (i ? "\n             " : ""),
            log10(p->cutoff[i]), p->cutoff_fraction[i]);
  fprintf(out, "\n");
}

/* hessian --slq: the estimate against the exact spectrum. */
static void print_slq(const hr_stats_t *st, FILE *out) {
  const hr_stats_slq_t *q = &st->slq;
  if (!q->present) return;
  fprintf(out, "  SLQ         %lld steps x %lld probes, %lld spectra: Wasserstein-1 "
          "%.4g of the range (max %.4g),\n              KS of the cumulative %.4f "
          "(max %.4f) from the exact spectrum\n", (long long)q->steps,
          (long long)q->probes, (long long)q->spectra, q->w1_mean, q->w1_max,
          q->ks_mean, q->ks_max);
}

/* --eigenvectors: each end against the GOE's, then the vectors shown. */
static void print_evecs(const hr_stats_t *st, FILE *out) {
  const hr_stats_evecs_t *e = &st->evecs;
  if (!e->present) return;
  static const char *ends[HR_EVEC_ENDS] = {"smallest", "largest"};
  fprintf(out, "  eigenvectors %lld at each end of %lld spectra; residual |Av - lv| "
          "<= %.2g max|l|, |V^T V - I| <= %.2g\n", (long long)e->k,
          (long long)e->spectra, e->residual_max, e->orthogonality_max);
  for (int end = 0; end < HR_EVEC_ENDS; end++)
    fprintf(out, "    %-8s  IPR %.4g +/- %.2g = %.3f x GOE's 3/(N+2); N v_i^2 "
            "against Porter-Thomas: KS %.4f (1%% level %.4f, %lld components): %s\n",
            ends[end], e->end[end].ipr_mean, e->end[end].ipr_sem,
            e->end[end].ipr_ratio, e->end[end].pt_ks, e->end[end].pt_critical,
            (long long)e->end[end].components, e->end[end].verdict);
  fprintf(out, "    %8s %14s %10s %14s %14s\n", "index", "eigenvalue", "IPR",
          "(v.g)^2/|g|^2", "|P_class v|^2");
  for (int i = 0; i < e->shown; i++)
    fprintf(out, "    %8lld %14.6g %10.4g %14.4f %14.4f\n", (long long)e->index[i],
            e->eigenvalue[i], e->ipr[i], e->overlap_gradient[i],
            e->overlap_classes[i]);
}

/* v in a column of the given width, or "-" where it was not computed (a
 * long-range statistic of an unfolding that runs backwards). */
static const char *column(char *buf, size_t len, int width, double v) {
  if (isfinite(v)) snprintf(buf, len, "%*.4f", width, v);
  else snprintf(buf, len, "%*s", width, "-");
  return buf;
}

/* --unfold all: the unfoldings side by side. */
static void print_unfolding_row(const hr_stats_unfolding_t *u, FILE *out) {
  char checks[24], sigma2[32], delta3[32];
  snprintf(checks, sizeof checks, "%s", u->passed ? "pass" : !u->enough ? "too few"
           : !u->monotone ? "backward" : "not flat");
  fprintf(out, "              %-8s %-8s %6.3f %8.4f %6lld %10.4f %8.4f %8.4f %8.4f "
          "%s %s  %s%s\n", u->name, checks, u->flat_dev, u->mean_spacing,
          (long long)u->n_backward, u->ks_spacing[0], u->ks_spacing[1],
          u->ks_spacing[2], u->brody_q, column(sigma2, sizeof sigma2, 10, u->sigma2),
          column(delta3, sizeof delta3, 10, u->delta3),
          spacing_labels[u->nearest], u->flagged ? " (flagged)" : "");
}

static void print_unfoldings(const hr_stats_t *st, FILE *out) {
  if (!st->n_unfoldings) return;
  fprintf(out, "  unfoldings  %-8s %-8s %6s %8s %6s %10s %8s %8s %8s %10s %10s  %s\n",
          "", "checks", "|d-1|", "mean s", "s < 0", "KS Poisson", "KS GOE", "KS GUE",
          "Brody q", "Sigma^2(10)", "Delta_3(10)", "nearest");
  for (int i = 0; i < st->n_unfoldings; i++) {
    const hr_stats_unfolding_t *u = &st->unfoldings[i];
    if (u->ok) print_unfolding_row(u, out);
    else fprintf(out, "              %-8s not done: %s\n", u->name, u->note);
  }
  char c[5][32];
  fprintf(out, "              %-8s %-8s %6s %8s %6s %s %s %8s %s %s %s\n", "spread",
          "(passed)", "", "", "", column(c[0], sizeof c[0], 10, st->spread_ks_poisson),
          column(c[1], sizeof c[1], 8, st->spread_ks_goe), "",
          column(c[2], sizeof c[2], 8, st->spread_brody),
          column(c[3], sizeof c[3], 10, st->spread_sigma2),
          column(c[4], sizeof c[4], 10, st->spread_delta3));
  fprintf(out, "              (|d-1|: the largest deviation of a tenth's density from 1; "
          "a row that\n              fails its checks is shown for diagnosis only)\n");
  if (st->unfolding_warning[0])
    fprintf(out, "  WARNING     %s\n", st->unfolding_warning);
  else
    fprintf(out, "              every unfolding that passes agrees with the ratio "
            "statistics\n");
}

void hr_stats_print(const hr_stats_t *st, FILE *out) {
  print_levels(st, out);
  print_ratios(st, out);
  print_unfolded(st, out);
  print_unfoldings(st, out);
  print_slq(st, out);
  print_evecs(st, out);
  fprintf(out, "  verdict     %s\n", st->verdict_text);
  fprintf(out, "  (p-values treat samples as independent; neighbouring ratios "
          "are correlated, and the\n   GOE/GUE/GSE ratio laws are surmises, "
          "within about 1%% of large N: with very many\n   levels even the "
          "right law's p-value becomes small.  Distances decide the verdict.)\n");
  if (st->paper.computed) print_paper(&st->paper, out);
}

/* ---- JSON (NaN as null: hr_json_number) ------------------------------ */

static json_t *number_array(const double *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++)
    json_array_append_new(a, hr_json_number(v[i]));
  return a;
}

static json_t *per_law(const double *v, int n, const char *const *names) {
  json_t *o = json_object();
  for (int i = 0; i < n; i++) json_object_set_new(o, names[i], hr_json_number(v[i]));
  return o;
}

static const char *law_keys[HR_LAW_COUNT] = {"poisson", "goe", "gue", "gse"};

static void json_levels(const hr_stats_t *st, json_t *j) {
  json_object_set_new(j, "program", json_string("hessrmt " HR_VERSION_STRING));
  json_object_set_new(j, "file", json_string(st->path));
  json_object_set_new(j, "dataset", json_string(st->dataset));
  json_object_set_new(j, "title", json_string(st->title));
  json_object_set_new(j, "precision", json_string(st->precision));
  json_object_set_new(j, "n_spectra", json_integer(st->n_spectra));
  json_object_set_new(j, "n_levels", json_integer(st->n_levels));
  json_object_set_new(j, "n_kept", json_integer(st->n_kept));
  json_object_set_new(j, "cut", hr_json_number(st->cut));
  json_object_set_new(j, "cut_mode", json_string(st->cut_auto ? "auto" : "user"));
  json_object_set_new(j, "exact_zeros", json_integer(st->exact_zeros));
  json_object_set_new(j, "numerical_rank_mean", hr_json_number(st->file_rank_mean));
  json_t *ladder = json_array();
  for (int i = 0; i < HR_STATS_LADDER; i++)
    json_array_append_new(ladder, json_pack("{s:o, s:o}",
                                            "cut", hr_json_number(st->ladder_cut[i]),
                                            "fraction",
                                            hr_json_number(st->ladder_fraction[i])));
  json_object_set_new(j, "degeneracy", ladder);
  json_object_set_new(j, "bulk", json_pack("[o, o]", hr_json_number(st->bulk_lo),
                                           hr_json_number(st->bulk_hi)));
  json_object_set_new(j, "n_outliers", json_integer(st->n_outliers));
}

static void json_ratios(const hr_stats_t *st, json_t *j) {
  json_object_set_new(j, "n_ratios", json_integer(st->n_ratios));
  json_object_set_new(j, "ratios_degenerate", json_integer(st->n_ratios_degenerate));
  json_object_set_new(j, "mean_r_tilde", hr_json_number(st->mean_r_tilde));
  json_object_set_new(j, "mean_r_tilde_err", hr_json_number(st->mean_r_tilde_err));
  char key[32];
  for (int law = 0; law < HR_LAW_COUNT; law++) {
    snprintf(key, sizeof key, "ks_%s", law_keys[law]);
    json_object_set_new(j, key, hr_json_number(st->ks_ratio[law]));
    snprintf(key, sizeof key, "p_%s", law_keys[law]);
    json_object_set_new(j, key, hr_json_number(st->p_ratio[law]));
  }
  double ref[HR_LAW_COUNT];
  for (int law = 0; law < HR_LAW_COUNT; law++) ref[law] = hr_ratio_mean_reference((hr_law_t)law);
  json_object_set_new(j, "mean_r_tilde_reference", per_law(ref, HR_LAW_COUNT, law_keys));
  json_t *orders = json_array();
  for (int i = 0; i < HR_STATS_ORDERS; i++) {
    const hr_stats_order_t *o = &st->order[i];
    json_array_append_new(orders, json_pack(
        "{s:i, s:I, s:o, s:o, s:o, s:s}", "k", o->k, "count", (json_int_t)o->count,
        "mean", hr_json_number(o->mean), "err", hr_json_number(o->err), "expected",
        per_law(o->expected, HR_LAW_COUNT, law_keys), "nearest",
        o->nearest < HR_LAW_COUNT ? law_keys[o->nearest] : "none"));
  }
  json_object_set_new(j, "higher_order", orders);
}

/* An unfolding's checks, for both the tried and the --unfold all lists. */
static void json_unfolding_checks(const hr_stats_unfolding_t *u, json_t *o) {
  json_object_set_new(o, "mean_spacing", hr_json_number(u->mean_spacing));
  json_object_set_new(o, "n_spacings", json_integer(u->n_spacings));
  json_object_set_new(o, "backward_spacings", json_integer(u->n_backward));
  json_object_set_new(o, "enough_spacings", json_boolean(u->enough));
  json_object_set_new(o, "monotone", json_boolean(u->monotone));
  json_object_set_new(o, "flat", json_boolean(u->flat));
  json_object_set_new(o, "flat_deviation", hr_json_number(u->flat_dev));
  json_object_set_new(o, "flat_allowed", hr_json_number(u->flat_tol));
  json_object_set_new(o, "passed", json_boolean(u->passed));
}

static json_t *json_tried(const hr_stats_t *st) {
  json_t *list = json_array();
  for (int i = 0; i < st->n_tried; i++) {
    const hr_stats_unfolding_t *u = &st->tried[i];
    json_t *o = json_pack("{s:s, s:b}", "name", u->name, "ok", u->ok);
    if (u->ok) json_unfolding_checks(u, o);
    else json_object_set_new(o, "note", json_string(u->note));
    json_array_append_new(list, o);
  }
  return list;
}

static void json_unfoldings(const hr_stats_t *st, json_t *j) {
  json_t *list = json_array();
  for (int i = 0; i < st->n_unfoldings; i++) {
    const hr_stats_unfolding_t *u = &st->unfoldings[i];
    json_t *o = json_object();
    json_object_set_new(o, "name", json_string(u->name));
    json_object_set_new(o, "ok", json_boolean(u->ok));
    if (!u->ok) {
      json_object_set_new(o, "note", json_string(u->note));
    } else {
      json_unfolding_checks(u, o);
      json_object_set_new(o, "ks_spacing", per_law(u->ks_spacing, 3, law_keys));
      json_object_set_new(o, "brody_q", hr_json_number(u->brody_q));
      json_object_set_new(o, "sigma2_L10", hr_json_number(u->sigma2));
      json_object_set_new(o, "delta3_L10", hr_json_number(u->delta3));
      json_object_set_new(o, "nearest", json_string(law_keys[u->nearest]));
      json_object_set_new(o, "flagged", json_boolean(u->flagged));
    }
    json_array_append_new(list, o);
  }
  json_object_set_new(j, "unfoldings", list);
  json_t *sp = json_object();
  json_object_set_new(sp, "ks_poisson", hr_json_number(st->spread_ks_poisson));
  json_object_set_new(sp, "ks_goe", hr_json_number(st->spread_ks_goe));
  json_object_set_new(sp, "brody_q", hr_json_number(st->spread_brody));
  json_object_set_new(sp, "sigma2_L10", hr_json_number(st->spread_sigma2));
  json_object_set_new(sp, "delta3_L10", hr_json_number(st->spread_delta3));
  json_object_set_new(j, "unfolding_spread", sp);
  json_object_set_new(j, "unfolding_warning", st->unfolding_warning[0]
                          ? json_string(st->unfolding_warning) : json_null());
}

static void json_evecs(const hr_stats_evecs_t *e, json_t *j) {
  static const char *ends[HR_EVEC_ENDS] = {"smallest", "largest"};
  json_t *o = json_object();
  json_object_set_new(o, "k", json_integer(e->k));
  json_object_set_new(o, "n", json_integer(e->n));
  json_object_set_new(o, "spectra", json_integer(e->spectra));
  json_object_set_new(o, "residual_max", hr_json_number(e->residual_max));
  json_object_set_new(o, "orthogonality_max", hr_json_number(e->orthogonality_max));
  json_object_set_new(o, "ipr_goe", hr_json_number(e->ipr_goe));
  for (int end = 0; end < HR_EVEC_ENDS; end++) {
    json_t *x = json_object();
    json_object_set_new(x, "ipr_mean", hr_json_number(e->end[end].ipr_mean));
    json_object_set_new(x, "ipr_sem", hr_json_number(e->end[end].ipr_sem));
    json_object_set_new(x, "ipr_ratio", hr_json_number(e->end[end].ipr_ratio));
    json_object_set_new(x, "porter_thomas_ks", hr_json_number(e->end[end].pt_ks));
    json_object_set_new(x, "porter_thomas_p", hr_json_number(e->end[end].pt_p));
    json_object_set_new(x, "porter_thomas_critical", hr_json_number(e->end[end].pt_critical));
    json_object_set_new(x, "components", json_integer(e->end[end].components));
    json_object_set_new(x, "verdict", json_string(e->end[end].verdict));
    json_object_set_new(o, ends[end], x);
  }
  json_t *index = json_array();
  for (int i = 0; i < e->shown; i++) json_array_append_new(index, json_integer(e->index[i]));
  json_object_set_new(o, "index", index);
  json_object_set_new(o, "eigenvalue", number_array(e->eigenvalue, e->shown));
  json_object_set_new(o, "ipr", number_array(e->ipr, e->shown));
  json_object_set_new(o, "overlap_gradient", number_array(e->overlap_gradient, e->shown));
  json_object_set_new(o, "overlap_classes", number_array(e->overlap_classes, e->shown));
  json_object_set_new(j, "eigenvectors", o);
}

static void json_unfolded(const hr_stats_t *st, json_t *j) {
  char name[32];
  hr_stats_unfold_label(st, name, sizeof name);
  json_object_set_new(j, "unfold", st->unfold == HR_UNFOLD_AUTO ? json_null()
                                                                : json_string(name));
  json_object_set_new(j, "unfold_method", st->unfold == HR_UNFOLD_AUTO ? json_null()
                          : json_string(unfold_names[st->unfold]));
  json_object_set_new(j, "unfold_auto", json_boolean(st->unfold_auto));
  json_object_set_new(j, "spacing_reliable", json_boolean(st->spacing_reliable));
  json_object_set_new(j, "spacing_statistics", json_string(st->spacing_reliable
                                                           ? "reliable" : "unreliable"));
  json_object_set_new(j, "unfold_note", json_string(st->unfold_note));
  json_object_set_new(j, "unfoldings_tried", json_tried(st));
  json_object_set_new(j, "n_unfolded", json_integer(st->n_unfolded));
  json_object_set_new(j, "n_beyond_bulk", json_integer(st->n_beyond_bulk));
  json_object_set_new(j, "n_spacings", json_integer(st->n_spacings));
  json_object_set_new(j, "mean_spacing", hr_json_number(st->spacing_reliable
                                                        ? st->mean_spacing : NAN));
  json_object_set_new(j, "backward_spacings", json_integer(st->n_backward));
  json_object_set_new(j, "flat_deviation", hr_json_number(st->flat_dev));
  json_object_set_new(j, "flat_allowed", hr_json_number(st->flat_tol));
  json_object_set_new(j, "ks_spacing", per_law(st->ks_spacing, 3, law_keys));
  json_object_set_new(j, "p_spacing", per_law(st->p_spacing, 3, law_keys));
  json_object_set_new(j, "brody_q", hr_json_number(st->brody_q));
  json_object_set_new(j, "L", number_array(st->L, HR_STATS_NL));
  json_object_set_new(j, "sigma2", number_array(st->sigma2, HR_STATS_NL));
  json_object_set_new(j, "delta3", number_array(st->delta3, HR_STATS_NL));
  json_object_set_new(j, "verdict", json_string(law_keys[st->verdict]));
  json_object_set_new(j, "verdict_consistent", json_boolean(st->verdict_consistent));
  json_object_set_new(j, "verdict_text", json_string(st->verdict_text));
  if (st->n_unfoldings) json_unfoldings(st, j);
  if (st->slq.present) {
    json_t *q = json_object();
    json_object_set_new(q, "steps", json_integer(st->slq.steps));
    json_object_set_new(q, "probes", json_integer(st->slq.probes));
    json_object_set_new(q, "spectra", json_integer(st->slq.spectra));
    json_object_set_new(q, "wasserstein1_mean", hr_json_number(st->slq.w1_mean));
    json_object_set_new(q, "wasserstein1_max", hr_json_number(st->slq.w1_max));
    json_object_set_new(q, "ks_mean", hr_json_number(st->slq.ks_mean));
    json_object_set_new(q, "ks_max", hr_json_number(st->slq.ks_max));
    json_object_set_new(q, "sigma", hr_json_number(st->slq.sigma));
    json_object_set_new(j, "slq", q);
  }
  if (st->evecs.present) json_evecs(&st->evecs, j);
  json_object_set_new(j, "rigidity", st->rigidity[0] ? json_string(st->rigidity)
                                                     : json_null());
}

static json_t *int_array(const int64_t *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_integer(v[i]));
  return a;
}

static json_t *paper_hist(const hr_paper_hist_t *h) {
  return json_pack("{s:o, s:o, s:I}", "edges", number_array(h->edges, HR_PAPER_BINS + 1),
                   "counts", int_array(h->counts, HR_PAPER_BINS), "outside",
                   (json_int_t)h->outside);
}

static json_t *paper_ratios_json(const hr_stats_paper_t *p) {
  return json_pack(
      "{s:s, s:o, s:I, s:I, s:I, s:I, s:o, s:o, s:o, s:o, s:o, s:o}",
      "definition", "r = s_(i+1)/s_i of consecutive spacings, pooled; kept if r < max",
      "max", hr_json_number(HR_PAPER_RATIO_MAX), "n_computed", (json_int_t)p->n_ratios_all,
      "count", (json_int_t)p->n_ratios, "dropped", (json_int_t)p->n_dropped,
      "dropped_zero_spacing", (json_int_t)p->n_zero_spacing,
      "mean", hr_json_number(p->mean_r), "fraction_below_1", hr_json_number(p->frac_below_1),
      "ks_goe", hr_json_number(p->ks_goe), "p_goe", hr_json_number(p->p_goe),
      "ks_poisson", hr_json_number(p->ks_poisson), "hist", paper_hist(&p->ratio_hist));
}

static json_t *paper_spacings_json(const hr_stats_paper_t *p) {
  if (!p->unfolded)
    return json_pack("{s:b, s:s}", "available", 0, "reason",
                     "not enough spectra: the pool unfolding needs at least 2");
  return json_pack(
      "{s:b, s:s, s:I, s:I, s:I, s:I, s:o, s:b, s:s, s:o, s:o, s:o, s:o}",
      "available", 1, "definition",
      "targets: spectra 0 .. n_targets-1; l -> #{pool levels < l} / n_pool_spectra; "
      "differences of consecutive unfolded levels, pooled",
      "n_targets", (json_int_t)p->n_targets, "n_pool_spectra", (json_int_t)p->n_pool_spectra,
      "n_pool_levels", (json_int_t)p->n_pool_levels, "count", (json_int_t)p->n_spacings,
      "mean", hr_json_number(p->mean_spacing), "rescaled", 0,
      "ks_of", "spacing / mean", "ks_goe", hr_json_number(p->ks_wigner),
      "p_goe", hr_json_number(p->p_wigner), "ks_poisson", hr_json_number(p->ks_exponential),
      "hist", paper_hist(&p->spacing_hist));
}

/* Everything --paper-conventions computed, under one key. */
static json_t *paper_json(const hr_stats_paper_t *p) {
  return json_pack(
      "{s:s, s:o, s:I, s:o, s:o, s:{s:s, s:o, s:o}}",
      "source", "the notebooks of 'Applicability of random matrix theory in deep learning'",
      "cut", hr_json_number(HR_PAPER_CUT), "n_kept", (json_int_t)p->n_kept,
      "ratios", paper_ratios_json(p), "spacings", paper_spacings_json(p),
      "degeneracy", "definition", "fraction of all levels with |l| < cutoff",
      "cutoffs", number_array(p->cutoff, HR_PAPER_CUTOFFS),
      "fractions", number_array(p->cutoff_fraction, HR_PAPER_CUTOFFS));
}

static json_t *stats_json(const hr_stats_t *st) {
  json_t *j = json_object();
  json_levels(st, j);
  json_ratios(st, j);
  json_unfolded(st, j);
  if (st->paper.computed) json_object_set_new(j, "paper_conventions", paper_json(&st->paper));
  return j;
}

int hr_stats_write_json(const hr_stats_t *st, int count, const char *path) {
  json_t *j = count == 1 ? stats_json(st) : json_array();
  for (int i = 0; count > 1 && i < count; i++) json_array_append_new(j, stats_json(&st[i]));
  int rc = hr_output_write_json(j, path);
  json_decref(j);
  return rc;
}
