#!/usr/bin/env python3
"""End-to-end tests of hessrmt on a real multi-node Slurm cluster made on
this machine by tests/cluster/netns_cluster.py: 3 compute nodes, each its
own network and UTS namespace (hostnames hrnode1..3, addresses
169.254.77.11-13 on a bridge), slurmctld and munged on the host, one slurmd
per node; Open MPI talks TCP between the nodes.  The job templates of
run/slurm are submitted across the nodes and their spectra compared with a
one-host mpirun run; a node is lost in the middle of a job.  Root only;
installs slurm-wlm and munge where missing (as e2e_cluster.py does);
reported as skipped where that or the namespaces cannot be had.  The
cluster is always torn down (also on failure, SIGTERM, SIGINT), and what a
crashed earlier run left is removed first."""
import glob
import os
import re
import subprocess
import sys
import time

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "cluster"))
from e2e_common import Harness, evals, max_rel  # noqa: E402
from e2e_cluster import (ARRAY_KNOBS, Skip, array_reference,  # noqa: E402
                         check_array_merge, ensure_slurm)
import netns_cluster as nc  # noqa: E402

SOURCE = os.path.dirname(HERE)
TEMPLATE = os.path.join(SOURCE, "run", "slurm", "hessrmt.sbatch")
NODES = ["hrnode1", "hrnode2", "hrnode3"]
# The problems: small (a 404 x 404 Hessian), 6 ranks on 3 nodes.
WHOLE = ["hessian", "--n", "300", "--dim", "20", "--model", "mlp:20-16-4",
         "--no-stats"]
BATCH = WHOLE + ["--batch-size", "64", "--groups", "3"]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL",
            "OUT_OF_MEMORY", "PREEMPTED", "BOOT_FAIL", "DEADLINE"}


def wrapper(h):
    """$HESSRMT for the jobs: records the host of every MPI rank (in
    hosts-<tag>/rank-<r>, tag from $HR_HOSTS_DIR), then runs hessrmt."""
    path = h.path("hessrmt-wrapper.sh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\n'
                'r="${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-}}"\n'
                'if [ -n "$r" ] && [ -n "${HR_HOSTS_DIR:-}" ]; then\n'
                '  mkdir -p "$HR_HOSTS_DIR" && hostname > "$HR_HOSTS_DIR/rank-$r"\n'
                'fi\n'
                f'exec {os.path.abspath(h.args.hessrmt)} "$@"\n')
    os.chmod(path, 0o755)
    return path


def rank_hosts(d):
    out = {}
    for p in glob.glob(os.path.join(d, "rank-*")):
        with open(p) as f:
            out[int(p.rsplit("-", 1)[1])] = f.read().strip()
    return out


def veth_bytes(c):
    total = {}
    for k, node in enumerate(c.nodes, 1):
        s = f"/sys/class/net/{nc.VETH_PREFIX}{k}/statistics/"
        try:
            total[node] = sum(int(open(s + x).read()) for x in
                              ("rx_bytes", "tx_bytes"))
        except OSError:
            total[node] = 0
    return total


def job_info(c, job):
    out = c.run("scontrol", "show", "job", "-o", job).stdout
    info = {}
    for rec in out.splitlines():  # an array: one line per task
        for word in rec.split():
            if "=" in word:
                k, v = word.split("=", 1)
                info.setdefault(k, v)
                if k == "JobState":
                    info.setdefault("states", []).append(v)
    return info


def submit(c, args, cwd, env_extra=None):
    """sbatch --parsable; returns the job id."""
    env = dict(c.env, **(env_extra or {}))
    proc = subprocess.run([nc.which("sbatch"), "--parsable", *args], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"sbatch {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout.strip().split(";")[0]


def wait_job(c, job, timeout=180):
    """Polls (sbatch --wait sleeps up to 10 s and more between polls) until
    every task of the job is in a final state; returns (states, exit code,
    seconds) or raises on timeout."""
    start = time.time()
    while time.time() - start < timeout:
        info = job_info(c, job)
        states = info.get("states", [])
        if states and all(s in TERMINAL for s in states):
            return states, info.get("ExitCode", "?"), time.time() - start
        time.sleep(0.25)
    raise TimeoutError(f"job {job} not finished after {timeout} s: "
                       f"{job_info(c, job).get('states')}")


def quiet_nodes(c, seconds=20):
    """Waits until no process of a job is left on any node (only slurmd),
    as a node's epilog would before its next job; returns what is left."""
    start = time.time()
    deadline = start + seconds
    while True:
        left = {n: [nc.cmdline(p)[:60] for p in c.node_pids(n)
                    if not nc.cmdline(p).startswith(nc.which("slurmd"))]
                for n in c.nodes}
        left = {n: v for n, v in left.items() if v}
        if not left or time.time() > deadline:
            if time.time() - start > 0.5:
                print(f"multinode: waited {time.time() - start:.1f} s for "
                      f"the nodes to be clean{': ' + str(left) if left else ''}")
            return left
        time.sleep(0.1)


def run_job(h, c, args, cwd, what, env_extra=None, timeout=180):
    job = submit(c, args, cwd, env_extra)
    states, code, seconds = wait_job(c, job, timeout)
    left = quiet_nodes(c)
    h.expect(not left, f"{what}: processes left on the nodes: {left}")
    print(f"multinode: {what}: job {job} {','.join(states)} in {seconds:.1f} s")
    return job, states, code, seconds


def log_text(path):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except OSError:
        return "(no job log)"


def with_cluster(h, body, cpus=2):
    """Skips (a line starting 'skipped: ') where there can be no cluster;
    else brings one up, runs body(c), and always takes it down."""
    if os.geteuid() != 0:
        print("skipped: the netns cluster needs root (namespaces, bridge, "
              "slurmd); not root")
        return
    try:
        seconds = ensure_slurm()
    except Skip as why:
        print(f"skipped: {why}")
        return
    if seconds:
        print(f"multinode: installed slurm-wlm and munge in {seconds:.0f} s")
    missing = nc.missing_programs()
    if missing:
        print(f"skipped: missing {', '.join(missing)} (iproute2, util-linux)")
        return
    start = time.time()
    c = nc.Cluster(nodes=3, cpus=cpus)
    try:
        with c:
            print(f"multinode: 3-node cluster up in {time.time() - start:.1f}"
                  f" s (SLURM_CONF={c.conf})")
            try:
                body(c)
            except Exception as e:  # noqa: BLE001 - report with the logs
                h.expect(False, f"multinode: {type(e).__name__}: {e}\n"
                         f"{c.logs()}")
    except nc.Busy as e:
        h.expect(False, f"multinode: {e}")
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        # the cluster could not be made: namespaces or daemons refused
        logs = c.logs() if c.dir and os.path.isdir(c.dir) else ""
        if os.environ.get("HR_MULTINODE_REQUIRED") == "1":
            h.expect(False, f"multinode: no cluster: {e}\n{logs}")
        else:
            print(f"skipped: the netns cluster could not be started: {e}\n"
                  f"{logs[-3000:]}")
    finally:
        left = [n for n in nc.netns_list() if n.startswith(nc.NODE_PREFIX)]
        h.expect(not left and not nc.link_exists(nc.BRIDGE) and
                 not os.path.exists(nc.STATE),
                 f"teardown left {left} bridge={nc.link_exists(nc.BRIDGE)}")
        h.expect(not glob.glob(os.path.join("/tmp", nc.DIR_PREFIX + "*")),
                 "teardown left the cluster directory")
    print(f"multinode: {time.time() - start:.1f} s with the cluster")


# ---- jobs -----------------------------------------------------------------

def expect_same_spectra(h, out, ref, what):
    """The spectra of out must equal ref's bit for bit; returns both
    (None when out is missing)."""
    if not os.path.exists(out):
        h.expect(False, f"{what}: no output")
        return None
    a, b = evals(out), evals(ref)
    h.expect(a.shape == b.shape and np.array_equal(a, b),
             f"{what}: shapes {a.shape} {b.shape}, "
             f"{max_rel(a, b) if a.shape == b.shape else ''}")
    return a, b


def check_spread(h, hosts, what, ranks=6):
    h.expect(sorted(hosts) == list(range(ranks)),
             f"{what}: ranks recorded {sorted(hosts)}")
    per = {n: sorted(r for r, x in hosts.items() if x == n) for n in NODES}
    h.expect(all(len(v) == ranks // 3 for v in per.values()),
             f"{what}: ranks per host {per}")
    return per


def whole_dataset(h, c, work, hessrmt):
    # the allocation really spans 3 hosts
    proc = c.run("srun", "-N", "3", "--ntasks-per-node=2", "hostname")
    names = sorted(proc.stdout.split())
    h.expect(names == sorted(NODES * 2), f"srun hostname: {names} "
             f"{proc.stderr.strip()}")
    print(f"multinode: srun -N 3 --ntasks-per-node=2 hostname: {names}")
    ref = h.path("whole_onehost.h5")
    proc = h.run(6, *WHOLE, "-q", "-o", ref)
    print(f"multinode: one host, mpirun -n 6: {proc.seconds:.1f} s")
    for launcher in ("srun", "mpirun"):
        out = os.path.join(work, f"whole_{launcher}.h5")
        log = os.path.join(work, f"whole_{launcher}.log")
        hosts = os.path.join(work, f"hosts-whole-{launcher}")
        before = veth_bytes(c)
        job, states, code, _ = run_job(
            h, c, ["-N", "3", "--ntasks-per-node=2", "-o", log, TEMPLATE,
                   *WHOLE, "-o", out], work, f"whole dataset, {launcher}",
            {"HESSRMT": hessrmt, "HESSRMT_LAUNCHER": launcher,
             "HR_HOSTS_DIR": hosts})
        after = veth_bytes(c)
        text = log_text(log)
        h.expect(states == ["COMPLETED"] and code == "0:0",
                 f"whole dataset ({launcher}): {states} {code}\n{text}")
        want = ("srun --mpi=pmix -n 6" if launcher == "srun"
                else "mpirun -n 6")
        h.expect(f"launcher  {want}" in text, f"{launcher}: launcher: {text}")
        h.expect("nodes     hrnode[1-3] (3 nodes, 6 tasks)" in text,
                 f"{launcher}: node list: {text}")
        per = check_spread(h, rank_hosts(hosts), f"whole ({launcher})")
        print(f"multinode: {launcher}: ranks per host {per}")
        grown = {n: after[n] - before[n] for n in after}
        h.expect(all(v > 20000 for v in grown.values()),
                 f"{launcher}: bytes over the veths {grown}: no TCP between "
                 "the nodes?")
        print(f"multinode: {launcher}: bytes over each node's veth {grown}")
        if not os.path.exists(out):
            h.expect(False, f"{launcher}: no {out}")
            continue
        a, b = evals(out), evals(ref)
        with h5py.File(out, "r") as f, h5py.File(ref, "r") as g:
            same_layout = all(f.attrs.get(k) == g.attrs.get(k)
                              for k in ("grid", "groups", "nblk", "ranks"))
            hostattrs = {k: f.attrs[k] for k in f.attrs if "host" in k.lower()}
        if same_layout:
            h.expect(np.array_equal(a, b), f"{launcher}: 3 nodes vs one host "
                     f"differ by {max_rel(a, b):.2e} (same grid: bit for bit "
                     "expected)")
        else:
            h.expect(max_rel(a, b) <= 1e-12, f"{launcher}: {max_rel(a, b)}")
        print(f"multinode: {launcher}: 3 nodes vs one host: "
              f"{'bit for bit' if np.array_equal(a, b) else max_rel(a, b)}")
        if hostattrs:
            print(f"multinode: hosts in the provenance: {hostattrs}")
            h.expect(all(n in str(hostattrs) for n in NODES),
                     f"provenance hosts {hostattrs}")
        else:
            print("multinode: note: the spectra file records no hosts")


def batch_spectra(h, c, work, hessrmt):
    """--groups 3 on 3 nodes x 2 ranks: with the default block distribution
    each group of 2 ranks is within a node; with a cyclic one (srun -m
    cyclic, through SLURM_DISTRIBUTION) every group spans 2 nodes."""
    ref = h.path("batch_onehost.h5")
    h.run(6, *BATCH, "-q", "-o", ref)
    for dist in ("block", "cyclic"):
        out = os.path.join(work, f"batch_{dist}.h5")
        log = os.path.join(work, f"batch_{dist}.log")
        hosts = os.path.join(work, f"hosts-batch-{dist}")
        job, states, code, _ = run_job(
            h, c, ["-N", "3", "--ntasks-per-node=2", "-o", log, TEMPLATE,
                   *BATCH, "-o", out], work, f"batch spectra, 3 groups, {dist}",
            {"HESSRMT": hessrmt, "HR_HOSTS_DIR": hosts,
             "HESSRMT_LAUNCHER": "srun", "SLURM_DISTRIBUTION": dist})
        h.expect(states == ["COMPLETED"], f"batch job ({dist}): {states} "
                 f"{code}\n{log_text(log)}")
        per = check_spread(h, rank_hosts(hosts), f"batch {dist}")
        want = ({n: [2 * k, 2 * k + 1] for k, n in enumerate(NODES)}
                if dist == "block" else
                {n: [k, k + 3] for k, n in enumerate(NODES)})
        h.expect(per == want, f"batch {dist}: ranks per host {per}")
        print(f"multinode: batch {dist}: ranks per host {per}")
        got = expect_same_spectra(h, out, ref,
                                  f"batch spectra ({dist}): 3 nodes vs one host")
        if got is None:
            continue
        a, b = got
        print(f"multinode: batch spectra {a.shape} ({dist}): 3 nodes vs one "
              f"host: {'bit for bit' if np.array_equal(a, b) else max_rel(a, b)}")
        with h5py.File(out, "r") as f:
            h.expect(f.attrs.get("groups") == 3, "batch: groups attribute")


def job_array(h, c, work, hessrmt):
    """run/slurm/job-array.sbatch as 3 array tasks of 2 nodes x 1 rank
    each, then job-array-merge.sbatch as a dependent job."""
    d = os.path.join(work, "array")
    os.makedirs(d)
    env = dict(ARRAY_KNOBS, HESSRMT=hessrmt, HESSRMT_TEMPLATE=TEMPLATE)
    start = time.time()
    job = submit(c, ["--array=0-2", "-N", "2", "-n", "2",
                     "--ntasks-per-node=1", "-o",
                     os.path.join(d, "array-%A_%a.log"),
                     os.path.join(SOURCE, "run", "slurm", "job-array.sbatch")],
                 d, env)
    merge = submit(c, [f"--dependency=afterok:{job}", "-o",
                       os.path.join(d, "merge.log"),
                       os.path.join(SOURCE, "run", "slurm",
                                    "job-array-merge.sbatch")],
                   d, dict(env, HR_OUT="merged.h5",
                           HR_STATS="--json merged.json"))
    a_states, _, _ = wait_job(c, job)
    m_states, code, _ = wait_job(c, merge)
    h.expect(not quiet_nodes(c), "array: processes left on the nodes")
    print(f"multinode: job array {a_states} + merge {m_states} in "
          f"{time.time() - start:.1f} s")
    logs = "\n".join(log_text(p) for p in sorted(glob.glob(
        os.path.join(d, "*.log"))))
    h.expect(a_states == ["COMPLETED"] * 3 and m_states == ["COMPLETED"],
             f"array {a_states}, merge {m_states} {code}\n{logs}")
    h.expect(len(glob.glob(os.path.join(d, "parts", "part-*.h5"))) == 3,
             "array tasks: parts")
    nodes_used = set()
    for p in glob.glob(os.path.join(d, "array-*.log")):
        for line in open(p):
            if line.startswith("  nodes     "):
                nodes_used.add(line.split()[1])
    print(f"multinode: array tasks ran on {sorted(nodes_used)}")
    check_array_merge(h, os.path.join(d, "merged.h5"), array_reference(h),
                      "job array across nodes")
    h.expect(os.path.exists(os.path.join(d, "merged.json")),
             "merge step: no statistics JSON")


def scaling_driver(h, c, work, hessrmt):
    """run/scaling.py --launcher slurm: one `sbatch --wait -n P` per point;
    at 6 ranks Slurm spreads them over the 3 nodes."""
    study = os.path.join(work, "study")
    start = time.time()
    proc = subprocess.run(
        [sys.executable, os.path.join(SOURCE, "run", "scaling.py"),
         "--launcher", "slurm", "--mode", "strong", "--ranks", "2,6",
         "--hessrmt", hessrmt, "--out", study, "--", *WHOLE],
        cwd=work, env=c.env, capture_output=True, text=True, timeout=300)
    print(f"multinode: scaling.py --launcher slurm --ranks 2,6: "
          f"{time.time() - start:.1f} s")
    h.expect(proc.returncode == 0, f"scaling driver: {proc.stdout} "
             f"{proc.stderr}")
    rows = []
    if os.path.exists(os.path.join(study, "scaling.csv")):
        import csv
        with open(os.path.join(study, "scaling.csv")) as f:
            rows = list(csv.DictReader(f))
    h.expect([r["ranks"] for r in rows] == ["2", "6"], f"scaling rows {rows}")
    text = "".join(log_text(p) for p in glob.glob(
        os.path.join(study, "*P6*.slurm")))
    h.expect("nodes     hrnode[1-3] (3 nodes, 6 tasks)" in text,
             f"scaling at 6 ranks: not on 3 nodes: {text[:800]}")


def case_jobs(h):
    def body(c):
        work = h.path("work")
        os.makedirs(work)
        hessrmt = wrapper(h)
        whole_dataset(h, c, work, hessrmt)
        batch_spectra(h, c, work, hessrmt)
        job_array(h, c, work, hessrmt)
        scaling_driver(h, c, work, hessrmt)
    with_cluster(h, body)


# ---- a node lost in the middle of a job ----------------------------------

# 80 batch spectra of 64 rows, each solved by all 6 ranks on the 3 nodes:
# long enough (~20 s here) to lose a node in the middle
LONG = ["hessian", "--n", str(64 * 80), "--dim", "20", "--model",
        "mlp:20-16-4", "--batch-size", "64", "--groups", "1", "--no-stats"]
BOUND = 120


def hessrmt_in(ns, out=None):
    """The hessrmt processes in a node's namespace (of the job writing
    `out`, if given)."""
    return [p for p in nc.netns_pids(ns) if "hessrmt" in nc.cmdline(p)
            and "wrapper" not in nc.cmdline(p)
            and (out is None or out in nc.cmdline(p))]


def wait_progress(h, log, tag, spectra=1, seconds=90):
    deadline = time.time() + seconds
    while time.time() < deadline and log_text(log).count(" done;") < spectra:
        time.sleep(0.2)
    text = log_text(log)
    h.expect(" done;" in text, f"{tag}: no progress before the loss: {text}")
    progress = re.findall(r"(\d+)/(\d+) spectra", text)
    if progress:
        done, total = map(int, progress[-1])
        h.expect(done < total, f"{tag}: the job was over before the loss")
        print(f"multinode: {tag}: {done}/{total} spectra done at the loss")


def startup_crash(c, job, log, seconds=60):
    """True if the job ended with a segmentation fault before any spectrum
    was done; False as soon as it makes progress (or runs on)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        text = log_text(log)
        if " done;" in text:
            return False
        states = job_info(c, job).get("states", [])
        if states and all(x in TERMINAL for x in states):
            return "Segmentation fault" in text
        time.sleep(0.2)
    return False


def lose_node(h, c, work, hessrmt, launcher, how, requeue=False):
    """Loses hrnode3 in the middle of a 3-node job: the job must end within
    BOUND seconds and leave no rank behind.  With requeue, Slurm requeues
    it, hrnode3 comes back (its slurmd restarted), and the restarted job,
    to which the template adds --resume, must finish to a file equal to an
    uninterrupted one-host run."""
    tag = f"{launcher}-{how}{'-requeue' if requeue else ''}"
    out = os.path.join(work, f"loss_{tag}.h5")
    log = os.path.join(work, f"loss_{tag}.log")
    ref = None
    if requeue:
        ref = h.path(f"long_onehost_{tag}.h5")
        proc = h.run(6, *LONG, "-q", "-o", ref)
        print(f"multinode: {tag}: one-host reference in {proc.seconds:.1f} s")
    extra = ["--requeue", "--open-mode=append"] if requeue else []
    for attempt in (1, 2):
        job = submit(c, ["-N", "3", "--ntasks-per-node=2", *extra, "-o", log,
                         TEMPLATE, *LONG, "-o", out], work,
                     {"HESSRMT": hessrmt, "HESSRMT_LAUNCHER": launcher})
        if attempt == 2 or not startup_crash(c, job, log):
            break
        # This harness's known intermittent fault (tests/cluster/README.md):
        # a rank dies of SIGSEGV at start-up, before the run's plan line.
        # Reported, and tried once more; twice is a failure.
        print(f"multinode: {tag}: a rank crashed at start-up (SIGSEGV, no "
              f"progress); retrying once:\n{log_text(log)[-1200:]}")
        quiet_nodes(c)
        for p in (out, out + ".partial", out + ".lock", log):
            if os.path.exists(p):
                os.remove(p)
    wait_progress(h, log, tag, spectra=5)
    victim = "hrnode3"
    h.expect(len(hessrmt_in(victim, out)) == 2,
             f"{tag}: ranks on {victim}: {hessrmt_in(victim, out)}")
    start = time.time()
    if how == "crash":
        pids = c.kill_node(victim)   # slurmd, slurmstepd and the ranks
        print(f"multinode: {tag}: killed {len(pids)} processes of {victim}")
    else:
        c.link(victim, up=False)      # the node drops off the network
        print(f"multinode: {tag}: {victim}'s link down")
    try:
        if requeue:
            ended = wait_requeued(c, job, BOUND + 30)
        else:
            ended, code, _ = wait_job(c, job, timeout=BOUND + 30)
    except TimeoutError as e:
        h.expect(False, f"{tag}: the job hung after losing {victim}: {e}")
        c.run("scancel", job)
        return
    seconds = time.time() - start
    print(f"multinode: {tag}: job {'requeued' if requeue else 'ended'} "
          f"({ended}) {seconds:.1f} s after the loss; {victim} is "
          f"{c.node_states().get(victim)}")
    h.expect(seconds < BOUND, f"{tag}: the job took {seconds:.1f} s to end")
    h.expect(ended != ["COMPLETED"], f"{tag}: job completed without a node")
    h.expect(not os.path.exists(out), f"{tag}: output written")
    # no rank left behind on the surviving nodes
    deadline = time.time() + 30
    while time.time() < deadline and (hessrmt_in("hrnode1", out) or
                                      hessrmt_in("hrnode2", out)):
        time.sleep(0.3)
    h.expect(not hessrmt_in("hrnode1", out) and
             not hessrmt_in("hrnode2", out),
             f"{tag}: ranks left on the surviving nodes: "
             f"{hessrmt_in('hrnode1', out)} {hessrmt_in('hrnode2', out)}")
    h.expect(os.path.exists(out + ".partial"), f"{tag}: no partial file kept")
    if requeue:
        finish_requeued(h, c, job, tag, victim, out, log, ref)
    text = log_text(log)
    print(f"multinode: {tag}: log tail: "
          + " | ".join(text.strip().splitlines()[-3:])[:400])


def wait_requeued(c, job, timeout):
    """Waits until Slurm has requeued the job (its restart count is up);
    returns the states it went through then."""
    start = time.time()
    while time.time() - start < timeout:
        info = job_info(c, job)
        if int(info.get("Restarts", "0")) > 0:
            return info.get("states", [])
        if all(s in TERMINAL for s in info.get("states", ["?"])):
            raise TimeoutError(f"job {job} ended {info.get('states')} "
                               "instead of being requeued")
        time.sleep(0.25)
    raise TimeoutError(f"job {job} not requeued after {timeout} s")


def finish_requeued(h, c, job, tag, victim, out, log, ref):
    """The node comes back; the requeued job resumes and completes."""
    c.reboot_node(victim)
    c.wait_for(lambda: not c.node_states().get(victim, "down").startswith(
        ("down", "unk", "drain", "fail")), 60, f"{victim} back")
    start = time.time()
    states, code, _ = wait_job(c, job, timeout=180)
    text = log_text(log)
    print(f"multinode: {tag}: {victim} back; the requeued job ended "
          f"{states} {code} {time.time() - start:.1f} s later")
    h.expect(states == ["COMPLETED"], f"{tag}: requeued job {states} {code}"
             f"\n{text}\n{c.logs()}")
    h.expect(text.count("hessrmt job ") == 2 and
             "resuming: " in text and "(restart 1)" in text and
             "--resume" in text.split("hessrmt job ")[-1],
             f"{tag}: the restarted job did not resume: {text}")
    kept = re.findall(r"resuming '[^']*': (\d+) of (\d+) spectra", text)
    h.expect(bool(kept) and 0 < int(kept[-1][0]) < int(kept[-1][1]),
             f"{tag}: resumed with {kept} finished spectra")
    if kept:
        print(f"multinode: {tag}: resumed with {kept[-1][0]} of "
              f"{kept[-1][1]} spectra kept")
    got = expect_same_spectra(
        h, out, ref, f"{tag}: requeued + resumed vs uninterrupted one-host run")
    if got is None:
        return
    a, b = got
    print(f"multinode: {tag}: requeued + resumed {a.shape} vs uninterrupted: "
          f"{'bit for bit' if np.array_equal(a, b) else max_rel(a, b)}")


# ---- time limits: SIGTERM at the limit and the --signal warning -----------

# Batch spectra of N = 804, ~0.05 s each on one rank: 2,000 of them do not
# finish before the 1-minute limit.  Slurm's limits are whole minutes and it
# checks them every 30 s, so the limit strikes 60-90 s into the job and the
# warning (--signal=B:USR1@110 with -t 2) 10-40 s in.
TL = ["hessian", "--n", str(64 * 2000), "--dim", "20", "--model",
      "mlp:20-32-4", "--batch-size", "64", "--groups", "1", "--no-stats"]


def sleeping_wrapper(h, hessrmt, seconds):
    """A program that waits before it runs hessrmt, as a job that first
    stages its data would: the time-limit job then computes only in its
    last seconds and leaves the cores to the other jobs."""
    path = h.path(f"hessrmt-after-{seconds}s.sh")
    with open(path, "w") as f:
        f.write('#!/bin/sh\n'
                f'[ "$1" = --version ] || sleep {seconds}\n'
                f'exec {hessrmt} "$@"\n')
    os.chmod(path, 0o755)
    return path


def start_time_limits(h, c, work, hessrmt):
    """Two one-rank jobs through srun: on hrnode1, ended by the time limit;
    on hrnode2, with --signal=B:USR1 (to the batch shell, which the
    template replaced by srun, which forwards it to the ranks; mpirun's
    forwarding is tested in e2e_ensemble).  Started before the node-loss
    job, whose three nodes they share (one spare CPU on hrnode1-2)."""
    jobs = {}
    for name, node, launcher, opts, prog in (
            ("limit", "hrnode1", "srun", ["-t", "1"],
             sleeping_wrapper(h, hessrmt, 40)),
            ("warning", "hrnode2", "srun",
             ["-t", "2", "--signal=B:USR1@110"], hessrmt)):
        out = os.path.join(work, f"tl_{name}.h5")
        log = os.path.join(work, f"tl_{name}.log")
        job = submit(c, ["-w", node, "-n", "1", *opts, "-o", log, TEMPLATE,
                         *TL, "-o", out], work,
                     {"HESSRMT": prog, "HESSRMT_LAUNCHER": launcher})
        jobs[name] = (job, out, log)
    return jobs


def check_time_limits(h, c, jobs):
    """Each job kept its finished spectra: a partial file whose rows_done is
    a prefix, those rows equal to one-host runs of the same batches, and no
    final file.  The warning stops the job cleanly (the message, status 75).
    At the limit itself srun also gets Slurm's SIGTERM and answers it by
    killing the tasks ('srun: forcing job termination'), so there the ranks'
    clean stop is a race they mostly lose: reported, not required."""
    want = {"limit": ("TIMEOUT", "SIGTERM"), "warning": ("FAILED", "SIGUSR1")}
    for name, (job, out, log) in jobs.items():
        states, code, _ = wait_job(c, job, timeout=150)
        text = log_text(log)
        state, sig = want[name]
        print(f"multinode: time {name}: job {job} {states} exit {code} "
              f"after {job_info(c, job).get('RunTime', '?')}")
        h.expect(states == [state], f"time {name}: {states} {code}\n{text}")
        stop = re.search(rf"stopped: {sig}: (\d+) of 2000 spectra are "
                         rf"finished in (\S+\.partial); run the same "
                         r"command with --resume", text)
        if name == "warning":
            h.expect(code == "75:0", f"time warning: exit code {code}")
            h.expect(bool(stop), f"time warning: no stop message: "
                     f"{text[-1500:]}")
        else:
            print(f"multinode: time limit: the ranks "
                  f"{'stopped cleanly' if stop else 'were killed by srun'}"
                  f" ({'forcing job termination' in text and 'srun: forcing job termination' or 'no srun kill'})")
        h.expect(not os.path.exists(out), f"time {name}: final file written")
        if not os.path.exists(out + ".partial"):
            h.expect(False, f"time {name}: no partial file kept")
            continue
        with h5py.File(out + ".partial", "r") as f:
            done = np.asarray(f["rows_done"][...]).astype(bool)
            k = int(done.sum())
            h.expect(k > 0 and done[:k].all(),
                     f"time {name}: rows_done is not a prefix ({k} rows)")
            if stop:
                h.expect(int(stop.group(1)) == k,
                         f"time {name}: message {stop.group(1)}, rows {k}")
            samples = sorted({0, k // 2, k - 1}) if k > 0 else []
            got = {j: np.asarray(f["hessian_evals"][j]) for j in samples}
        for j in samples:
            ref = h.path(f"tl_{name}_{j}.h5")
            h.run(1, *TL, "--first-batch", str(j), "--max-batches", "1",
                  "-q", "-o", ref)
            h.expect(np.array_equal(got[j], evals(ref)[0]),
                     f"time {name}: row {j} differs from a one-host run")
        print(f"multinode: time {name}: {k} of 2000 spectra kept; rows "
              f"{samples} equal one-host runs")


def case_node_loss(h):
    def body(c):
        work = h.path("work")
        os.makedirs(work)
        hessrmt = wrapper(h)
        timed = start_time_limits(h, c, work, hessrmt)
        lose_node(h, c, work, hessrmt, "srun", "crash", requeue=True)
        check_time_limits(h, c, timed)
    with_cluster(h, body, cpus=3)

    def body2(c):
        work = h.path("work2")
        os.makedirs(work)
        lose_node(h, c, work, wrapper(h), "mpirun", "link")
    with_cluster(h, body2)


CASES = {"jobs": case_jobs, "node_loss": case_node_loss}

if __name__ == "__main__":
    sys.exit(Harness(__doc__, CASES).main())
