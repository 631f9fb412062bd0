#!/usr/bin/python3
"""Write the dataset fixtures that tests/test_dataset.c reads.

Usage: make_dataset_fixtures.py OUTDIR

Every good fixture holds the same N x D table, written with numpy and h5py
(independent of hessrmt's readers), so the C test checks each value against
a formula of (row, column):

  float formats   x[i, j] = (i - 10) / 2 + j / 8      (exact in float32)
  integer formats x[i, j] = (7 i + 3 j) mod 256        (uint8: IDX, npy)
  labels          i mod 4

Broken fixtures each carry one defect the readers must name.  When Debian's
dataset-fashion-mnist is installed, fashion_mnist.txt records a checksum of
its training set for the C test to compare with (order-independent, uint64
wrap-around: sum over rows i, columns j of x[i, j] * w(i * D + j)).
"""
import gzip
import os
import shutil
import sys

import h5py
import numpy as np

N, D = 37, 5
FASHION = "/usr/share/datasets/fashion-mnist"
MIX = np.uint64(0x9E3779B97F4A7C15)


def fval():
    i = np.arange(N, dtype=np.float64)[:, None]
    j = np.arange(D, dtype=np.float64)[None, :]
    return (i - 10) / 2 + j / 8


def ival():
    i = np.arange(N)[:, None]
    j = np.arange(D)[None, :]
    return ((7 * i + 3 * j) % 256).astype(np.uint8)


def labels():
    return (np.arange(N) % 4).astype(np.int64)


def idx_bytes(array, code):
    head = bytes([0, 0, code, array.ndim])
    head += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return head + array.astype(">u1" if code == 8 else array.dtype).tobytes()


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_gz(path, data):
    with gzip.open(path, "wb") as f:
        f.write(data)


def csv_text(header, crlf=False, blank=False):
    x, y = fval(), labels()
    end = "\r\n" if crlf else "\n"
    lines = ["f0,f1,f2,f3,f4,label"] if header else []
    for i in range(N):
        lines.append(",".join(repr(float(v)) for v in x[i]) + ",%d" % y[i])
        if blank and i == 3:
            lines.append("")  # blank lines are skipped
    return end.join(lines) + end


def good(out):
    x, y = fval(), labels()
    with h5py.File(os.path.join(out, "data.h5"), "w") as f:
        f["features"] = x
        f["labels"] = y
        f["feat_f32"] = x.astype(np.float32)
        f["lab_u8"] = y.astype(np.uint8)
        f["targets"] = np.arange(N) * 0.25
        f["images"] = ival().reshape(N, 1, D)  # 3-D: flattened to N x 5
    np.save(os.path.join(out, "features.npy"), x.astype(np.float32))
    np.save(os.path.join(out, "features_f64.npy"), x)
    np.save(os.path.join(out, "features_be.npy"), x.astype(">f8"))
    with open(os.path.join(out, "features_f64.npy"), "rb") as f:
        write_gz(os.path.join(out, "features_f64.npy.gz"), f.read())
    np.save(os.path.join(out, "features_u8.npy"), ival())
    const = x.copy()
    const[:, 2] = 0.1  # a constant column: standardization only centres it
    np.save(os.path.join(out, "features_const.npy"), const)
    np.save(os.path.join(out, "labels.npy"), y)
    np.save(os.path.join(out, "labels_i4.npy"), y.astype("<i4").reshape(N, 1))
    np.save(os.path.join(out, "labels_f8.npy"), y.astype(np.float64))
    images = idx_bytes(ival().reshape(N, 1, D), 8)
    lab = idx_bytes(y.astype(np.uint8), 8)
    write(os.path.join(out, "images-idx3-ubyte"), images)
    write(os.path.join(out, "labels-idx1-ubyte"), lab)
    write_gz(os.path.join(out, "gz-images-idx3-ubyte.gz"), images)
    write_gz(os.path.join(out, "gz-labels-idx1-ubyte.gz"), lab)
    write(os.path.join(out, "data.csv"), csv_text(False).encode())
    write(os.path.join(out, "data_header.csv"),
          csv_text(True, blank=True).encode())
    write_gz(os.path.join(out, "data.csv.gz"), csv_text(True, crlf=True).encode())


def broken(out):
    x, y = fval(), labels()
    raw = open(os.path.join(out, "features_f64.npy"), "rb").read()
    write(os.path.join(out, "trunc.npy"), raw[:-8])
    np.save(os.path.join(out, "fortran.npy"), np.asfortranarray(x))
    np.save(os.path.join(out, "labels_short.npy"), y[:N - 1])
    np.save(os.path.join(out, "features_1d.npy"), x[:, 0])
    bad = x.copy()
    bad[20, 3] = np.nan
    np.save(os.path.join(out, "nan.npy"), bad)
    neg = y.copy()
    neg[7] = -1
    np.save(os.path.join(out, "labels_neg.npy"), neg)
    frac = y.astype(np.float64)
    frac[9] = 2.5
    np.save(os.path.join(out, "labels_frac.npy"), frac)
    lines = csv_text(False).split("\n")
    lines[9] = lines[9].rsplit(",", 2)[0] + ",1"  # line 10: one field short
    write(os.path.join(out, "ragged.csv"), "\n".join(lines).encode())
    lines = csv_text(False).split("\n")
    fields = lines[12].split(",")
    fields[2] = "nan"  # row 12 (line 13)
    lines[12] = ",".join(fields)
    write(os.path.join(out, "nan.csv"), "\n".join(lines).encode())
    lines = csv_text(False).split("\n")
    lines[5] = "abc," + lines[5].split(",", 1)[1]  # line 6: not a number
    write(os.path.join(out, "text.csv"), "\n".join(lines).encode())
    lines = csv_text(False).split("\n")
    lines[3] = lines[3][:2] + "\0" + lines[3][2:]  # line 4: a NUL byte
    write(os.path.join(out, "nul.csv"), "\n".join(lines).encode())
    gz = gzip.compress(csv_text(True).encode())
    write(os.path.join(out, "trunc.csv.gz"), gz[:len(gz) * 2 // 3])
    write(os.path.join(out, "empty.csv"), b"")
    write(os.path.join(out, "empty.npy"), b"")
    images = idx_bytes(ival().reshape(N, 1, D), 8)
    write(os.path.join(out, "trunc-images-idx3-ubyte"), images[:-7])
    gz = gzip.compress(images)
    write(os.path.join(out, "truncgz-images-idx3-ubyte.gz"), gz[:len(gz) // 2])


def fashion_checksum(out):
    """Checksum of the training images and labels, read with Python's gzip."""
    path = os.path.join(out, "fashion_mnist.txt")
    if not os.path.isdir(FASHION):
        if os.path.exists(path):
            os.remove(path)
        return
    with gzip.open(os.path.join(FASHION, "train-images-idx3-ubyte.gz")) as f:
        raw = f.read()
    n, r, c = (int.from_bytes(raw[4 + 4 * k:8 + 4 * k], "big") for k in range(3))
    x = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, r * c)
    with gzip.open(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")) as f:
        y = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    total = np.uint64(0)
    dim = r * c
    with np.errstate(over="ignore"):
        for start in range(0, n, 4096):
            block = x[start:start + 4096].astype(np.uint64)
            k = np.arange(start * dim, start * dim + block.size, dtype=np.uint64)
            w = k * MIX + np.uint64(1)
            total += np.sum(block.ravel() * w, dtype=np.uint64)
        k = np.arange(n, dtype=np.uint64)
        ltotal = np.sum(y.astype(np.uint64) * (k * MIX + np.uint64(1)),
                        dtype=np.uint64)
    with open(path, "w") as f:
        f.write("%d %d %d %d\n" % (n, dim, int(total), int(ltotal)))


def main():
    out = sys.argv[1]
    if os.path.isdir(out):
        shutil.rmtree(out)
    os.makedirs(out)
    good(out)
    broken(out)
    fashion_checksum(out)


if __name__ == "__main__":
    main()
