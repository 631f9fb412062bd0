#!/usr/bin/env python3
"""The bad-input matrix: every input format (npy, IDX, CSV, plain and
gzipped; HDF5 data, weights and spectra; the CSV of lossfit) missing, empty,
truncated and corrupted, with wrong dtypes and shapes, NaN and Inf, labels
out of range, weights that do not fit the model, more ranks than rows,
impossible grids and block sizes, unwritable outputs and too little memory.

Each case runs under mpiexec at the case's rank count and must: exit
non-zero within 30 s on every rank (no hang), print exactly one error line
that names the problem, leave no FILE.partial, and leave an existing output
file untouched (Harness.error_case).

Case 'mutations' corrupts valid files at random (seeded): truncation at any
byte, overwritten byte ranges, flipped bits in the header, at 4 ranks.  Any
outcome but a clean success or a clean failure (a hang, a crash, two error
lines, a leftover partial, a changed output after a failure) fails."""
import gzip
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

from e2e_common import Harness

ROWS, DIM, CLASSES = 40, 6, 3
MODEL = f"mlp:{DIM}-4-{CLASSES}"


# ---- valid inputs ------------------------------------------------------------

def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def idx_bytes(array, code=0x08):
    head = bytes([0, 0, code, array.ndim])
    head += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(">u1" if code == 0x08 else ">f8").tobytes()


def valid_inputs(h):
    """One valid file of every format, and the arguments that read it."""
    rng = np.random.default_rng(7)
    x = rng.normal(size=(ROWS, DIM))
    y = rng.integers(0, CLASSES, ROWS)
    pixels = rng.integers(0, 256, (ROWS, 2, 3)).astype(np.uint8)
    np.save(h.path("x.npy"), x)
    np.save(h.path("y.npy"), y)
    write(h.path("x.npy.gz"), gzip.compress(open(h.path("x.npy"), "rb").read()))
    csv = "".join(",".join(f"{v:.17g}" for v in row) + f",{c}\n"
                  for row, c in zip(x, y))
    write(h.path("x.csv"), csv.encode())
    write(h.path("x.csv.gz"), gzip.compress(csv.encode()))
    write(h.path("img-idx3-ubyte"), idx_bytes(pixels))
    write(h.path("lab-idx1-ubyte"), idx_bytes(y.astype(np.uint8)))
    write(h.path("img-idx3-ubyte.gz"), gzip.compress(idx_bytes(pixels)))
    write(h.path("lab-idx1-ubyte.gz"),
          gzip.compress(idx_bytes(y.astype(np.uint8))))
    with h5py.File(h.path("data.h5"), "w") as f:
        f["features"] = x
        f["labels"] = y
    with h5py.File(h.path("weights.h5"), "w") as f:
        for l, (out, inp) in enumerate([(4, DIM), (CLASSES, 4)]):
            f[f"layers/{l}/weight"] = rng.uniform(-0.5, 0.5, (out, inp))
            f[f"layers/{l}/bias"] = rng.uniform(-0.5, 0.5, out)
    with h5py.File(h.path("spectra.h5"), "w") as f:
        f["hessian_evals"] = np.sort(rng.normal(size=(8, 60)), axis=1)
    hist = "epoch,test_loss\n" + "".join(
        f"{t},{0.3 + 2 * np.exp(-0.4 * t):.12g}\n" for t in range(20))
    write(h.path("history.csv"), hist.encode())
    return {
        "npy": ["hessian", "--data", h.path("x.npy"), "--labels", h.path("y.npy"),
                "--model", MODEL],
        "npy.gz": ["hessian", "--data", h.path("x.npy.gz"), "--labels",
                   h.path("y.npy"), "--model", MODEL],
        "csv": ["hessian", "--data", h.path("x.csv"), "--model", MODEL],
        "csv.gz": ["hessian", "--data", h.path("x.csv.gz"), "--model", MODEL],
        "idx": ["hessian", "--data", h.path("img-idx3-ubyte"), "--labels",
                h.path("lab-idx1-ubyte"), "--scale-pixels", "--model",
                f"mlp:6-4-{CLASSES}"],
        "idx.gz": ["hessian", "--data", h.path("img-idx3-ubyte.gz"), "--labels",
                   h.path("lab-idx1-ubyte.gz"), "--scale-pixels", "--model",
                   f"mlp:6-4-{CLASSES}"],
        "h5": ["hessian", "--data", h.path("data.h5"), "--model", MODEL],
        "weights": ["hessian", "--data", h.path("x.npy"), "--labels",
                    h.path("y.npy"), "--model", MODEL, "--weights",
                    h.path("weights.h5")],
        "batches": ["hessian", "--data", h.path("x.npy"), "--labels",
                    h.path("y.npy"), "--model", MODEL, "--batch-size", "20"],
        "spectra": ["stats", h.path("spectra.h5"), "--json", "OUT"],
        "lossfit": ["lossfit", h.path("history.csv"), "--json", "OUT"],
    }


def replace_arg(args, old, new):
    return [new if a == old else a for a in args]


# ---- the matrix --------------------------------------------------------------

def bad_file(h, name, data):
    path = h.path(name)
    write(path, data)
    return path


def npy_with(h, name, array):
    path = h.path(name)
    np.save(path, array)
    return path


def file_cases(h, base):
    """Missing, empty, truncated and corrupted files of every format."""
    x_raw = open(h.path("x.npy"), "rb").read()
    idx_raw = open(h.path("img-idx3-ubyte"), "rb").read()
    csv_raw = open(h.path("x.csv"), "rb").read()
    h5_raw = open(h.path("data.h5"), "rb").read()
    gz = open(h.path("x.csv.gz"), "rb").read()
    idx_gz = open(h.path("img-idx3-ubyte.gz"), "rb").read()
    garbage = bytes(np.random.default_rng(3).integers(0, 256, 4096, np.uint8))
    xs, imgs = h.path("x.npy"), h.path("img-idx3-ubyte")
    csv, data_h5 = h.path("x.csv"), h.path("data.h5")
    cases = []

    def add(fmt, old, path, needle, name):
        cases.append((replace_arg(base[fmt], old, path), needle, name))

    for fmt, old, raw, ext in [("npy", xs, x_raw, ".npy"),
                               ("idx", imgs, idx_raw, "-idx3-ubyte"),
                               ("csv", csv, csv_raw, ".csv"),
                               ("h5", data_h5, h5_raw, ".h5")]:
        tag = fmt.replace(".", "")
        add(fmt, old, h.path("nowhere" + ext), "nowhere" + ext, f"{tag}_missing")
        add(fmt, old, bad_file(h, "empty" + ext, b""), "empty" + ext,
            f"{tag}_empty")
        cut = len(raw) - 9 if fmt != "h5" else len(raw) // 2
        add(fmt, old, bad_file(h, "cut" + ext, raw[:cut]), "cut" + ext,
            f"{tag}_truncated")
        add(fmt, old, bad_file(h, "junk" + ext, garbage), "junk" + ext,
            f"{tag}_garbage")
    add("npy", xs, bad_file(h, "cuthead.npy", x_raw[:40]), "cuthead.npy",
        "npy_truncated_header")
    head = x_raw.replace(b"'descr'", b"'dexcr'", 1)
    add("npy", xs, bad_file(h, "badhead.npy", head), "badhead.npy",
        "npy_corrupt_header")
    add("npy.gz", h.path("x.npy.gz"),
        bad_file(h, "cut.npy.gz", open(h.path("x.npy.gz"), "rb").read()[:200]),
        "cut.npy.gz", "npygz_truncated")
    add("csv.gz", h.path("x.csv.gz"), bad_file(h, "cut.csv.gz", gz[:len(gz) // 2]),
        "cut.csv.gz", "csvgz_truncated")
    add("csv.gz", h.path("x.csv.gz"),
        bad_file(h, "junk.csv.gz", gz[:10] + garbage[:200]), "junk.csv.gz",
        "csvgz_corrupt")
    add("idx.gz", h.path("img-idx3-ubyte.gz"),
        bad_file(h, "cut-idx3-ubyte.gz", idx_gz[:len(idx_gz) // 2]),
        "cut-idx3-ubyte.gz", "idxgz_truncated")
    add("idx.gz", h.path("img-idx3-ubyte.gz"),
        bad_file(h, "junk-idx3-ubyte.gz", gzip.compress(garbage)),
        "junk-idx3-ubyte.gz", "idxgz_garbage")
    add("idx", imgs, bad_file(h, "code-idx3-ubyte", idx_raw[:2] + b"\x0a" +
                              idx_raw[3:]), "code-idx3-ubyte", "idx_type_code")
    add("idx", h.path("lab-idx1-ubyte"),
        bad_file(h, "short-idx1-ubyte",
                 idx_bytes(np.zeros(ROWS - 1, np.uint8))), "short-idx1-ubyte",
        "idx_label_count")
    return cases


def content_cases(h, base):
    """Wrong dtypes and shapes, NaN and Inf, labels out of range."""
    x, y = np.load(h.path("x.npy")), np.load(h.path("y.npy"))
    xs, ys = h.path("x.npy"), h.path("y.npy")
    cases = []

    def npy(old, name, array, needle):
        path = npy_with(h, name + ".npy", array)
        cases.append((replace_arg(base["npy"], old, path), needle, name))

    npy(xs, "complex", x.astype(np.complex128), "complex.npy")
    npy(xs, "strings", x.astype("U8"), "strings.npy")
    npy(xs, "objects", np.array(x, dtype=object), "objects.npy")
    npy(xs, "vector", x[:, 0], "vector.npy")
    npy(xs, "fewer_rows", x[:-1], "rows")
    npy(ys, "labels_2d", y.reshape(ROWS // 2, 2), "labels_2d.npy")
    nan = x.copy()
    nan[5, 1] = np.nan
    npy(xs, "nan", nan, "nan.npy")
    inf = x.copy()
    inf[11, 4] = -np.inf
    npy(xs, "inf", inf, "inf.npy")
    high = y.copy()
    high[4] = CLASSES
    npy(ys, "label_high", high, "outside [0, 3)")
    low = y.copy()
    low[6] = -1
    npy(ys, "label_negative", low, "label_negative.npy")
    frac = y.astype(np.float64)
    frac[2] = 0.5
    npy(ys, "label_fraction", frac, "label_fraction.npy")
    lines = open(h.path("x.csv")).read().splitlines()
    for name, row, edit, needle in [
            ("csv_nan", 3, lambda f: f[:2] + ["nan"] + f[3:], "csv_nan.csv"),
            ("csv_inf", 8, lambda f: ["inf"] + f[1:], "csv_inf.csv"),
            ("csv_text", 5, lambda f: f[:1] + ["abc"] + f[2:], "csv_text.csv"),
            ("csv_ragged", 9, lambda f: f[:-2], "csv_ragged.csv"),
            ("csv_label", 2, lambda f: f[:-1] + ["7"], "outside [0, 3)")]:
        text = list(lines)
        text[row] = ",".join(edit(text[row].split(",")))
        path = bad_file(h, name + ".csv", ("\n".join(text) + "\n").encode())
        cases.append((replace_arg(base["csv"], h.path("x.csv"), path), needle,
                      name))
    for name, features, needle in [
            ("h5_nan", np.where(np.arange(ROWS * DIM).reshape(ROWS, DIM) == 17,
                                np.nan, x), "h5_nan.h5"),
            ("h5_vector", x[:, 0], "h5_vector.h5"),
            ("h5_strings", np.array([b"a"] * ROWS), "h5_strings.h5")]:
        with h5py.File(h.path(name + ".h5"), "w") as f:
            f["features"] = features
            f["labels"] = y
        cases.append((replace_arg(base["h5"], h.path("data.h5"),
                                  h.path(name + ".h5")), needle, name))
    with h5py.File(h.path("h5_nolabels.h5"), "w") as f:
        f["features"] = x
    cases.append((replace_arg(base["h5"], h.path("data.h5"),
                              h.path("h5_nolabels.h5")), "labels",
                  "h5_no_labels"))
    return cases


def weights_cases(h, base):
    """Weight files that do not match the model."""
    good = h.path("weights.h5")
    cases = []

    def variant(name, edit, needle):
        path = h.path(name + ".h5")
        with h5py.File(good, "r") as src, h5py.File(path, "w") as dst:
            for l in range(2):
                for p in ("weight", "bias"):
                    dst[f"layers/{l}/{p}"] = src[f"layers/{l}/{p}"][...]
            edit(dst)
        cases.append((replace_arg(base["weights"], good, path), needle, name))

    def reshape(f):
        del f["layers/0/weight"]
        f["layers/0/weight"] = np.zeros((5, DIM))

    def nan(f):
        f["layers/1/bias"][1] = np.nan

    variant("w_shape", reshape, "(5, 6)")
    variant("w_missing", lambda f: f.__delitem__("layers/1/bias"), "layers/1/bias")
    variant("w_nan", nan, "non-finite")
    variant("w_extra", lambda f: f.create_dataset("layers/2/weight",
                                                  data=np.zeros((3, 3))),
            "more layers with parameters than the model's 2")
    cases.append((replace_arg(base["weights"], good, h.path("x.csv")), "x.csv",
                  "w_not_hdf5"))
    cases.append((replace_arg(base["weights"], good, h.path("none.h5")),
                  "none.h5", "w_missing_file"))
    return cases


def spectra_cases(h, base):
    """Spectra files for stats and merge, history CSV files for lossfit."""
    cases = []
    good = h.path("spectra.h5")
    for name, data, needle in [
            ("s_empty", b"", "s_empty.h5"),
            ("s_text", b"hessian_evals\n1 2 3\n", "s_text.h5"),
            ("s_cut", open(good, "rb").read()[:1500], "s_cut.h5")]:
        path = bad_file(h, name + ".h5", data)
        cases.append((replace_arg(base["spectra"], good, path), needle, name))
    for name, content, needle in [
            ("s_nodset", {"other": np.zeros((2, 5))}, "hessian_evals"),
            ("s_nan", {"hessian_evals": np.array([[1.0, np.nan, 3, 4, 5]] * 3)},
             "s_nan.h5"),
            ("s_strings", {"hessian_evals": np.array([[b"x"] * 5] * 2)},
             "s_strings.h5")]:
        with h5py.File(h.path(name + ".h5"), "w") as f:
            for k, v in content.items():
                f[k] = v
        cases.append((replace_arg(base["spectra"], good, h.path(name + ".h5")),
                      needle, name))
    cases.append((["merge", h.path("ok_batches.out"), h.path("s_cut.h5"), "-o",
                   "OUT"], "s_cut.h5", "merge_truncated"))
    hist = h.path("history.csv")
    text = open(hist).read().splitlines()
    for name, lines, needle in [
            ("l_empty", [], "l_empty.csv"),
            ("l_header", text[:1], "l_header.csv"),
            # (a literal nan is "no value", as train --history writes it)
            ("l_inf", text[:5] + ["5,inf"] + text[6:], "l_inf.csv"),
            ("l_column", ["epoch,train_loss"] + text[1:], "test_loss")]:
        path = bad_file(h, name + ".csv", "\n".join(lines).encode())
        cases.append((replace_arg(base["lossfit"], hist, path), needle, name))
    cases.append((replace_arg(base["lossfit"], hist, h.path("none.csv")),
                  "none.csv", "l_missing"))
    return cases


def layout_cases(h, base, np_):
    """Ranks, grids, block sizes, outputs and memory that cannot work."""
    npy = base["npy"]
    cases = [
        (npy + ["--grid", "3x3"], "--grid 3x3 needs 9 ranks", "grid_size"),
        (npy + ["--nblk", "0"], "--nblk 0", "nblk_zero"),
        (npy + ["-o", "/nonexistent/dir/out.h5"], "does not exist", "out_dir"),
        (npy + ["-o", "/proc/hessrmt-out.h5"], "cannot create", "out_unwritable"),
        (npy + ["-o", h.path("x.npy") + "/out.h5"], "x.npy", "out_under_file"),
        (npy + ["--max-mem", "1K"], "not enough memory", "memory"),
        (npy + ["--groups", str(np_ + 1)], f"--groups {np_ + 1} needs",
         "groups"),
        (["train", *npy[1:], "--epochs", "1", "-o", "/nonexistent/w.h5"],
         "does not exist", "train_out_dir"),
        (base["spectra"] + ["--plots", "/proc/hessrmt-plots"],
         "hessrmt-plots", "stats_unwritable"),
    ]
    if np_ > 1:
        cases += [
            (npy + ["--limit", str(np_ - 1)], "rank", "ranks_over_rows"),
            (npy + ["--batch-size", str(np_ - 1), "--groups", "1"],
             "every rank needs",
             "ranks_over_batch"),
            (npy + ["--nblk", "60"], "too large", "nblk_too_large"),
            (npy + ["--grid", f"1x{np_ + 1}"], "needs", "grid_shape"),
        ]
    return cases


def matrix(h, np_):
    base = valid_inputs(h)
    # The valid inputs themselves must work, or every case below is moot.
    for fmt, args in base.items():
        out = h.path(f"ok_{fmt}.out")
        a = replace_arg(args, "OUT", out)
        if "OUT" not in args:
            a += ["-q", "-o", out]
        proc = h.run(np_, *a, check=False, timeout=120)
        h.expect(proc.returncode == 0 and os.path.exists(out),
                 f"valid {fmt} failed: {proc.stderr.strip()[:300]}")
    cases = (file_cases(h, base) + content_cases(h, base) +
             weights_cases(h, base) + spectra_cases(h, base) +
             layout_cases(h, base, np_))
    # mpiexec spends ~2 s tearing down a failed job, mostly idle: run
    # several cases at once.
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: h.error_case(np_, *c), cases))
    print(f"{len(cases)} bad-input cases at {np_} ranks")


# ---- random mutations --------------------------------------------------------

def mutate(raw, rng):
    """A random corruption: truncate, overwrite a range, or flip header bits."""
    raw = bytearray(raw)
    kind = rng.integers(3)
    if kind == 0:
        return bytes(raw[:rng.integers(0, len(raw))]), "truncated"
    if kind == 1:
        start = int(rng.integers(0, len(raw)))
        length = int(rng.integers(1, 64))
        raw[start:start + length] = rng.integers(0, 256, len(raw[start:start + length]),
                                                 np.uint8).tobytes()
        return bytes(raw), f"overwritten at {start}"
    for _ in range(4):
        pos = int(rng.integers(0, min(len(raw), 128)))
        raw[pos] ^= 1 << int(rng.integers(8))
    return bytes(raw), "header bits flipped"


def case_mutations(h, np_=4, count=72):
    base = valid_inputs(h)
    targets = [("npy", h.path("x.npy")), ("npy.gz", h.path("x.npy.gz")),
               ("csv", h.path("x.csv")), ("csv.gz", h.path("x.csv.gz")),
               ("idx", h.path("img-idx3-ubyte")), ("idx.gz", h.path("img-idx3-ubyte.gz")),
               ("h5", h.path("data.h5")), ("weights", h.path("weights.h5")),
               ("spectra", h.path("spectra.h5"))]
    rng = np.random.default_rng(2026)
    outcomes = {"ok": 0, "error": 0}
    for k in range(count):
        fmt, path = targets[k % len(targets)]
        data, how = mutate(open(path, "rb").read(), rng)
        name = f"mut{k}_" + os.path.basename(path)
        bad = bad_file(h, name, data)
        args = replace_arg(base[fmt], path, bad)
        out = h.path(f"mut{k}.out")
        write(out, b"precious")
        a = replace_arg(args, "OUT", out)
        if "OUT" not in args:
            a += ["-q", "-o", out]
        label = f"{fmt} {how} ({name})"
        try:
            proc = h.run(np_, *a, check=False, timeout=60)
        except subprocess.TimeoutExpired:
            h.expect(False, f"{label}: hung")
            continue
        errors = proc.stderr.count("hessrmt: error")
        if os.environ.get("HR_SHOW_ERRORS"):
            print(f"[{label}] rc {proc.returncode}: "
                  + " ".join(l for l in proc.stderr.splitlines()
                             if l.startswith("hessrmt: error")))
        h.expect(not os.path.exists(out + ".partial"), f"{label}: partial left")
        if proc.returncode == 0:
            outcomes["ok"] += 1
            h.expect(errors == 0 and open(out, "rb").read() != b"precious",
                     f"{label}: success without output")
        else:
            outcomes["error"] += 1
            h.expect(errors == 1 and proc.returncode in (3, 4),
                     f"{label}: exit {proc.returncode}, {errors} error lines: "
                     f"{proc.stderr.strip()[-400:]}")
            h.expect(open(out, "rb").read() == b"precious",
                     f"{label}: output changed by a failed run")
            h.expect(name in proc.stderr or "hessian_evals" in proc.stderr,
                     f"{label}: message does not name the file: "
                     f"{proc.stderr.strip()[:300]}")
        h.expect(proc.seconds < 30, f"{label}: took {proc.seconds:.1f} s")
    print(f"mutations at {np_} ranks: {outcomes}")


def case_huge_values(h):
    """Finite but huge entries (1e150 squared) overflow inside ELPA unless
    the matrix is rescaled first: they once hung 4 ranks.  With
    squared error, the logistic model's Hessian is I_C (x) X~^T X~ / n (X~
    with a column of ones), whose eigenvalues numpy gives; 1 and 4 ranks
    must both find them."""
    valid_inputs(h)
    x, y = np.load(h.path("x.npy")), np.load(h.path("y.npy"))
    x[7, 2] = x[9, 4] = 1e150  # one alone did not break ELPA; two did
    np.save(h.path("huge.npy"), x)
    xt = np.hstack([x, np.ones((ROWS, 1))])
    ref = np.sort(np.repeat(np.linalg.eigvalsh(xt.T @ xt / ROWS), CLASSES))
    for np_ in (1, 4):
        out = h.path(f"huge{np_}.h5")
        h.run(np_, "hessian", "--data", h.path("huge.npy"), "--labels",
              h.path("y.npy"), "--model", "logistic", "--loss", "mse",
              "--method", "dense", "--no-stats", "-q", "-o", out, timeout=60)
        with h5py.File(out, "r") as f:
            got = np.sort(f["hessian_evals"][0])
        err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
        h.expect(np.all(np.isfinite(got)) and err < 1e-12,
                 f"huge entries at {np_} ranks: error {err:.3g}, "
                 f"max {np.max(np.abs(got)):.3g} vs {np.max(ref):.3g}")


CASES = {
    "huge_values": case_huge_values,
    "np1": lambda h: matrix(h, 1),
    "np2": lambda h: matrix(h, 2),
    "np4": lambda h: matrix(h, 4),
    "mutations": case_mutations,
}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
