#!/usr/bin/env python3
"""End-to-end tests of running hessrmt on clusters: `hessrmt merge` of the
parts a job array writes, the Slurm and PBS job templates of run/slurm and
run/pbs (syntax, directives, the two kept in step, the PBS ones run outside
PBS with a made-up node file), and the Slurm templates submitted to a real
one-node Slurm that this test installs (slurm-wlm, munge) and starts as root
in a temporary directory, and always stops."""
import csv
import glob
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_common import Harness, evals, max_rel  # noqa: E402

SOURCE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SLURM_DIR = os.path.join(SOURCE, "run", "slurm")
PBS_DIR = os.path.join(SOURCE, "run", "pbs")

# A small batch-spectra problem: 512 synthetic rows make 16 batches of 32.
BATCHES = ["--batch-size", "32", "--no-stats", "-q"]


def hessian(h, out, *extra, np_=2):
    h.run(np_, "hessian", *BATCHES, *extra, "-o", out)
    return out


def merge(h, inputs, out, np_=0, check=True):
    """`hessrmt merge` serially (np_ = 0, no mpirun) or under mpirun."""
    args = ["merge", *inputs, "-o", out]
    if np_:
        return h.run(np_, *args, check=check)
    proc = subprocess.run([h.args.hessrmt] + args, capture_output=True,
                          text=True, timeout=120)
    if check and proc.returncode != 0:
        print(proc.stdout, proc.stderr, file=sys.stderr)
        raise SystemExit(f"merge failed ({proc.returncode})")
    return proc


def attrs(path, group="/"):
    with h5py.File(path, "r") as f:
        return {k: (v.decode() if isinstance(v, bytes) else v)
                for k, v in f[group].attrs.items()}


def checks(path):
    with h5py.File(path, "r") as f:
        return {k: f["checks"][k][...] for k in f["checks"]}


def same_checks(a, b):
    ca, cb = checks(a), checks(b)
    return ca.keys() == cb.keys() and all(
        np.array_equal(ca[k], cb[k], equal_nan=True) for k in ca)


# ---- merge ---------------------------------------------------------------

def check_merged(h, merged, single, parts, what):
    h.expect(np.array_equal(evals(merged), evals(single)),
             f"{what}: hessian_evals differ from the single run by "
             f"{max_rel(evals(merged), evals(single)):.2e}")
    h.expect(same_checks(merged, single), f"{what}: checks/* differ")
    with h5py.File(single, "r") as f:
        dtype = f["hessian_evals"].dtype
    with h5py.File(merged, "r") as f:
        h.expect(f["hessian_evals"].dtype == dtype,
                 f"{what}: dtype {f['hessian_evals'].dtype}")
        h.expect(bool(np.all(f["rows_done"][...] == 1)), f"{what}: rows_done")
        h.expect(list(f["batch_index"][...]) == list(range(6)),
                 f"{what}: batch_index {list(f['batch_index'][...])}")
        merged_from = [x.decode() if isinstance(x, bytes) else x
                       for x in f.attrs["merged_from"]]
        h.expect(merged_from == parts, f"{what}: merged_from {merged_from}")
        for k in range(len(parts)):
            h.expect(f[f"parts/{k}"].attrs["path"] in (parts[k],
                                                       parts[k].encode()),
                     f"{what}: parts/{k}/path")
    a, s = attrs(merged), attrs(single)
    for key in ("identity", "command", "model", "data", "part", "method_used",
                "n", "parameters", "data_rows", "classes", "batch_size",
                "first_row"):
        h.expect(a.get(key) == s.get(key),
                 f"{what}: attribute {key} {a.get(key)} != {s.get(key)}")
    h.expect("merge" in a["command_line"], f"{what}: command_line "
             f"{a['command_line']}")
    h.expect(a["batch_ranges"] == "0-5", f"{what}: batch_ranges")
    o = attrs(merged, "options")
    h.expect(o["first-batch"] == "0" and o["max-batches"] == "6",
             f"{what}: options {o['first-batch']} {o['max-batches']}")
    h.expect(not any(k.startswith("time_") for k in a),
             f"{what}: per-run timings at the root")
    h.expect(not os.path.exists(merged + ".partial"), f"{what}: partial left")


def merge_errors(h, parts, single):
    """Bad inputs: non-zero exit, one message naming the file and what."""
    bad_model = hessian(h, h.path("bad_model.h5"), "--first-batch", "6",
                        "--max-batches", "2", "--model", "mlp:20-8-4")
    bad_seed = hessian(h, h.path("bad_seed.h5"), "--first-batch", "6",
                       "--max-batches", "2", "--seed", "2")
    bad_prec = hessian(h, h.path("bad_prec.h5"), "--first-batch", "6",
                       "--max-batches", "2", "--precision", "single")
    overlap = hessian(h, h.path("overlap.h5"), "--first-batch", "1",
                      "--max-batches", "2")
    partial = h.path("unfinished.h5.partial")
    shutil.copy(parts[1], partial)
    incomplete = h.path("incomplete.h5")
    shutil.copy(parts[1], incomplete)
    with h5py.File(incomplete, "a") as f:
        f["rows_done"][1] = 0
    ensemble = h.path("ensemble.h5")
    h.run(2, "ensemble", "--n", "60", "--count", "2", "--no-stats", "-q",
          "-o", ensemble)
    whole = h.path("whole.h5")
    h.run(2, "hessian", "--no-stats", "-q", "-o", whole)
    p0 = parts[0]
    gapped = h.path("gapped.h5")  # batches 0-1 and 6-7: not one part
    merge(h, [p0, hessian(h, h.path("late.h5"), "--first-batch", "6",
                          "--max-batches", "2")], gapped)
    cases = [
        ([p0, bad_model], "attribute 'model' differs", "model"),
        ([p0, bad_seed], "option --seed differs", "seed"),
        ([p0, bad_prec], "option --precision differs", "precision"),
        ([p0, overlap], "overlap", "overlap"),
        ([p0, p0], "overlap", "same_file_twice"),
        ([p0, single], "overlap", "contains_part"),
        ([p0, partial], "partial file of an unfinished run", "partial"),
        ([p0, h.path("unfinished.h5")], "has not finished", "only_partial"),
        ([p0, incomplete], "is incomplete", "incomplete"),
        ([p0, ensemble], "ensemble", "ensemble"),
        ([p0, whole], "whole-dataset", "whole_dataset"),
        ([p0, h.path("missing.h5")], "missing.h5", "missing"),
        ([p0], "merge", "one_input"),
        ([gapped, overlap], "a merge with a gap", "merged_with_gap"),
    ]
    for inputs, needle, name in cases:
        # at 2 ranks too where the failure comes at different stages
        for np_ in (1, 2) if name in ("model", "overlap", "partial",
                                      "one_input") else (1,):
            h.error_case(np_, ["merge", *inputs, "-o", "OUT"], needle,
                         f"merge_{name}")
    # the output may not be one of the inputs
    before = open(p0, "rb").read()
    proc = merge(h, [p0, parts[1]], p0, check=False)
    h.expect(proc.returncode != 0 and "also an input" in proc.stderr,
             f"output = input accepted: {proc.stderr.strip()[:300]}")
    h.expect(open(p0, "rb").read() == before, "an input was overwritten")


def case_merge(h):
    single = hessian(h, h.path("single.h5"), "--max-batches", "6")
    parts = [hessian(h, h.path(f"part{k}.h5"), "--first-batch", str(2 * k),
                     "--max-batches", "2") for k in range(3)]
    shuffled = [parts[2], parts[0], parts[1]]
    merged = h.path("merged.h5")
    proc = merge(h, shuffled, merged)
    h.expect("6 x 84" in proc.stdout, f"merge summary: {proc.stdout}")
    check_merged(h, merged, single, parts, "serial merge")
    merged2 = h.path("merged_np2.h5")
    merge(h, shuffled, merged2, np_=2)
    check_merged(h, merged2, single, parts, "merge at 2 ranks")

    # hessrmt stats reads the merged file as it reads the single run's
    js, jm = h.path("single.json"), h.path("merged.json")
    for path, out in ((single, js), (merged, jm)):
        subprocess.run([h.args.hessrmt, "stats", path, "--json", out],
                       check=True, capture_output=True, timeout=120)
    with open(js) as f1, open(jm) as f2:
        a, b = json.load(f1), json.load(f2)
    h.expect(a["n_spectra"] == b["n_spectra"] == 6 and
             a["mean_r_tilde"] == b["mean_r_tilde"],
             f"stats of merged file: {b.get('n_spectra')} "
             f"{b.get('mean_r_tilde')} vs {a.get('mean_r_tilde')}")

    # a part solved in another layout (--groups is not part of the identity)
    grouped = hessian(h, h.path("part1_groups.h5"), "--first-batch", "2",
                      "--max-batches", "2", "--groups", "2")
    mixed = h.path("mixed.h5")
    merge(h, [parts[0], grouped, parts[2]], mixed)
    rel = max_rel(evals(mixed), evals(single))
    h.expect(rel <= 1e-12, f"groups 2 part: differs by {rel:.2e}")
    a = attrs(mixed)
    h.expect("groups" not in a and "grid" not in a,
             "attributes that differ between parts were copied to the root")
    h.expect(attrs(mixed, "parts/1")["groups"] == 2, "parts/1 groups")

    # gaps are allowed and reported; batch_index says which batch each row is
    gap = h.path("gap.h5")
    proc = merge(h, [parts[2], parts[0]], gap)
    h.expect("2-3" in proc.stdout and "none of the files" in proc.stdout,
             f"gap not reported: {proc.stdout}")
    with h5py.File(gap, "r") as f:
        h.expect(list(f["batch_index"][...]) == [0, 1, 4, 5],
                 f"gap batch_index {list(f['batch_index'][...])}")
        h.expect(f.attrs["batch_ranges"] in ("0-1,4-5", b"0-1,4-5"),
                 "gap batch_ranges")
    e = evals(single)
    h.expect(np.array_equal(evals(gap), np.concatenate([e[0:2], e[4:6]])),
             "gap rows")

    # single precision stays float32, bit for bit
    single32 = hessian(h, h.path("single32.h5"), "--max-batches", "4",
                       "--precision", "single")
    p32 = [hessian(h, h.path(f"p32_{k}.h5"), "--first-batch", str(2 * k),
                   "--max-batches", "2", "--precision", "single")
           for k in range(2)]
    m32 = h.path("merged32.h5")
    merge(h, p32[::-1], m32)
    with h5py.File(m32, "r") as f, h5py.File(single32, "r") as g:
        h.expect(f["hessian_evals"].dtype == np.float32, "float32 kept")
        h.expect(np.array_equal(f["hessian_evals"][...],
                                g["hessian_evals"][...]), "float32 rows")

    merge_errors(h, parts, single)


# ---- the job scripts -----------------------------------------------------

# The #SBATCH and #PBS forms the templates may use, each a full match.
SBATCH_FORMS = [
    r"--job-name=[A-Za-z][\w.-]*",
    r"--ntasks=\d+", r"--nodes=\d+(-\d+)?", r"--ntasks-per-node=\d+",
    r"--cpus-per-task=\d+",
    r"--time=(\d+-)?\d+(:\d\d){0,2}",
    r"--output=[\w%./-]+", r"--error=[\w%./-]+",
    r"--array=\d+(-\d+)?(:\d+)?(,\d+(-\d+)?)*(%\d+)?",
    r"--mem(-per-cpu)?=\d+[KMGT]?", r"--partition=\S+", r"--account=\S+",
    r"--qos=\S+", r"--exclusive", r"--constraint=\S+",
]
PBS_FORMS = [
    r"-N [A-Za-z][\w.-]{0,235}",
    r"-l select=\d+(:[a-z_]+=[\w.]+)+",
    r"-l nodes=\d+(:ppn=\d+)?",
    r"-l walltime=\d+:\d\d:\d\d",
    r"-l mem=\d+[kmgt]?b",
    r"-j (oe|eo|n)", r"-J \d+-\d+(:\d+)?(%\d+)?", r"-t \d+-\d+(%\d+)?",
    r"-q \S+", r"-A \S+", r"-o \S+", r"-e \S+", r"-m (n|[abe]+)", r"-V",
    r"-W depend=\S+",
]
# Options of launchers and schedulers rather than of hessrmt.
LAUNCHER_OPTS = {"--mpi", "--cpu-bind", "--map-by", "--bind-to", "--hostfile",
                 "--version", "--parsable", "--dependency", "--array",
                 "--mpi=list", "--wait"}


def script_files():
    return (sorted(glob.glob(os.path.join(SLURM_DIR, "*.sbatch"))),
            sorted(glob.glob(os.path.join(PBS_DIR, "*.pbs"))))


def check_directives(h, path, prefix, forms):
    """Every directive well-formed, and all of them before the first command
    (sbatch and qsub stop reading directives there)."""
    name = os.path.basename(path)
    with open(path) as f:
        lines = f.read().splitlines()
    h.expect(lines and lines[0] in ("#!/usr/bin/env bash", "#!/bin/bash"),
             f"{name}: shebang {lines[0] if lines else ''}")
    h.expect(os.access(path, os.X_OK), f"{name}: not executable")
    pattern = re.compile(r"#%s\s+(%s)\s*$" % (prefix, "|".join(forms)))
    seen_command, count = False, 0
    for i, line in enumerate(lines[1:], 2):
        s = line.strip()
        if s.startswith("#" + prefix):
            count += 1
            h.expect(pattern.fullmatch(s) is not None,
                     f"{name}:{i}: malformed directive: {s}")
            h.expect(not seen_command, f"{name}:{i}: directive after the "
                     f"first command is ignored: {s}")
        elif s and not s.startswith("#"):
            seen_command = True
    h.expect(count >= 2, f"{name}: {count} #{prefix} directives")


def knobs(path):
    """HR_* defaults ('NAME="${NAME:-default}"' lines) and the hessrmt
    options the script passes."""
    text = open(path).read()
    defaults = dict(re.findall(r'^(HR_\w+)="\$\{\1:-(.*)\}"$', text, re.M))
    code = "\n".join(line for line in text.splitlines()
                     if not line.lstrip().startswith("#"))
    opts = set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", code)) - LAUNCHER_OPTS
    commands = set(re.findall(r'"\$TEMPLATE" (\w+)', code))
    return defaults, opts, commands


def case_pbs_syntax(h):
    slurm, pbs = script_files()
    for path in slurm + pbs:
        proc = subprocess.run(["bash", "-n", path], capture_output=True,
                              text=True)
        h.expect(proc.returncode == 0, f"bash -n {path}: {proc.stderr}")
    for path in slurm:
        check_directives(h, path, "SBATCH", SBATCH_FORMS)
    for path in pbs:
        check_directives(h, path, "PBS", PBS_FORMS)
    # in step: the same examples, the same knobs with the same defaults, the
    # same hessrmt commands and options
    stem = lambda p: os.path.splitext(os.path.basename(p))[0]  # noqa: E731
    names_s, names_p = {stem(p) for p in slurm}, {stem(p) for p in pbs}
    h.expect(names_s == names_p, f"examples differ: Slurm only "
             f"{sorted(names_s - names_p)}, PBS only {sorted(names_p - names_s)}")
    h.expect({"hessrmt", "full-dataset", "batch-spectra", "job-array",
              "job-array-merge"} <= names_s, f"examples: {sorted(names_s)}")
    for name in sorted(names_s & names_p - {"hessrmt"}):
        ks = knobs(os.path.join(SLURM_DIR, name + ".sbatch"))
        kp = knobs(os.path.join(PBS_DIR, name + ".pbs"))
        for what, a, b in zip(("knob defaults", "hessrmt options",
                               "hessrmt commands"), ks, kp):
            h.expect(a == b, f"{name}: {what} differ: Slurm {a}, PBS {b}")
    # the generic templates set the same environment and print the same
    for path in (os.path.join(SLURM_DIR, "hessrmt.sbatch"),
                 os.path.join(PBS_DIR, "hessrmt.pbs")):
        text = open(path).read()
        for needle in ("OMP_NUM_THREADS=1", "OPENBLAS_NUM_THREADS=1",
                       "OMPI_ALLOW_RUN_AS_ROOT=1",
                       "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1", "${HESSRMT:-}",
                       "command -v hessrmt", "build/hessrmt", "HESSRMT_BIND",
                       "  program ", "  launcher ", "  nodes "):
            h.expect(needle in text, f"{os.path.basename(path)} lacks {needle}")
    check_auto_resume(h)


def check_auto_resume(h):
    """Both generic templates add --resume to hessian and ensemble when
    FILE.partial exists, and to train (its newest checkpoint) on a restart
    of the same Slurm job; never twice, never without a partial.  Checked
    with a program that prints its arguments."""
    d = h.path("auto_resume")
    os.makedirs(d)
    echo = os.path.join(d, "echo-args.sh")
    with open(echo, "w") as f:
        f.write('#!/bin/sh\necho "ARGS: $*"\n')
    os.chmod(echo, 0o755)
    for name in ("s.h5.partial", "w-epoch2.h5", "w-epoch10.h5"):
        open(os.path.join(d, name), "w").close()
    with open(os.path.join(d, "nodefile"), "w") as f:
        f.write(socket.gethostname() + "\n")
    cases = [("hessian -o s.h5", "hessian -o s.h5 --resume", {}),
             ("ensemble --output=s.h5", "ensemble --output=s.h5 --resume", {}),
             ("hessian -o s.h5 --resume", "hessian -o s.h5 --resume", {}),
             ("ensemble -o t.h5", "ensemble -o t.h5", {}),
             ("hessian -o s.h5", "hessian -o s.h5",
              {"HESSRMT_AUTO_RESUME": "0"}),
             ("train -o w.h5", "train -o w.h5", {}),
             ("train -o w.h5", "train -o w.h5 --resume w-epoch10.h5",
              {"SLURM_RESTART_COUNT": "1"})]
    for args, want, extra in cases:
        for kind, path in (("slurm", os.path.join(SLURM_DIR, "hessrmt.sbatch")),
                           ("pbs", os.path.join(PBS_DIR, "hessrmt.pbs"))):
            if kind == "pbs" and "SLURM_RESTART_COUNT" in extra:
                want_here = args  # PBS does not say that a job is a rerun
            else:
                want_here = want
            env = clean_env(HESSRMT=echo, HESSRMT_LAUNCHER="mpirun",
                            HESSRMT_BIND="none", SLURM_NTASKS="1",
                            PBS_NODEFILE=os.path.join(d, "nodefile"),
                            PBS_O_WORKDIR=d, HESSRMT_ARGS=args, **extra)
            cmd = ["bash", path] + (args.split() if kind == "slurm" else [])
            proc = subprocess.run(cmd, cwd=d, env=env, capture_output=True,
                                  text=True, timeout=60)
            got = [line[6:] for line in proc.stdout.splitlines()
                   if line.startswith("ARGS: ")]
            h.expect(got == [want_here], f"{kind} template, {args} {extra}: "
                     f"ran {got}, want {want_here!r} {proc.stderr[-300:]}")


def fake_tree(h, name):
    """A source tree as a user has it: run/ and build/hessrmt, found by the
    templates from the submit directory, with a subdirectory to submit
    from."""
    tree = h.path(name)
    os.makedirs(os.path.join(tree, "build"))
    os.makedirs(os.path.join(tree, "work"))
    os.symlink(os.path.join(SOURCE, "run"), os.path.join(tree, "run"))
    os.symlink(os.path.abspath(h.args.hessrmt),
               os.path.join(tree, "build", "hessrmt"))
    return tree


def clean_env(**extra):
    """The environment without HESSRMT and without hessrmt on PATH, so the
    templates must find build/hessrmt themselves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESSRMT")}
    path = [d for d in env.get("PATH", "").split(":")
            if d and not os.path.exists(os.path.join(d, "hessrmt"))]
    env["PATH"] = ":".join(path)
    env.update({k: str(v) for k, v in extra.items()})
    return env


# A tiny job-array problem: 256 rows in batches of 32, 3 tasks of 2 batches.
ARRAY_KNOBS = {"HR_DATA": "--data synthetic --n 256 --dim 10 --classes 3",
               "HR_MODEL": "--model logistic", "HR_BATCH_SIZE": "32",
               "HR_BATCHES_PER_TASK": "2", "HR_GROUPS": "1",
               "HR_PARTS_DIR": "parts"}


def array_reference(h):
    out = h.path("array_single.h5")
    h.run(2, "hessian", *ARRAY_KNOBS["HR_DATA"].split(),
          *ARRAY_KNOBS["HR_MODEL"].split(), "--batch-size", "32",
          "--max-batches", "6", "--no-stats", "-q", "-o", out)
    return out


def check_array_merge(h, merged, single, what):
    h.expect(os.path.exists(merged), f"{what}: no merged file")
    if not os.path.exists(merged):
        return
    rel = max_rel(evals(merged), evals(single))
    h.expect(rel <= 1e-12, f"{what}: merged parts differ from one run by "
             f"{rel:.2e}")
    print(f"{what}: merged vs one run: {'bit for bit' if rel == 0 else rel}")
    a, s = attrs(merged), attrs(single)
    h.expect(a["identity"] == s["identity"],
             f"{what}: identity {a['identity']} != {s['identity']}")
    h.expect(len(a["merged_from"]) == 3, f"{what}: merged_from")


def case_pbs_local(h):
    """The PBS templates run outside PBS with the environment PBS gives a
    job (PBS_NODEFILE, PBS_O_WORKDIR, PBS_JOBID, PBS_ARRAY_INDEX)."""
    nodefile = h.path("nodefile")
    with open(nodefile, "w") as f:
        f.write(f"{socket.gethostname()}\n" * 2)
    tree = fake_tree(h, "tree")
    work = os.path.join(tree, "work")
    pbs = dict(PBS_NODEFILE=nodefile, PBS_O_WORKDIR=work, PBS_JOBID="1.fake")

    # the generic template, with the command in HESSRMT_ARGS
    goe = os.path.join(work, "goe.h5")
    env = clean_env(HESSRMT_ARGS=f"ensemble --kind goe --n 200 --count 3 "
                    f"--seed 5 --no-stats -q -o {goe}", **pbs)
    proc = subprocess.run(["bash", os.path.join(PBS_DIR, "hessrmt.pbs")],
                          env=env, capture_output=True, text=True, timeout=300)
    h.expect(proc.returncode == 0, f"hessrmt.pbs failed: {proc.stderr}")
    log = proc.stdout
    h.expect(f"program   {tree}/build/hessrmt" in log, f"program: {log}")
    h.expect(f"mpirun -np 2 --hostfile {nodefile}" in log, f"launcher: {log}")
    ref = h.path("goe_direct.h5")
    h.run(2, "ensemble", "--kind", "goe", "--n", "200", "--count", "3",
          "--seed", "5", "--no-stats", "-q", "-o", ref)
    if os.path.exists(goe):
        rel = max_rel(evals(goe), evals(ref))
        h.expect(rel <= 1e-12, f"hessrmt.pbs vs mpirun: {rel:.2e}")

    # the job array, one subjob at a time, then the merge step
    for task in range(3):
        env = clean_env(PBS_ARRAY_INDEX=task, **ARRAY_KNOBS, **pbs)
        proc = subprocess.run(["bash", os.path.join(PBS_DIR, "job-array.pbs")],
                              cwd=h.workdir, env=env, capture_output=True,
                              text=True, timeout=300)
        h.expect(proc.returncode == 0, f"job-array.pbs {task}: {proc.stderr}")
    env = clean_env(HR_OUT="merged.h5", HR_STATS="--json merged.json", **pbs,
                    HR_PARTS_DIR="parts")
    env["PBS_NODEFILE"] = h.path("nodefile1")
    with open(env["PBS_NODEFILE"], "w") as f:
        f.write(f"{socket.gethostname()}\n")
    proc = subprocess.run(["bash", os.path.join(PBS_DIR,
                                                "job-array-merge.pbs")],
                          env=env, capture_output=True, text=True, timeout=300)
    h.expect(proc.returncode == 0, f"job-array-merge.pbs: {proc.stderr}")
    check_array_merge(h, os.path.join(work, "merged.h5"), array_reference(h),
                      "PBS job array")
    h.expect(os.path.exists(os.path.join(work, "merged.json")),
             "PBS merge step: no statistics JSON")


# ---- a real one-node Slurm -----------------------------------------------

SLURM_PROGRAMS = ("sbatch", "scontrol", "sinfo", "slurmctld", "slurmd",
                  "munged")


class Skip(Exception):
    pass


def which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin")


def ensure_slurm():
    """Install slurm-wlm and munge if they are missing; Skip if that cannot
    be done here."""
    missing = [p for p in SLURM_PROGRAMS if not which(p)]
    if not missing:
        return 0.0
    if os.environ.get("HR_SKIP_INSTALL") == "1":
        raise Skip(f"{', '.join(missing)} missing and HR_SKIP_INSTALL=1 "
                   "forbids installing slurm-wlm and munge")
    if os.geteuid() != 0:
        raise Skip(f"{', '.join(missing)} missing and not root to install "
                   "slurm-wlm and munge")
    if not shutil.which("apt-get"):
        raise Skip(f"{', '.join(missing)} missing and no apt-get")
    start = time.time()
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                 "slurm-wlm", "munge"]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                              timeout=900)
        if proc.returncode != 0:
            raise Skip(f"'{' '.join(cmd)}' failed: "
                       f"{(proc.stderr or proc.stdout).strip()[-400:]}")
    missing = [p for p in SLURM_PROGRAMS if not which(p)]
    if missing:
        raise Skip(f"installed slurm-wlm and munge but {missing} are missing")
    return time.time() - start


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SLURM_CONF = """\
ClusterName=hrtest
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={dir}/sock/munge.socket
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool
SlurmctldPidFile={dir}/slurmctld.pid
SlurmdPidFile={dir}/slurmd.pid
SlurmctldLogFile={dir}/slurmctld.log
SlurmdLogFile={dir}/slurmd.log
# No cgroups and no systemd: containers may have neither.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
SwitchType=switch/none
ReturnToService=2
MailProg=/bin/true
SlurmdParameters=config_overrides
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes={host} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


class LocalSlurm:
    """munged, slurmctld and slurmd in the foreground, as children of this
    process, configured in a temporary directory; stop() ends exactly
    them."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="hr-slurm-")
        self.procs = []
        self.conf = os.path.join(self.dir, "slurm.conf")
        self.env = dict(os.environ, SLURM_CONF=self.conf)

    def start(self):
        d = self.dir
        # munged insists that its socket directory (and the path to it) be
        # searchable by all, and its key readable by its user only.
        os.chmod(d, 0o755)
        for sub, mode in (("sock", 0o755), ("key", 0o700), ("state", 0o755),
                          ("spool", 0o755)):
            os.makedirs(os.path.join(d, sub))
            os.chmod(os.path.join(d, sub), mode)
        key = os.path.join(d, "key", "munge.key")
        if which("mungekey"):
            subprocess.run([which("mungekey"), "--create", f"--keyfile={key}"],
                           check=True, capture_output=True)
        else:
            with open(key, "wb") as f:
                f.write(os.urandom(1024))
        os.chmod(key, 0o600)
        self.spawn("munged", [which("munged"), "--foreground", "--force",
                              f"--key-file={key}",
                              f"--socket={d}/sock/munge.socket",
                              f"--pid-file={d}/sock/munged.pid",
                              f"--log-file={d}/key/munged.log",
                              f"--seed-file={d}/key/munged.seed"])
        self.wait_for(lambda: os.path.exists(f"{d}/sock/munge.socket"), 20,
                      "munged socket")
        host = socket.gethostname().split(".")[0]
        with open(self.conf, "w") as f:
            f.write(SLURM_CONF.format(
                host=host, dir=d, ctld_port=free_port(),
                slurmd_port=free_port(), cpus=max(os.cpu_count() or 1, 2)))
        self.spawn("slurmctld", [which("slurmctld"), "-D", "-i", "-f",
                                 self.conf])
        self.spawn("slurmd", [which("slurmd"), "-D", "-f", self.conf])
        self.wait_for(self.node_idle, 90, "the node to be idle in sinfo")

    def spawn(self, name, cmd):
        log = open(os.path.join(self.dir, f"{name}.stdout"), "w")
        proc = subprocess.Popen(cmd, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL)
        self.procs.append((name, proc, log))

    def node_idle(self):
        for name, proc, _ in self.procs:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                   f"{self.logs()}")
        out = subprocess.run(["sinfo", "-h", "-o", "%T"], env=self.env,
                             capture_output=True, text=True).stdout
        return "idle" in out

    @staticmethod
    def wait_for(cond, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.5)
        raise RuntimeError(f"timed out after {seconds} s waiting for {what}")

    def logs(self):
        text = []
        for name in ("slurmctld.log", "slurmd.log", "munged.stdout",
                     "slurmctld.stdout", "slurmd.stdout", "key/munged.log"):
            path = os.path.join(self.dir, name)
            if os.path.exists(path):
                with open(path, errors="replace") as f:
                    text.append(f"--- {name}\n" + f.read()[-2000:])
        return "\n".join(text)

    def stop(self):
        ctld = [p for n, p, _ in self.procs if n == "slurmctld"]
        if ctld and ctld[0].poll() is None:
            # jobs first (a failed test may leave one running), then the
            # daemons; all of it only on this cluster (SLURM_CONF)
            run = lambda *cmd: subprocess.run(  # noqa: E731
                cmd, env=self.env, capture_output=True, text=True, timeout=30)
            run("scancel", "--user", str(os.geteuid()))
            try:
                self.wait_for(lambda: not run("squeue", "-h").stdout.strip(),
                              20, "the jobs to end")
            except RuntimeError:
                pass
            run("scontrol", "shutdown")
        for name, proc, log in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=15)
            log.close()
        self.procs = []
        shutil.rmtree(self.dir, ignore_errors=True)


def sbatch(h, cluster, args, cwd, env_extra=None, clean=False):
    env = clean_env(**(env_extra or {})) if clean else dict(
        os.environ, **(env_extra or {}))
    env["SLURM_CONF"] = cluster.conf
    start = time.time()
    proc = subprocess.run(["sbatch", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)
    proc.seconds = time.time() - start
    return proc


def job_log(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return "(no job log)"


def slurm_jobs(h, cluster):
    tree = fake_tree(h, "tree")
    work = os.path.join(tree, "work")
    template = os.path.join(tree, "run", "slurm", "hessrmt.sbatch")
    listing = subprocess.run(["srun", "--mpi=list"], env=cluster.env,
                             capture_output=True, text=True)
    pmix = re.search(r"\bpmix\b", listing.stdout + listing.stderr) is not None

    # 1. an ensemble through the generic template, hessrmt found from the
    #    submit directory, srun --mpi=pmix as the launcher where available
    goe = os.path.join(work, "goe.h5")
    log = os.path.join(work, "goe.log")
    proc = sbatch(h, cluster, ["--wait", "-n", "2", "--oversubscribe", "-o",
                               log, template, "ensemble", "--kind", "goe",
                               "--n", "300", "--count", "4", "--seed", "3",
                               "-o", goe, "--no-stats"], work, clean=True)
    text = job_log(log)
    print(f"slurm: ensemble job took {proc.seconds:.1f} s")
    h.expect(proc.returncode == 0, f"ensemble job failed ({proc.returncode}):"
             f" {proc.stderr}\n{text}")
    h.expect(f"program   {tree}/build/hessrmt" in text, f"program: {text}")
    want = "srun --mpi=pmix -n 2" if pmix else "mpirun -n 2"
    h.expect(f"launcher  {want}" in text, f"launcher (want {want}): {text}")
    h.expect("nodes     " + socket.gethostname().split(".")[0] in text,
             f"node list: {text}")
    ref = h.path("goe_direct.h5")
    h.run(2, "ensemble", "--kind", "goe", "--n", "300", "--count", "4",
          "--seed", "3", "--no-stats", "-q", "-o", ref)
    if os.path.exists(goe):
        rel = max_rel(evals(goe), evals(ref))
        h.expect(rel <= 1e-12, f"Slurm ensemble vs mpirun: {rel:.2e}")
        print(f"slurm: ensemble vs mpirun: {'bit for bit' if rel == 0 else rel}")

    # 2. a small Hessian, $HESSRMT given, Open MPI's mpirun as the launcher
    hes = os.path.join(work, "hessian.h5")
    log = os.path.join(work, "hessian.log")
    args = ["--model", "mlp:20-16-4", "--n", "256", "--batch-size", "64",
            "--no-stats"]
    proc = sbatch(h, cluster, ["--wait", "-n", "2", "--oversubscribe", "-o",
                               log, template, "hessian", *args, "-o", hes],
                  work, {"HESSRMT": os.path.abspath(h.args.hessrmt),
                         "HESSRMT_LAUNCHER": "mpirun"})
    text = job_log(log)
    h.expect(proc.returncode == 0, f"hessian job failed: {proc.stderr}\n{text}")
    h.expect("launcher  mpirun -n 2" in text, f"launcher: {text}")
    ref = h.path("hessian_direct.h5")
    h.run(2, "hessian", *args, "-q", "-o", ref)
    if os.path.exists(hes):
        rel = max_rel(evals(hes), evals(ref))
        h.expect(rel <= 1e-12, f"Slurm hessian vs mpirun: {rel:.2e}")

    # 3. the job-array example on a tiny problem, then its merge step as a
    #    dependent job, against one run
    proc = sbatch(h, cluster, ["--parsable", "--array=0-2", "-n", "2",
                               "--oversubscribe", "-o",
                               os.path.join(work, "array-%A_%a.log"),
                               os.path.join(tree, "run", "slurm",
                                            "job-array.sbatch")],
                  work, ARRAY_KNOBS, clean=True)
    h.expect(proc.returncode == 0, f"array submission: {proc.stderr}")
    job = proc.stdout.strip().split(";")[0]
    proc = sbatch(h, cluster, ["--wait", f"--dependency=afterok:{job}",
                               "-o", os.path.join(work, "merge.log"),
                               os.path.join(tree, "run", "slurm",
                                            "job-array-merge.sbatch")],
                  work, {"HR_OUT": "merged.h5", "HR_STATS": "--json merged.json",
                         "HR_PARTS_DIR": "parts"}, clean=True)
    print(f"slurm: job array + merge took {proc.seconds:.1f} s")
    logs = "\n".join(job_log(p) for p in sorted(glob.glob(
        os.path.join(work, "*.log"))))
    h.expect(proc.returncode == 0, f"merge job failed: {proc.stderr}\n{logs}")
    h.expect(len(glob.glob(os.path.join(work, "parts", "part-*.h5"))) == 3,
             "array tasks: parts")
    check_array_merge(h, os.path.join(work, "merged.h5"), array_reference(h),
                      "Slurm job array")
    h.expect(os.path.exists(os.path.join(work, "merged.json")),
             "merge step: no statistics JSON")

    # 4. the scaling-study driver with its Slurm launcher (one sbatch --wait
    #    per point), its CSV against the points it ran
    study = os.path.join(work, "study")
    env = dict(os.environ, SLURM_CONF=cluster.conf)
    proc = subprocess.run([sys.executable, os.path.join(SOURCE, "run", "scaling.py"),
                           "--launcher", "slurm", "--mode", "strong", "--ranks", "1,2",
                           "--hessrmt", os.path.abspath(h.args.hessrmt), "--out", study,
                           "--", "ensemble", "--kind", "goe", "--n", "300", "--count", "2"],
                          cwd=work, env=env, capture_output=True, text=True, timeout=600)
    h.expect(proc.returncode == 0, f"scaling driver through Slurm: {proc.stdout} "
             f"{proc.stderr}")
    csv_path = os.path.join(study, "scaling.csv")
    if os.path.exists(csv_path):
        with open(csv_path) as f:
            rows = list(csv.DictReader(f))
        h.expect([(r["mode"], r["ranks"]) for r in rows] == [("strong", "1"), ("strong", "2")],
                 f"scaling through Slurm: rows {rows}")

    # 5. the other examples' directives, as this sbatch reads them
    for name in ("full-dataset", "batch-spectra"):
        proc = sbatch(h, cluster, ["--test-only", "-n", "1", os.path.join(
            tree, "run", "slurm", f"{name}.sbatch")], work)
        h.expect(proc.returncode == 0, f"sbatch --test-only {name}: "
                 f"{proc.stderr.strip()}")


def case_slurm(h):
    try:
        seconds = ensure_slurm()
    except Skip as why:
        print(f"skipped: {why}")
        return
    if seconds:
        print(f"slurm: installed slurm-wlm and munge in {seconds:.0f} s")
    if os.geteuid() != 0:
        print("skipped: slurmd and slurmctld run as root here; not root")
        return
    cluster = LocalSlurm()

    def stop_on_signal(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    old = {s: signal.signal(s, stop_on_signal)
           for s in (signal.SIGTERM, signal.SIGINT)}
    start = time.time()
    try:
        cluster.start()
        print(f"slurm: one-node cluster up in {time.time() - start:.1f} s")
        slurm_jobs(h, cluster)
    except Exception as e:  # noqa: BLE001 - report with the daemons' logs
        h.expect(False, f"slurm: {e}\n{cluster.logs()}")
    finally:
        cluster.stop()
        for s, handler in old.items():
            signal.signal(s, handler)
    print(f"slurm: {time.time() - start:.1f} s with the cluster")


CASES = {"merge": case_merge, "pbs_syntax": case_pbs_syntax,
         "pbs_local": case_pbs_local, "slurm": case_slurm}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
