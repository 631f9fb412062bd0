#!/usr/bin/python3
"""Write the seed corpus of the reader fuzzers (tests/fuzz/corpus/<format>/).

Usage: make_corpus.py [OUTDIR]   (default: the corpus/ next to this script)

Small valid files and edge cases, each under 4 KB (run_fuzz.sh passes
-max_len=4096): npy v1/v2/v3, float32/float64/int/bool, big-endian,
Fortran order, 0-d/1-d/3-d and 33-d, gzip; IDX with 1-3 dimensions and
every type code, gzip; CSV with and without a header, quoted fields, blank
lines, CRLF, ragged rows, NaN, gzip (one with a 100 KB line).  numpy
writes the regular npy files (independent of hessrmt's reader); the rest
are written by hand.  Deterministic: gzip members carry mtime 0, so
rerunning leaves the files unchanged.
"""
import gzip
import io
import os
import struct
import sys

import numpy as np


def gz(data):
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0, filename="") as g:
        g.write(data)
    return buf.getvalue()


def npy(a, version=None, fortran=False):
    buf = io.BytesIO()
    if fortran:
        a = np.asfortranarray(a)
    np.lib.format.write_array(buf, a, version=version)
    return buf.getvalue()


def npy_header(d, version=1):
    """A hand-written header dict (for shapes numpy would not write)."""
    body = d.encode("latin1")
    pre = 10 if version == 1 else 12
    pad = (-(pre + len(body) + 1)) % 64
    body += b" " * pad + b"\n"
    size = struct.pack("<H" if version == 1 else "<I", len(body))
    return b"\x93NUMPY" + bytes([version, 0]) + size + body


def idx(code, dims, payload):
    return bytes([0, 0, code, len(dims)]) + b"".join(
        struct.pack(">I", d) for d in dims) + payload


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus")
    x = (np.arange(12, dtype=np.float64).reshape(4, 3) - 5) / 4
    files = {
        "npy": {
            "f8_v1.npy": npy(x, (1, 0)),
            "f4_v1.npy": npy(x.astype("<f4"), (1, 0)),
            "f8_v2.npy": npy(x, (2, 0)),
            "f4_v3.npy": npy(x.astype("<f4"), (3, 0)),
            "f8_big.npy": npy(x.astype(">f8"), (1, 0)),
            "i4_big.npy": npy(np.arange(6, dtype=">i4").reshape(3, 2)),
            "labels_i8.npy": npy(np.array([0, 1, 2, 3, 1], dtype="<i8")),
            "labels_u1.npy": npy(np.array([3, 2, 1], dtype="u1")),
            "i2_3d.npy": npy(np.arange(24, dtype="<i2").reshape(2, 3, 4)),
            "u8.npy": npy(np.array([[1, 2**64 - 1]], dtype="<u8")),
            "bool.npy": npy(np.array([[True, False], [False, True]])),
            "fortran.npy": npy(np.arange(6.0).reshape(2, 3), fortran=True),
            "scalar.npy": npy(np.float64(1.5)),
            "empty_rows.npy": npy(np.zeros((0, 3))),
            "zero_cols.npy": npy(np.zeros((3, 0))),
            "f8_v1.npy.gz": gz(npy(x, (1, 0))),
            "u1_v2.npy.gz": gz(npy(np.arange(20, dtype="u1").reshape(4, 5),
                                   (2, 0))),
            # hand-written headers: other key order, long ints, big claims
            "keys_reordered.npy": npy_header(
                "{'shape': (2, 2), 'fortran_order': False, 'descr': '<f8'}")
                + np.arange(4.0).tobytes(),
            "long_dims.npy": npy_header(
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 1L), }")
                + np.arange(2, dtype="<f4").tobytes(),
            "huge_claim.npy.gz": gz(npy_header(
                "{'descr': '<f8', 'fortran_order': False, "
                "'shape': (1000000000000, 3), }") + x.tobytes()),
            "too_many_dims.npy": npy_header(
                "{'descr': '<f8', 'fortran_order': False, 'shape': (%s), }"
                % ", ".join(["1"] * 33)),
            "complex.npy": npy(np.zeros((2, 2), dtype="<c8")),
            "structured.npy": npy(np.zeros(2, dtype=[("a", "<f8")])),
            "truncated.npy": npy(x)[:-5],
        },
        "idx": {
            "labels_1d.idx": idx(0x08, [5], bytes([0, 1, 2, 3, 4])),
            "images_3d.idx": idx(0x08, [3, 2, 2], bytes(range(12))),
            "i1_2d.idx": idx(0x09, [2, 3], bytes([0x80, 0x7F, 1, 2, 3, 0xFF])),
            "i2_2d.idx": idx(0x0B, [2, 2], struct.pack(">4h", -1, 2, -3, 4)),
            "i4_2d.idx": idx(0x0C, [2, 2], struct.pack(">4i", -1, 2, 2**31 - 1,
                                                       -2**31)),
            "f4_2d.idx": idx(0x0D, [2, 2], struct.pack(">4f", 0.5, -1, 3, 4)),
            "f8_1d.idx": idx(0x0E, [3], struct.pack(">3d", 0.25, -1e300, 7)),
            "images_3d.idx.gz": gz(idx(0x08, [4, 3, 3], bytes(range(36)))),
            "labels_1d.idx.gz": gz(idx(0x08, [6], bytes([5, 4, 3, 2, 1, 0]))),
            "empty.idx": idx(0x08, [0, 28, 28], b""),
            "truncated.idx": idx(0x08, [10, 2], bytes(7)),
            "huge_claim.idx.gz": gz(idx(0x08, [0xFFFFFFFF, 0xFFFF, 0xFFFF],
                                        bytes(64))),
            "bad_code.idx": bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 0]),
        },
        "csv": {
            "header.csv": b"x1,x2,label\n0.5,1,0\n-2e3,3.25,1\n4,5,2\n",
            "plain.csv": b"1,2,3\n4,5,6\n",
            "one_column.csv": b"1\n2\n3\n",
            "quoted.csv": b'"a","b","y"\n"1.5","2",0\n " 3" ,4,1\n',
            "blank_lines.csv": b"\n  \nh1,h2\n\n1,2\n\t\n3,4\n\n",
            "crlf.csv": b"a,b\r\n1,2\r\n3,4\r\n",
            "no_newline.csv": b"1,2\n3,4",
            "ragged.csv": b"1,2,3\n4,5\n",
            "nan.csv": b"1,nan\n2,inf\n",
            "hex_and_exp.csv": b"0x1p3,1e-310\n-0,+7\n",
            "trailing_comma.csv": b"1,2,\n3,4,\n",
            "header_only.csv": b"a,b,c\n",
            "empty.csv": b"",
            # a 100 KB line (past the first 64 KB line buffer), gzipped small
            "long_line.csv.gz": gz(b",".join([b"1.5"] * 25000) + b"\n"
                                   + b",".join([b"2"] * 25000) + b"\n"),
            "data.csv.gz": gz(b"f1,f2,label\n" + b"".join(
                b"%d,%g,%d\n" % (i, i / 8, i % 3) for i in range(40))),
        },
    }
    for fmt, entries in files.items():
        d = os.path.join(out, fmt)
        os.makedirs(d, exist_ok=True)
        for name, data in entries.items():
            assert len(data) < 4096, (name, len(data))
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()
