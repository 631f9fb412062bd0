#!/usr/bin/env python3
"""End-to-end tests of `hessrmt stats`: spectra made outside hessrmt (numpy,
in the paper's file format) and by `hessrmt ensemble`, checked against the
known random-matrix constants, an independent GOE number-variance curve,
the figure files, and bad inputs."""
import json
import math
import os
import re
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness, evals, png_size  # noqa: E402

# Large-N mean r~ (Atas et al. 2013; Poisson exact 2 ln 2 - 1).
MEAN_R = {"poisson": 0.38629, "goe": 0.5307, "gue": 0.5996, "gse": 0.6744}
JSON_KEYS = ["n_spectra", "n_levels", "n_kept", "cut", "mean_r_tilde",
             "mean_r_tilde_err", "ks_goe", "ks_gue", "ks_poisson", "brody_q",
             "verdict"]
FIGURES = ["density", "degeneracy", "ratios", "spacings", "number_variance",
           "rigidity"]


# ---- spectra made with numpy, as the paper's scripts would ----------------

def goe(rng, n):
    a = rng.normal(size=(n, n))
    return np.linalg.eigvalsh((a + a.T) / 2)


def gue(rng, n):
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    return np.linalg.eigvalsh((a + a.conj().T) / 2)


def gse(rng, n):
    """Quaternion self-dual matrix as a 2n x 2n complex Hermitian one; its
    eigenvalues come in Kramers pairs, of which one of each is kept."""
    a = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    b = rng.normal(size=(n, n)) + 1j * rng.normal(size=(n, n))
    a, b = (a + a.conj().T) / 2, (b - b.T) / 2
    return np.linalg.eigvalsh(np.block([[a, b], [-b.conj(), a.conj()]]))[::2]


def poisson(rng, n):
    return np.sort(rng.uniform(size=n))


MAKERS = {"goe": goe, "gue": gue, "gse": gse, "poisson": poisson}


def write_spectra(path, rows, dtype=np.float64):
    with h5py.File(path, "w") as f:
        f["hessian_evals"] = np.asarray(rows, dtype=dtype)


def make_file(h, law, n, count, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    path = h.path(f"{law}_{n}x{count}.h5")
    write_spectra(path, [MAKERS[law](rng, n) for _ in range(count)], dtype)
    return path


IMPOSSIBLE_TEXT = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)


def possible_numbers(h, j, what):
    """Every Sigma^2 and Delta_3 of a stats JSON (one object or a list) is
    null (withheld) or finite and >= 0, as is every mean r~."""
    for o in j if isinstance(j, list) else [j]:
        values = list(o.get("sigma2", [])) + list(o.get("delta3", []))
        for u in o.get("unfoldings", []):
            values += [u.get("sigma2_L10"), u.get("delta3_L10")]
        bad = [v for v in values if v is not None and not (math.isfinite(v) and v >= 0)]
        h.expect(not bad, f"{what}: impossible Sigma^2 or Delta_3 {bad}")
        r = o.get("mean_r_tilde")
        h.expect(r is not None and 0 <= r <= 1, f"{what}: mean r~ {r}")


def stats(h, *args, check=True):
    """Run `hessrmt stats` directly, without mpirun.  Whatever it analyses,
    a run that succeeds prints no NaN or infinity, and its JSON holds no
    impossible number."""
    proc = h.serial("stats", *args, check=check)
    if proc.returncode == 0:
        bad = IMPOSSIBLE_TEXT.search(proc.stdout)
        h.expect(bad is None, f"stats {' '.join(map(str, args))} printed "
                 f"{bad.group(0) if bad else ''}: {proc.stdout[-2000:]}")
        if "--json" in args:
            out = args[list(args).index("--json") + 1]
            with open(out) as f:
                possible_numbers(h, json.load(f), f"stats {args[0]}")
    return proc


def stats_json(h, path, *args):
    out = path + ".json"
    stats(h, path, "--json", out, *args)
    with open(out) as f:
        return json.load(f)


def expect_law(h, j, law, what):
    mean, err = j["mean_r_tilde"], j["mean_r_tilde_err"]
    h.expect(abs(mean - MEAN_R[law]) < 3 * err, f"{what}: mean r~ {mean:.4f} "
             f"+/- {err:.4f} vs large-N {MEAN_R[law]}")
    h.expect(j["verdict"] == law, f"{what}: verdict {j['verdict']}, expected {law}")
    ks = {k: j[f"ks_{k}"] for k in MEAN_R}
    h.expect(min(ks, key=ks.get) == law, f"{what}: KS distances {ks}")
    h.expect(j["rigidity"] is None, f"{what}: beyond the laws: {j['rigidity']}")


# ---- cases --------------------------------------------------------------------

def case_calibration(h):
    """numpy GOE, GUE, GSE and Poisson spectra in the paper's format: mean
    r~ within 3 standard errors of the large-N values, the KS verdict, the
    higher-order ratios' nearest law, the JSON keys.  GUE is stored as
    float32, as some of the paper's files were."""
    for law, seed in [("goe", 1), ("gue", 2), ("gse", 3), ("poisson", 4)]:
        dtype = np.float32 if law == "gue" else np.float64
        path = make_file(h, law, 400, 40, seed, dtype)
        j = stats_json(h, path)
        for key in JSON_KEYS:
            h.expect(key in j, f"{law}: JSON lacks '{key}'")
        expect_law(h, j, law, f"numpy {law}")
        h.expect(j["n_spectra"] == 40 and j["n_levels"] == 400 and
                 j["n_kept"] == 16000, f"{law}: counts {j['n_spectra']} "
                 f"{j['n_levels']} {j['n_kept']}")
        for order in j["higher_order"]:
            h.expect(order["nearest"] == law, f"{law}: order {order['k']} "
                     f"mean {order['mean']:.4f} nearest {order['nearest']}")
        brody_ok = j["brody_q"] < 0.1 if law == "poisson" else j["brody_q"] > 0.8
        h.expect(brody_ok, f"{law}: Brody q {j['brody_q']:.3f}")


def case_beta_ensembles(h):
    """hessrmt's own Dumitriu-Edelman beta ensembles and Poisson levels,
    with the statistics run at the end of `ensemble` (2 ranks, 2 groups)."""
    for law, extra in [("goe", ["--kind", "beta", "--beta", 1]),
                       ("gue", ["--kind", "beta", "--beta", 2]),
                       ("gse", ["--kind", "beta", "--beta", 4]),
                       ("poisson", ["--kind", "poisson"])]:
        out, js = h.path(f"{law}.h5"), h.path(f"{law}.json")
        proc = h.run(2, "ensemble", *extra, "--n", 800, "--count", 40,
                     "--groups", 2, "--seed", 5, "-q", "-o", out, "--json", js)
        h.expect("verdict" in proc.stdout, f"{law}: no verdict line printed")
        with open(js) as f:
            expect_law(h, json.load(f), law, f"ensemble {law}")


def sigma2_goe(L):
    """GOE number variance from the two-level cluster function
    Y2 = s^2 + s' (1/2 - int_0^r s), s = sin(pi r) / (pi r), by quadrature:
    independent of the program's closed form."""
    r = np.linspace(0.0, L, 40001)
    s = np.sinc(r)
    ds = np.gradient(s, r)
    inner = np.concatenate([[0.0], np.cumsum(0.5 * (s[1:] + s[:-1]) * np.diff(r))])
    y2 = s * s + ds * (0.5 - inner)
    return L - 2.0 * np.trapz((L - r) * y2, r)


def delta3_goe(L):
    """Delta_3 from Sigma^2 (Pandey): (2/L^4) int (L^3 - 2 L^2 r + r^3) S2(r)."""
    r = np.linspace(1e-6, L, 801)
    s2 = np.array([sigma2_goe(x) for x in r])
    return 2.0 / L**4 * np.trapz((L**3 - 2 * L**2 * r + r**3) * s2, r)


def case_long_range(h):
    """Sigma^2 and Delta_3 of unfolded GOE levels follow the GOE curves for
    L up to 10, for each unfolding, and are far from Poisson's.

    Tolerance, measured (10 seeds of 60 numpy GOE spectra of
    N = 600, about 32,000 central levels): the relative deviation of Sigma^2
    from the exact curve had a standard deviation of at most 1.2% (poly,
    kde) and 3.0% (pool, whose finite pool adds density noise), with mean
    biases up to +2.6% (pool); Delta_3 at most 1.0% and +2.1%.  Bias plus
    three standard deviations gives the 12% and 6% used.  Poisson's values
    are 1.6x (L = 1) to 11x (L = 10) the GOE ones, so uncorrelated levels
    cannot pass."""
    path = make_file(h, "goe", 600, 60, 7)
    for unfold in ["poly", "kde", "pool"]:
        j = stats_json(h, path, "--unfold", unfold)
        h.expect(j["unfold_method"] == unfold and j["spacing_reliable"],
                 f"unfold {j['unfold']}: reliable {j['spacing_reliable']} "
                 f"({j['unfold_note']})")
        for L, s2, d3 in zip(j["L"], j["sigma2"], j["delta3"]):
            ref2, ref3 = sigma2_goe(L), delta3_goe(L)
            h.expect(abs(s2 / ref2 - 1) < 0.12, f"{unfold}: Sigma^2({L}) = "
                     f"{s2:.4f}, GOE {ref2:.4f}")
            h.expect(abs(d3 / ref3 - 1) < 0.06, f"{unfold}: Delta_3({L}) = "
                     f"{d3:.4f}, GOE {ref3:.4f}")
        h.expect(j["sigma2"][-1] < 0.2 * j["L"][-1], f"{unfold}: Sigma^2(10) "
                 "not far below Poisson's 10")
    j = stats_json(h, make_file(h, "poisson", 600, 60, 8), "--unfold", "kde")
    s2_10, d3_10 = j["sigma2"][-1], j["delta3"][-1]
    h.expect(s2_10 > 5 * sigma2_goe(10.0) and d3_10 > 2 * delta3_goe(10.0),
             f"Poisson levels: Sigma^2(10) {s2_10:.3f}, Delta_3(10) {d3_10:.3f}")


def case_figures(h):
    """--plots writes each figure as a valid PNG of the asked size and an
    SVG, with no temporary file left; several files get one folder each."""
    goe_path = make_file(h, "goe", 300, 12, 11)
    figs = h.path("figs")
    stats(h, goe_path, "--plots", figs, "--plot-width", 900, "--plot-height", 640,
          "--log-density")
    for name in FIGURES:
        png = os.path.join(figs, name + ".png")
        h.expect(os.path.exists(png), f"{name}.png missing")
        if os.path.exists(png):
            h.expect(png_size(png) == (900, 640), f"{name}.png size {png_size(png)}")
            h.expect(os.path.getsize(png) > 5000, f"{name}.png is tiny")
        svg = os.path.join(figs, name + ".svg")
        h.expect(os.path.exists(svg) and "<svg" in open(svg).read(), f"{name}.svg")
    h.expect(not [f for f in os.listdir(figs) if "partial" in f], "partial figure left")
    h.expect(not os.path.exists(os.path.join(figs, "paper_ratios.png")),
             "paper figures without --paper-conventions")
    pois = make_file(h, "poisson", 300, 12, 12)
    many = h.path("figs_many")
    stats(h, goe_path, pois, "--plots", many, "--json", h.path("many.json"))
    for stem in [os.path.basename(goe_path)[:-3], os.path.basename(pois)[:-3]]:
        h.expect(os.path.exists(os.path.join(many, stem, "ratios.png")),
                 f"figures of {stem} missing")
    with open(h.path("many.json")) as f:
        j = json.load(f)
    h.expect(isinstance(j, list) and [x["verdict"] for x in j] == ["goe", "poisson"],
             "two files: a JSON array with one verdict each")


def case_hessian(h):
    """The statistics at the end of `hessian`: structural zeros of a Gram
    spectrum are counted and cut, and --no-stats skips them."""
    out, js = h.path("h.h5"), h.path("h.json")
    proc = h.run(2, "hessian", "--batch-size", 16, "--max-batches", 8,
                 "--method", "gram", "-q", "-o", out, "--json", js)
    h.expect("verdict" in proc.stdout, "hessian printed no verdict")
    with open(js) as f:
        j = json.load(f)
    with h5py.File(out, "r") as f:
        ev = f["hessian_evals"][...]
    zeros = int(np.sum(ev == 0.0))
    h.expect(j["exact_zeros"] == zeros and zeros > 0, f"exact zeros {j['exact_zeros']} vs {zeros}")
    h.expect(j["n_kept"] <= ev.size - zeros, f"kept {j['n_kept']} of {ev.size} with {zeros} zeros")
    proc = h.run(1, "hessian", "--batch-size", 64, "--max-batches", 2, "-q",
                 "-o", h.path("h2.h5"), "--no-stats")
    h.expect("verdict" not in proc.stdout, "--no-stats still printed statistics")


def case_rank_independence(h):
    """stats gives the same JSON serially and under mpirun on 2 ranks."""
    path = make_file(h, "goe", 200, 9, 21)
    a = stats_json(h, path)
    js = h.path("np2.json")
    h.run(2, "stats", path, "--json", js)
    with open(js) as f:
        b = json.load(f)
    h.expect(a == b, "JSON differs between a serial run and 2 ranks")


def stats_error(h, args, needle, name, np_=0):
    h.failing(np_, ["stats", *args], needle, name)


def case_errors(h):
    """Bad input: clear messages, non-zero exit, serially and on 2 ranks."""
    good = make_file(h, "goe", 50, 2, 31)
    nan = h.path("nan.h5")
    rows = np.array([goe(np.random.default_rng(1), 20)] * 2)
    rows[1, 7] = np.nan
    write_spectra(nan, rows)
    few = h.path("few.h5")
    write_spectra(few, [[0.0, 0.0, 0.0, 1e-20, 1.0, 2.0]])
    long_done = h.path("long_done.h5")
    write_spectra(long_done, rows[:1])
    with h5py.File(long_done, "a") as f:
        f["rows_done"] = np.ones(100000, dtype=np.uint8)
    text = h.path("text.h5")
    with open(text, "w") as f:
        f.write("not hdf5")
    for np_ in [0, 2]:
        stats_error(h, [h.path("missing.h5")], "cannot open", "missing file", np_)
        stats_error(h, [text], "not HDF5", "not HDF5", np_)
        stats_error(h, [good, "--dataset", "evals"], "no dataset 'evals'", "missing dataset", np_)
        stats_error(h, [nan], "spectrum 1, level 7 is nan", "NaN", np_)
        stats_error(h, [few], "at least 3", "too few levels after the cut", np_)
        stats_error(h, [long_done], "rows_done has 100000 entries", "rows_done too long", np_)
        stats_error(h, [good, "--json", h.path("no/such/dir/x.json")],
                    "does not exist", "unwritable JSON", np_)
    one = h.path("one.h5")
    write_spectra(one, [goe(np.random.default_rng(2), 50)])
    stats_error(h, [one, "--unfold", "pool"], "pool unfolding needs", "pool, one spectrum")
    stats_error(h, [good, "--cut", "-1"], "--cut", "negative cut")
    stats_error(h, [], "needs FILE", "no file")
    # Not errors, but statistics marked where they cannot be trusted: a
    # polynomial that bends back over a spike inside the bulk is reported
    # unreliable, with no number of the spacing half printed or in the
    # JSON; auto passes it over for an unfolding that holds.
    rng = np.random.default_rng(4)
    spike = h.path("spike.h5")
    write_spectra(spike, [np.sort(np.concatenate([rng.uniform(0.0, 1.0, 600),
                                                  0.5 + 1e-3 * rng.standard_normal(400)]))])
    proc = stats(h, spike, "--unfold", "poly", "--json", spike + ".json")
    with open(spike + ".json") as f:
        j = json.load(f)
    numbers = [j["brody_q"], j["mean_spacing"], *j["ks_spacing"].values(),
               *j["sigma2"], *j["delta3"]]
    h.expect(j["backward_spacings"] > 0 and not j["spacing_reliable"]
             and all(v is None for v in numbers)
             and "UNRELIABLE: the poly 9 unfolding is not monotone" in proc.stdout
             and "Delta_3" not in proc.stdout and "unreliable" in j["verdict_text"],
             f"non-monotone poly unfolding not marked ({j['backward_spacings']}, "
             f"{j['spacing_reliable']}): {proc.stdout[-900:]}")
    # auto on it: every unfolding is tried, each rejection said, and what
    # is printed is either a passing unfolding's non-negative numbers or
    # the unreliable mark, never numbers from one that failed
    proc = stats(h, spike, "--json", spike + ".json")
    with open(spike + ".json") as f:
        j = json.load(f)
    tried = j["unfoldings_tried"]
    if j["spacing_reliable"]:
        good = (tried[-1]["passed"] and tried[-1]["name"] == j["unfold"]
                and all(v is not None and v >= 0 for v in j["delta3"] + j["sigma2"]))
    else:
        good = (len(tried) == 6 and not any(u.get("passed") for u in tried)
                and j["unfold"] is None and all(v is None for v in j["delta3"])
                and all(u["name"] in j["unfold_note"] for u in tried))
    h.expect(good, f"auto on the spike: {j['unfold']} reliable "
             f"{j['spacing_reliable']} ({j['unfold_note']})")
    # a Hessian-like spectrum (a sharp peak and a tail of outliers): auto
    # unfolds the bulk inside the fences and finds one that holds
    hess = h.path("hessian_like.h5")
    write_spectra(hess, [np.sort(np.concatenate([0.01 + 1e-3 * rng.standard_normal(800),
                                                 rng.uniform(0.02, 1.0, 200)]))])
    proc = stats(h, hess, "--json", hess + ".json")
    with open(hess + ".json") as f:
        j = json.load(f)
    h.expect(j["spacing_reliable"] and j["backward_spacings"] == 0
             and j["n_beyond_bulk"] > 100 and j["flat_deviation"] <= j["flat_allowed"]
             and all(v is not None and v >= 0 for v in j["delta3"] + j["sigma2"]),
             f"auto on a Hessian-like spectrum: {j['unfold']} reliable "
             f"{j['spacing_reliable']} ({j['unfold_note']})")
    picket = h.path("picket.h5")
    write_spectra(picket, [np.arange(200.0) + 1.0] * 8)
    proc = stats(h, picket, "--json", picket + ".json")
    with open(picket + ".json") as f:
        j = json.load(f)
    text = j["verdict_text"]
    h.expect("no law fits" in text and text.startswith("near a picket fence")
             and j["rigidity"] == "near a picket fence",
             f"picket fence verdict: {j['rigidity']} {text}")
    # the analytic (2, -1) tridiagonal matrix: mean r~ ~ 0.996, beyond GSE
    tri = h.path("tridiag.h5")
    h.run(1, "ensemble", "--kind", "tridiag", "--n", 400, "--count", 1, "-q",
          "--no-stats", "-o", tri)
    proc = stats(h, tri, "--json", tri + ".json")
    with open(tri + ".json") as f:
        j = json.load(f)
    h.expect(j["rigidity"] == "near a picket fence" and j["verdict"] == "gse"
             and "more rigid than GSE" in proc.stdout,
             f"tridiag verdict: {j['rigidity']} {j['verdict_text']}")
    # levels bunched beyond Poisson's: pairs of near-degenerate levels
    bunch = h.path("bunched.h5")
    base = np.sort(rng.uniform(0, 1000, 400))
    write_spectra(bunch, [np.sort(np.concatenate([base, base + 1e-6 *
                                                 rng.uniform(0.5, 1.0, 400)]))])
    stats(h, bunch, "--json", bunch + ".json")
    with open(bunch + ".json") as f:
        j = json.load(f)
    h.expect(j["rigidity"] == "more clustered than Poisson",
             f"bunched verdict: {j['rigidity']} {j['verdict_text']}")
    stats_error(h, [few, "--cut", "1e-30", "--unfold", "poly"], "polynomial "
                "unfolding of degree 9 needs at least", "too few levels to unfold")
    # auto on the same few levels: nothing can be unfolded, which is no
    # error: the ratios stand and the spacing half is marked unreliable
    proc = stats(h, few, "--cut", "1e-30", "--json", few + ".json")
    with open(few + ".json") as f:
        j = json.load(f)
    h.expect(not j["spacing_reliable"] and j["unfold"] is None
             and all(v is None for v in j["delta3"])
             and "UNRELIABLE: no unfolding is monotone and flat" in proc.stdout,
             f"auto on too few levels: {j['unfold']} {j['unfold_note']}")


# ---- --paper-conventions, recomputed in numpy -------------------------------

PAPER_CUTOFFS = [float(f"1e-{e}") for e in [*range(100, 10, -10), *range(10, 3, -1)]]


def goe_raw_ratio_cdf():
    """CDF of the GOE surmise of the raw ratio, (27/8)(r + r^2) /
    (1 + r + r^2)^(5/2), truncated to [0, 10) and renormalised: trapezoid
    quadrature on a fine grid (not the program's closed form), linearly
    interpolated; both errors are below 1e-10."""
    r = np.linspace(0.0, 10.0, 2_000_001)
    p = 27 / 8 * (r + r * r) / (1 + r + r * r) ** 2.5
    c = np.concatenate([[0.0], np.cumsum(0.5 * (p[1:] + p[:-1]) * np.diff(r))])
    return lambda x: np.interp(x, r, c / c[-1])


def ks(sample, cdf):
    x = np.sort(sample)
    f, n = cdf(x), len(x)
    i = np.arange(n)
    return float(max(np.max(f - i / n), np.max((i + 1) / n - f)))


def paper_reference(rows):
    """The notebook's statistics, written out in numpy: levels |l| > 1e-10;
    raw r = s_(i+1)/s_i kept if r < 10; the first third of the rows
    unfolded by a strict count over the pool of the rest; cut-off fractions
    with |l| < c."""
    rows = [np.sort(r) for r in rows]
    kept = [r[np.abs(r) > 1e-10] for r in rows]
    every, zero = [], 0
    for k in kept:
        s = np.diff(k)
        with np.errstate(divide="ignore", invalid="ignore"):
            every.append(s[1:] / s[:-1])
        zero += int(np.sum(s[:-1] == 0.0))
    every = np.concatenate(every)
    ratios = every[every < 10]
    ref = {"n_kept": sum(len(k) for k in kept), "n_computed": len(every),
           "ratios": ratios, "zero": zero}
    S = len(rows)
    if S >= 2:
        T = max(1, S // 3)
        pool = np.sort(np.concatenate(kept[T:]))
        ref["targets"], ref["pool_spectra"], ref["pool_levels"] = T, S - T, len(pool)
        ref["spacings"] = np.concatenate(
            [np.diff(np.searchsorted(pool, k, side="left") / (S - T)) for k in kept[:T]])
    mags = np.abs(np.concatenate(rows))
    ref["below"] = [int(np.sum(mags < c)) for c in PAPER_CUTOFFS]
    ref["total"] = mags.size
    return ref


def close(a, b, rel=1e-11):
    """The JSON holds 12 significant digits (io/output.c)."""
    return abs(a - b) <= rel * max(abs(b), 1e-300)


def check_hist(h, hist, values, hi, what):
    edges = np.linspace(0.0, hi, 51)
    h.expect(len(hist["edges"]) == 51 and
             all(close(a, b) for a, b in zip(hist["edges"], edges)),
             f"{what}: histogram edges {hist['edges'][:3]}... are not linspace(0, {hi}, 51)")
    counts = np.histogram(values, edges)[0].tolist()
    h.expect(hist["counts"] == counts, f"{what}: histogram counts {hist['counts']} "
             f"vs numpy {counts}")
    outside = int(np.sum((values < 0) | (values > hi)))
    h.expect(hist["outside"] == outside, f"{what}: {hist['outside']} outside vs {outside}")


def check_paper_ratios(h, pj, ref, what):
    r, pr = ref["ratios"], pj["ratios"]
    h.expect(pj["n_kept"] == ref["n_kept"], f"{what}: kept {pj['n_kept']} vs {ref['n_kept']}")
    for key, want in [("n_computed", ref["n_computed"]), ("count", len(r)),
                      ("dropped", ref["n_computed"] - len(r)),
                      ("dropped_zero_spacing", ref["zero"])]:
        h.expect(pr[key] == want, f"{what}: ratios.{key} {pr[key]} vs {want}")
    h.expect(close(pr["mean"], float(np.mean(r))), f"{what}: mean r {pr['mean']!r} "
             f"vs {np.mean(r)!r}")
    h.expect(close(pr["fraction_below_1"], float(np.mean(r < 1))),
             f"{what}: fraction below 1 {pr['fraction_below_1']}")
    check_hist(h, pr["hist"], r, 10.0, f"{what} ratios")
    goe = ks(r, goe_raw_ratio_cdf())
    poisson = ks(r, lambda x: x / (1 + x) / (10 / 11))
    h.expect(abs(pr["ks_goe"] - goe) < 1e-9, f"{what}: ratio KS GOE {pr['ks_goe']} vs {goe}")
    h.expect(abs(pr["ks_poisson"] - poisson) < 1e-9,
             f"{what}: ratio KS Poisson {pr['ks_poisson']} vs {poisson}")
    return goe, poisson


def check_paper_spacings(h, pj, ref, what):
    sj = pj["spacings"]
    if "spacings" not in ref:
        h.expect(sj["available"] is False and "not enough spectra" in sj["reason"],
                 f"{what}: one spectrum, spacings {sj}")
        return None, None
    s = ref["spacings"]
    h.expect(sj["available"] is True and sj["rescaled"] is False, f"{what}: {sj}")
    for key, want in [("n_targets", ref["targets"]), ("n_pool_spectra", ref["pool_spectra"]),
                      ("n_pool_levels", ref["pool_levels"]), ("count", len(s))]:
        h.expect(sj[key] == want, f"{what}: spacings.{key} {sj[key]} vs {want}")
    h.expect(close(sj["mean"], float(np.mean(s))), f"{what}: mean spacing {sj['mean']!r} "
             f"vs {np.mean(s)!r}")
    check_hist(h, sj["hist"], s, 5.0, f"{what} spacings")
    x = s / np.mean(s)
    goe = ks(x, lambda v: 1 - np.exp(-np.pi * v * v / 4))
    poisson = ks(x, lambda v: 1 - np.exp(-v))
    h.expect(abs(sj["ks_goe"] - goe) < 1e-9, f"{what}: spacing KS GOE {sj['ks_goe']} vs {goe}")
    h.expect(abs(sj["ks_poisson"] - poisson) < 1e-9,
             f"{what}: spacing KS Poisson {sj['ks_poisson']} vs {poisson}")
    return goe, poisson


def check_paper(h, j, rows, what):
    """Every number of paper_conventions against paper_reference."""
    pj = j.get("paper_conventions")
    h.expect(pj is not None, f"{what}: JSON lacks paper_conventions")
    if pj is None:
        return None
    ref = paper_reference(rows)
    dj = pj["degeneracy"]
    h.expect(pj["cut"] == 1e-10 and dj["cutoffs"] == PAPER_CUTOFFS,
             f"{what}: cut {pj['cut']}, cut-offs {dj['cutoffs']}")
    got = [round(f * ref["total"]) for f in dj["fractions"]]
    h.expect(got == ref["below"] and all(close(f, b / ref["total"]) for f, b in
                                         zip(dj["fractions"], ref["below"])),
             f"{what}: levels below the cut-offs {got} vs {ref['below']}")
    return check_paper_ratios(h, pj, ref, what) + check_paper_spacings(h, pj, ref, what)


def tricky_rows(rng):
    """GOE rows with what the notebook's conventions must treat exactly:
    tiny levels on both sides of 1e-10 (1e-10 itself is not kept: |l| >
    1e-10), zeros, levels exactly at cut-offs (|l| < c is strict),
    duplicates (s_i = 0) and a far level (r >= 10)."""
    rows = []
    for i in range(7):
        v = goe(rng, 120)
        v[:9] = [0.0, 0.0, 1e-12, -3e-11, 1e-10, -1e-30, 1e-50, 2e-10, 1e-4]
        v[20] = v[21]            # a duplicate
        v[-1] = 40.0 + i         # beyond the bulk: a large ratio
        rows.append(np.sort(v))
    return rows


def case_paper_conventions(h):
    """--paper-conventions: every number recomputed in numpy; the GOE
    surmises fit GOE levels and the wrong laws clearly do not; hessrmt's
    own statistics are unchanged by the flag; the flag works at the end of
    `ensemble` too; the figures; one spectrum has no unfolding."""
    out, js = h.path("goe.h5"), h.path("goe_ens.json")
    h.run(1, "ensemble", "--kind", "goe", "--n", 300, "--count", 30, "--seed", 41,
          "-q", "-o", out, "--json", js, "--paper-conventions")
    with open(js) as f:
        ens = json.load(f)
    rows = evals(out)
    plain = stats_json(h, out)
    figs = h.path("paper_figs")
    proc = stats(h, out, "--json", out + ".paper.json", "--paper-conventions", "--plots", figs)
    with open(out + ".paper.json") as f:
        j = json.load(f)
    h.expect("paper conventions" in proc.stdout and "not rescaled" in proc.stdout,
             "no paper-conventions block in the summary")
    h.expect("paper_conventions" not in plain, "paper_conventions without the flag")
    h.expect({k: v for k, v in j.items() if k != "paper_conventions"} == plain,
             "the flag changed hessrmt's own statistics")
    h.expect(ens.get("paper_conventions") == j.get("paper_conventions"),
             "ensemble --paper-conventions differs from stats --paper-conventions")
    res = check_paper(h, j, rows, "GOE 30 x 300")
    if res:
        # Measured (5 seeds of 30 numpy GOE spectra of N = 300): ratios KS
        # 0.008-0.012 against the GOE surmise, 0.139-0.147 against
        # Poisson's 1/(1+r)^2; spacings 0.032-0.054 against Wigner (the
        # unfolded levels are quantised in steps of 1/20 by the pool's 20
        # spectra, and not trimmed), 0.194-0.216 against e^-s.  The bounds
        # lie between the right and the wrong law.
        r_goe, r_poisson, s_goe, s_poisson = res
        h.expect(r_goe < 0.03 and r_poisson > 0.1, f"GOE ratios: KS GOE {r_goe:.4f}, "
                 f"Poisson {r_poisson:.4f}")
        h.expect(s_goe < 0.08 and s_poisson > 0.15, f"GOE spacings: KS Wigner "
                 f"{s_goe:.4f}, Poisson {s_poisson:.4f}")
        frac = j["paper_conventions"]["ratios"]["fraction_below_1"]
        h.expect(abs(frac - 0.5) < 0.02, f"GOE: fraction of r below 1 {frac:.4f}")
    for name in ["paper_ratios", "paper_spacings"]:
        png = os.path.join(figs, name + ".png")
        h.expect(os.path.exists(png) and png_size(png) == (1000, 700) and
                 os.path.getsize(png) > 5000, f"{name}.png missing or wrong")
        h.expect(os.path.exists(os.path.join(figs, name + ".svg")), f"{name}.svg missing")

    tricky = h.path("tricky.h5")
    rows = tricky_rows(np.random.default_rng(43))
    write_spectra(tricky, rows)
    check_paper(h, stats_json(h, tricky, "--paper-conventions"), rows, "tricky levels")
    one = h.path("one.h5")
    write_spectra(one, rows[:1])
    check_paper(h, stats_json(h, one, "--paper-conventions", "--unfold", "poly"),
                rows[:1], "one spectrum")


def case_unfolding_all(h):
    """--unfold all: on GOE and Poisson spectra every unfolding (pool, poly
    3/6/9/12, kde, spline) must find the ratio verdict's spacing law, with
    no warning; on GOE levels warped through exp (a strongly varying
    density: the local statistics are GOE's, the ratios say so) the
    polynomial of degree 3 must fail its flatness check (and so is left
    out of the spread and raises no warning), while the spline and the
    pool pass and find GOE, and auto keeps a passing one."""
    for law in ("goe", "poisson"):
        path = make_file(h, law, 600, 12, 31)
        j = stats_json(h, path, "--unfold", "all")
        names = [u["name"] for u in j["unfoldings"]]
        h.expect(names == ["pool", "poly 3", "poly 6", "poly 9", "poly 12",
                           "kde", "spline"], f"{law}: unfoldings {names}")
        ok = [u for u in j["unfoldings"] if u["ok"]]
        h.expect(len(ok) == 7 and all(u["nearest"] == law for u in ok) and
                 not any(u["flagged"] for u in ok) and
                 j["unfolding_warning"] is None,
                 f"{law}: {[(u['name'], u.get('nearest')) for u in j['unfoldings']]} "
                 f"{j['unfolding_warning']}")
        spread = j["unfolding_spread"]
        h.expect(spread["ks_goe"] is not None and spread["ks_goe"] < 0.1,
                 f"{law}: spread of KS GOE {spread}")
        expect_law(h, j, law, f"{law} --unfold all")
        print(f"{law}: every unfolding agrees; spread {spread}")
    rng = np.random.default_rng(8)
    rows = []
    for _ in range(12):
        e = goe(rng, 600)
        rows.append(np.sort(np.exp(5 * e / np.abs(e).max())))
    warped = h.path("warped.h5")
    write_spectra(warped, rows)
    proc = stats(h, warped, "--unfold", "all", "--json", warped + ".json")
    with open(warped + ".json") as f:
        j = json.load(f)
    by = {u["name"]: u for u in j["unfoldings"]}
    h.expect(j["verdict"] == "goe", f"warped: ratio verdict {j['verdict']}")
    h.expect(by["poly 3"]["flagged"] and by["poly 3"]["nearest"] != "goe",
             f"warped: poly 3 not flagged: {by['poly 3']}")
    h.expect(not by["spline"]["flagged"] and not by["pool"]["flagged"],
             f"warped: spline {by['spline'].get('nearest')}, pool "
             f"{by['pool'].get('nearest')}")
    h.expect(not by["poly 3"]["passed"] and not by["poly 3"]["flat"]
             and by["spline"]["passed"] and by["pool"]["passed"],
             f"warped: checks poly 3 {by['poly 3']['passed']}, spline "
             f"{by['spline']['passed']}, pool {by['pool']['passed']}")
    h.expect(j["unfolding_warning"] is None and "WARNING" not in proc.stdout,
             f"warped: warning {j['unfolding_warning']}")
    h.expect(j["spacing_reliable"] and by[j["unfold"]]["passed"]
             and by[j["unfold"]]["nearest"] == "goe",
             f"warped: auto kept {j['unfold']}")
    print("warped: flagged " + ", ".join(n for n, u in by.items() if u.get("flagged")))


def case_adversarial(h):
    """Spectra built to break the statistics: GOE bulks with outliers 10^3
    times the bulk's scale on both sides, 90% exact zeros, 80% of the
    levels in five-fold clusters, and all three at once.  Each runs with auto and
    with every unfolding side by side; the stats helper checks that nothing
    impossible is printed or written.  Beyond that: the outliers are left
    out by the bulk's fences and the ratios still say GOE; the zeros are
    counted as exact zeros; of the degenerate levels, the spacing ratios
    that touch a zero spacing are counted (as numpy counts them), left
    out, and the verdict says it describes the rest; levels
    that are all degenerate have no ratio at all and are a clear error,
    not a number."""
    rng = np.random.default_rng(27)
    n, count = 600, 6
    bulks = [goe(rng, n) for _ in range(count)]
    scale = max(np.ptp(b) for b in bulks)

    def with_outliers(b):
        out = np.concatenate([b, 1e3 * scale * rng.uniform(0.5, 1.0, 6),
                              -1e3 * scale * rng.uniform(0.5, 1.0, 3)])
        return np.sort(out)

    def with_zeros(b):
        return np.sort(np.concatenate([b, np.zeros(9 * len(b))]))

    def degenerate(b):  # 80% of the levels in five-fold clusters
        k = 4 * len(b) // 5
        return np.sort(np.concatenate([np.repeat(b[:k:5], 5), b[k:]]))

    spectra = {"outliers": [with_outliers(b) for b in bulks],
               "zeros": [with_zeros(b) for b in bulks],
               "degenerate": [degenerate(b) for b in bulks],
               "all": [with_zeros(with_outliers(degenerate(b))) for b in bulks]}
    for name, rows in spectra.items():
        path = h.path(f"adversarial_{name}.h5")
        width = max(len(r) for r in rows)
        write_spectra(path, [np.pad(r, (0, width - len(r))) for r in rows])
        j = stats_json(h, path)
        stats_json(h, path, "--unfold", "all")
        if name == "outliers":
            h.expect(j["verdict"] == "goe" and j["n_outliers"] >= 9 * count
                     and j["spacing_reliable"],
                     f"outliers: verdict {j['verdict']}, {j['n_outliers']} outliers, "
                     f"unfolding {j['unfold']}")
        if name == "zeros":
            h.expect(j["exact_zeros"] == 9 * n * count and j["verdict"] == "goe",
                     f"zeros: {j['exact_zeros']} exact zeros, verdict {j['verdict']}")
        if name in ("degenerate", "all"):
            # ratios touching a zero spacing, counted here from the levels
            zero = 0
            for r in rows:
                v = np.sort(r)
                v = v[np.abs(v) > j["cut"]]
                sp = np.diff(v)
                zero += int(np.sum((sp[:-1] <= 0) | (sp[1:] <= 0)))
            h.expect(j["ratios_degenerate"] == zero and zero > 0.5 * (j["n_ratios"] + zero)
                     and "touch a zero spacing (degenerate levels)" in j["verdict_text"],
                     f"{name}: {j['ratios_degenerate']} degenerate ratios, expected "
                     f"{zero}; {j['verdict_text']}")
        print(f"{name}: verdict {j['verdict']}, rigidity {j['rigidity']}, unfolding "
              f"{j['unfold']}, reliable {j['spacing_reliable']}")
    every = h.path("adversarial_every.h5")
    write_spectra(every, [np.repeat(b[::5], 5) for b in bulks])
    stats_error(h, [every], "every spacing ratio touches a zero spacing",
                "every level degenerate")


def spectra_files(root, per_folder=4):
    """HDF5 files under root with a hessian_evals dataset: up to per_folder
    of each folder (a test's files are mostly of one kind; the mutation
    and rank-count folders hold hundreds of near copies)."""
    for d, _, names in os.walk(root):
        found = []
        for name in sorted(names):
            path = os.path.join(d, name)
            if not name.endswith(".h5") or os.path.getsize(path) > 2 ** 30:
                continue
            try:
                with h5py.File(path, "r") as f:
                    if isinstance(f.get("hessian_evals"), h5py.Dataset):
                        found.append(path)
            except (OSError, KeyError):  # parts being torn, damaged on purpose
                continue
        step = max(1, len(found) // per_folder)
        yield from found[::step][:per_folder]


def case_suite_files(h):
    """`stats` on the spectra files the suite has made so far (it runs
    last; up to 4 per test folder, two at a time): either a clean error
    (damaged, partial, too few levels: a message and exit status 1-9, never
    a signal) or statistics with no NaN printed and no negative Sigma^2 or
    Delta_3 -- the stats helper's checks, on spectra of every command,
    model, method and fault case."""
    root = os.path.dirname(h.workdir)
    paths = [p for p in spectra_files(root) if not p.startswith(h.workdir)]

    def one(job):
        n, path = job
        proc = stats(h, path, "--json", h.path(f"{n}.json"), check=False)
        if proc.returncode != 0:
            h.expect(0 < proc.returncode < 10 and "error" in proc.stderr,
                     f"stats {path}: exit {proc.returncode}: {proc.stderr[-600:]}")
        return proc.returncode == 0

    with ThreadPoolExecutor(max_workers=2) as pool:
        ok = list(pool.map(one, enumerate(paths)))
    print(f"stats on {sum(ok)} spectra files of the suite, {len(ok) - sum(ok)} "
          f"clean errors")
    h.expect(sum(ok) > 0, f"no spectra file under {root}")


CASES = {"paper_conventions": case_paper_conventions, "calibration": case_calibration, "beta_ensembles": case_beta_ensembles,
         "long_range": case_long_range, "figures": case_figures,
         "hessian": case_hessian, "rank_independence": case_rank_independence,
         "errors": case_errors, "unfolding_all": case_unfolding_all,
         "adversarial": case_adversarial, "suite_files": case_suite_files}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
