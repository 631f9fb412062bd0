#!/usr/bin/env python3
"""A real multi-node Slurm cluster on one Linux machine, for tests and for
trying the job templates by hand (root only).

Each compute node is a network namespace with its own UTS namespace
(hostname hrnode1, hrnode2, ...), joined by a veth pair to a bridge on the
host.  Addresses are link-local only (169.254.77.0/24: the bridge .1, the
nodes .11, .12, ...), with no default route in the namespaces, so nothing
leaves the machine.  munged and slurmctld run on the host (slurmctld reached
at the bridge address), one slurmd per node inside its namespaces with
`-N hrnodeK` and NodeAddr = its address.  The file system is shared (one
mount namespace plus the bind mounts `ip netns exec` makes of
/etc/netns/<node>/), as on a cluster with a shared file system.  Open MPI is
told to use TCP over the bridge subnet (env.sh / Cluster.env).

    python3 tests/cluster/netns_cluster.py up      # prints SLURM_CONF to export
    python3 tests/cluster/netns_cluster.py status
    python3 tests/cluster/netns_cluster.py exec hrnode2 hostname
    python3 tests/cluster/netns_cluster.py down

A test uses it as a context manager (always torn down, also on SIGTERM,
SIGINT and SIGHUP; daemons die with the test process if it is killed):

    with Cluster() as c:
        subprocess.run(["sbatch", ...], env=c.env)

Whatever an earlier run left behind (a crashed test: daemons, job steps,
namespaces, veths, the bridge, its directory) is removed before a new
cluster is made; a cluster of a test that is still running is left alone
(its lock is held) and the new one waits for it, then fails."""
import argparse
import ctypes
import errno
import fcntl
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SUBNET = "169.254.77"          # link-local: never routed off the machine
PREFIXLEN = 24
HOST_ADDR = f"{SUBNET}.1"
BRIDGE = "hrbr0"
NODE_PREFIX = "hrnode"
VETH_PREFIX = "hrveth"         # host side; the node side is eth0
DIR_PREFIX = "hr-mncluster-"
MAX_NODES = 8                  # stale clean-up looks at this many names
STATE_DIR = "/run/hessrmt-netns-cluster"
STATE = os.path.join(STATE_DIR, "state.json")
LOCK = os.path.join(STATE_DIR, "lock")
ETC_NETNS = "/etc/netns"
MARK = "# written by hessrmt tests/cluster/netns_cluster.py\n"
PROGRAMS = ("ip", "unshare", "nsenter", "munged", "slurmctld", "slurmd",
            "sbatch", "srun", "sinfo", "scontrol", "scancel", "squeue")

SLURM_CONF = """\
# written by hessrmt tests/cluster/netns_cluster.py
ClusterName=hrmulti
SlurmctldHost={ctl_host}({host_addr})
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
# cred_expire: also how long a requeued job waits before it starts again
# (120 s by default; 5 is the least Slurm takes)
AuthInfo=socket={dir}/sock/munge.socket,cred_expire=5
StateSaveLocation={dir}/state
SlurmdSpoolDir={dir}/spool/%n
# per-node scratch (PMIx puts its client directory there; a shared /tmp
# would make the nodes collide)
TmpFS={dir}/tmp/%n
SlurmctldPidFile={dir}/run/slurmctld.pid
SlurmdPidFile={dir}/run/slurmd-%n.pid
SlurmctldLogFile={dir}/log/slurmctld.log
SlurmdLogFile={dir}/log/slurmd-%n.log
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
# A lost node is noticed within ~{slurmd_timeout} s and its jobs end; only
# jobs submitted with --requeue are requeued.
SlurmdTimeout={slurmd_timeout}
MessageTimeout=5
KillWait=5
JobRequeue=0
InactiveLimit=0
{nodes}
PartitionName=debug Nodes={node_list} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""


class Busy(RuntimeError):
    """Another live test owns the cluster names."""


def which(name):
    return shutil.which(name, path=os.environ.get("PATH", "") +
                        ":/usr/sbin:/sbin:/usr/bin:/bin")


def missing_programs():
    return [p for p in PROGRAMS if not which(p)]


def node_name(k):
    return f"{NODE_PREFIX}{k}"


def node_addr(k):
    return f"{SUBNET}.{10 + k}"


def sh(*cmd, check=True, timeout=30):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, cmd))}: "
                           f"{(proc.stderr or proc.stdout).strip()}")
    return proc


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def netns_list():
    proc = sh(which("ip"), "netns", "list", check=False)
    return [line.split()[0] for line in proc.stdout.splitlines() if line]


def link_exists(name):
    return os.path.exists(f"/sys/class/net/{name}")


def netns_pids(ns):
    proc = sh(which("ip"), "netns", "pids", ns, check=False)
    return [int(p) for p in proc.stdout.split() if p.isdigit()]


def kill_wait(pids, seconds=10):
    """SIGTERM, then SIGKILL what is left after `seconds`."""
    pids = [p for p in pids if p != os.getpid()]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + seconds
        while time.time() < deadline and any(pid_alive(p) for p in pids):
            time.sleep(0.1)
        pids = [p for p in pids if pid_alive(p)]
        if not pids:
            return


def read_state():
    try:
        with open(STATE) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def write_state(state):
    os.makedirs(STATE_DIR, exist_ok=True)
    tmp = STATE + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, STATE)


class Lock:
    """flock on LOCK: held by a test for the cluster's whole life, by the
    CLI only while it changes the set-up."""

    def __init__(self, wait=120):
        self.wait, self.fd = wait, None

    def __enter__(self):
        os.makedirs(STATE_DIR, exist_ok=True)
        self.fd = os.open(LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.time() + self.wait
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.time() > deadline:
                os.close(self.fd)
                self.fd = None
                state = read_state() or {}
                raise Busy(f"another run holds {LOCK} (owner pid "
                           f"{state.get('owner_pid')}) after {self.wait} s")
            time.sleep(0.5)

    def __exit__(self, *exc):
        self.release()

    def release(self):
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def teardown(state=None, log=print, graceful=True):
    """Remove everything a cluster of this module made, whether it is
    running or left over from a crash: jobs (gracefully if slurmctld still
    answers), daemons, job steps, namespaces, veths, bridge, the
    /etc/netns files and the directory.  Safe to call when nothing is
    there.  Call it with the lock held."""
    state = state if state is not None else read_state()
    did = []
    if state:
        env = dict(os.environ, SLURM_CONF=state.get("conf", ""))
        ctld = state.get("pids", {}).get("slurmctld")
        if graceful and ctld and pid_alive(ctld) and \
                state.get("dir", "") in cmdline(ctld):
            run = lambda *c: subprocess.run(  # noqa: E731
                [which(c[0]), *c[1:]], env=env, capture_output=True,
                text=True, timeout=20)
            try:
                run("scancel", "--user", str(os.geteuid()))
                deadline = time.time() + 15
                while time.time() < deadline and \
                        run("squeue", "-h").stdout.strip():
                    time.sleep(0.5)
                run("scontrol", "shutdown")
                time.sleep(0.5)
            except (subprocess.SubprocessError, OSError):
                pass
    # 1. everything inside the nodes' namespaces: slurmd, slurmstepd, tasks
    names = set(netns_list())
    ours = [node_name(k) for k in range(1, MAX_NODES + 1)]
    for ns in ours:
        if ns in names:
            pids = netns_pids(ns)
            if pids:
                kill_wait(pids, 5)
                did.append(f"{len(pids)} processes in {ns}")
    # 2. host daemons of this module: recorded pids and any process whose
    #    command line names one of our directories (a crashed run's)
    pids = []
    if state:
        for name, pid in state.get("pids", {}).items():
            if pid_alive(pid) and state.get("dir", "\0") in cmdline(pid):
                pids.append(pid)
    tmp = tempfile.gettempdir()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            line = cmdline(int(entry))
            if f"{tmp}/{DIR_PREFIX}" in line and any(
                    d in line.split(" ")[0] for d in
                    ("munged", "slurmctld", "slurmd", "ip", "unshare")):
                pids.append(int(entry))
    pids = sorted(set(pids))
    if pids:
        kill_wait(pids, 10)
        did.append(f"daemons {pids}")
    # 3. the network: namespaces (their eth0 ends go with them), veths, bridge
    for ns in ours:
        if ns in names:
            sh(which("ip"), "netns", "delete", ns, check=False)
            did.append(f"netns {ns}")
    for k in range(1, MAX_NODES + 1):
        veth = f"{VETH_PREFIX}{k}"
        if link_exists(veth):
            sh(which("ip"), "link", "delete", veth, check=False)
            did.append(f"veth {veth}")
    if link_exists(BRIDGE):
        sh(which("ip"), "link", "delete", BRIDGE, check=False)
        did.append(f"bridge {BRIDGE}")
    # 4. files: /etc/netns/<node>/ only where we wrote it, the directory
    for ns in ours:
        d = os.path.join(ETC_NETNS, ns)
        hosts = os.path.join(d, "hosts")
        try:
            with open(hosts) as f:
                ok = f.read().startswith(MARK)
        except OSError:
            continue
        if ok and sorted(os.listdir(d)) == ["hosts"]:
            shutil.rmtree(d, ignore_errors=True)
            did.append(d)
    if state and state.get("made_etc_netns"):
        try:
            os.rmdir(ETC_NETNS)  # made by us, and only if empty now
        except OSError:
            pass
    # what jobs left in the shared /dev/shm and /tmp under the nodes'
    # hostnames (Open MPI's shared-memory segments and session directories
    # of killed ranks: a later cluster reuses job ids, hence these names)
    for pattern in ("/dev/shm/vader_segment.%s.*", "/tmp/ompi.%s.*"):
        for k in range(1, MAX_NODES + 1):
            for path in glob.glob(pattern % node_name(k)):
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    try:
                        os.remove(path)
                    except OSError:
                        continue
                did.append(path)
    dirs = [state["dir"]] if state and state.get("dir") else []
    dirs += [os.path.join(tmp, e) for e in os.listdir(tmp)
             if e.startswith(DIR_PREFIX)]
    for d in sorted(set(dirs)):
        if os.path.basename(d).startswith(DIR_PREFIX) and os.path.isdir(d):
            shutil.rmtree(d, ignore_errors=True)
            did.append(d)
    try:
        os.remove(STATE)
    except OSError:
        pass
    if did and log:
        log("netns_cluster: removed " + ", ".join(did))
    return did


def _pdeathsig():
    """In the child: die with the parent (the test) and leave the test's
    process group, so a terminal's ^C reaches the test only."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def free_port(addr):
    with socket.socket() as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


class Cluster:
    """munged + slurmctld on the host, `nodes` slurmd in namespaces.
    persistent=False (a test): holds the lock, daemons die with this
    process; persistent=True (the CLI): daemons outlive it."""

    def __init__(self, nodes=3, cpus=2, persistent=False, slurmd_timeout=15,
                 log=print):
        if not 1 <= nodes <= MAX_NODES:
            raise ValueError(f"nodes must be 1..{MAX_NODES}")
        self.n, self.cpus, self.persistent = nodes, cpus, persistent
        self.slurmd_timeout = slurmd_timeout
        self.log = log or (lambda *a: None)
        self.nodes = [node_name(k) for k in range(1, nodes + 1)]
        self.addrs = {node_name(k): node_addr(k) for k in range(1, nodes + 1)}
        self.dir = self.conf = None
        self.procs = {}
        self.lock = None
        self.env = {}
        self._old_handlers = {}

    # -- life cycle ---------------------------------------------------------
    def __enter__(self):
        self._install_handlers()
        try:
            self.up()
        except BaseException:
            self.down()
            self._restore_handlers()
            raise
        return self

    def __exit__(self, *exc):
        try:
            self.down()
        finally:
            self._restore_handlers()

    def _install_handlers(self):
        def stop(signum, frame):
            raise KeyboardInterrupt(f"signal {signum}")
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            try:
                self._old_handlers[s] = signal.signal(s, stop)
            except ValueError:  # not the main thread
                pass

    def _restore_handlers(self):
        for s, h in self._old_handlers.items():
            signal.signal(s, h)
        self._old_handlers = {}

    def up(self):
        missing = missing_programs()
        if missing:
            raise RuntimeError(f"missing programs: {', '.join(missing)}")
        if os.geteuid() != 0:
            raise RuntimeError("root is needed (namespaces, bridge, slurmd)")
        self.lock = Lock()
        self.lock.__enter__()
        old = read_state()  # the lock is ours: whatever is there is stale
        if old and old.get("persistent"):
            self.log("netns_cluster: replacing the cluster made by "
                     "`netns_cluster.py up`")
        teardown(old, log=self.log)
        start = time.time()
        self.made_etc_netns = not os.path.exists(ETC_NETNS)
        self.dir = tempfile.mkdtemp(prefix=DIR_PREFIX)
        self.conf = os.path.join(self.dir, "slurm.conf")
        self._save_state()
        self._network()
        self._munge()
        self._slurm()
        self.env = self.make_env()
        self._write_env_sh()
        self.wait_for(self.all_idle, 60, "all nodes idle in sinfo")
        self.seconds_up = time.time() - start
        self._save_state()
        if self.persistent:
            self.lock.release()
        return self

    def down(self):
        try:
            if self.lock is not None:
                if self.lock.fd is None:   # persistent: retake it
                    self.lock.__enter__()
                teardown(read_state(), log=None)
        finally:
            for name, (proc, logf) in list(self.procs.items()):
                if proc.poll() is None:
                    proc.kill()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
                logf.close()
            self.procs = {}
            if self.lock is not None:
                self.lock.release()
                self.lock = None

    def _save_state(self):
        write_state({"owner_pid": os.getpid(), "persistent": self.persistent,
                     "made_etc_netns": getattr(self, "made_etc_netns", False),
                     "dir": self.dir, "conf": self.conf, "nodes": self.nodes,
                     "addrs": self.addrs, "bridge": BRIDGE,
                     "pids": {n: p.pid for n, (p, _) in self.procs.items()},
                     "created": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                              time.gmtime())})

    # -- network ------------------------------------------------------------
    def _network(self):
        ip = which("ip")
        sh(ip, "link", "add", BRIDGE, "type", "bridge")
        self._no_ipv6(BRIDGE)
        sh(ip, "addr", "add", f"{HOST_ADDR}/{PREFIXLEN}", "dev", BRIDGE)
        sh(ip, "link", "set", BRIDGE, "up")
        hosts = MARK + "127.0.0.1 localhost\n" + "".join(
            f"{a} {n}\n" for n, a in self.addrs.items())
        hosts += f"{HOST_ADDR} {socket.gethostname().split('.')[0]}-bridge\n"
        for k, node in enumerate(self.nodes, 1):
            veth = f"{VETH_PREFIX}{k}"
            sh(ip, "netns", "add", node)
            sh(ip, "link", "add", veth, "type", "veth", "peer", "name",
               "eth0", "netns", node)
            self._no_ipv6(veth)
            sh(ip, "link", "set", veth, "master", BRIDGE)
            sh(ip, "link", "set", veth, "up")
            for cmd in (["sysctl", "-q", "-w",
                         "net.ipv6.conf.all.disable_ipv6=1"],
                        ["sysctl", "-q", "-w",
                         "net.ipv6.conf.default.disable_ipv6=1"]):
                sh(ip, "netns", "exec", node, *cmd, check=False)
            sh(ip, "-n", node, "addr", "add",
               f"{self.addrs[node]}/{PREFIXLEN}", "dev", "eth0")
            sh(ip, "-n", node, "link", "set", "lo", "up")
            sh(ip, "-n", node, "link", "set", "eth0", "up")
            # bind-mounted on /etc/hosts in the node's mount namespace (where
            # `ip netns exec` would look for it): the nodes know each other
            # by name
            os.makedirs(os.path.join(ETC_NETNS, node), exist_ok=True)
            with open(os.path.join(ETC_NETNS, node, "hosts"), "w") as f:
                f.write(hosts)
        # every node reaches the host and every other node over the bridge
        probe = ("import socket,sys\n"
                 "for a in sys.argv[1:]:\n"
                 "  s=socket.socket(); s.settimeout(5)\n"
                 "  r=s.connect_ex((a,9)); s.close()\n"
                 "  assert r in (0,111), (a, r)\n")  # 111: refused = reached
        targets = [HOST_ADDR] + list(self.addrs.values())
        deadline = time.time() + 10
        for node in self.nodes:
            while True:
                proc = sh(ip, "netns", "exec", node, sys.executable, "-c",
                          probe, *targets, check=False)
                if proc.returncode == 0:
                    break
                if time.time() > deadline:
                    raise RuntimeError(f"{node} cannot reach the others: "
                                       f"{proc.stderr.strip()[-300:]}")
                time.sleep(0.3)

    @staticmethod
    def _no_ipv6(link):
        try:
            with open(f"/proc/sys/net/ipv6/conf/{link}/disable_ipv6",
                      "w") as f:
                f.write("1")
        except OSError:
            pass

    # -- daemons ------------------------------------------------------------
    def spawn(self, name, cmd):
        logf = open(os.path.join(self.dir, "log", f"{name}.stdout"), "w")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("SLURM_", "OMPI_", "PMIX_"))}
        env["SLURM_CONF"] = self.conf
        proc = subprocess.Popen(
            cmd, env=env, stdout=logf, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, cwd="/",
            start_new_session=self.persistent,
            preexec_fn=None if self.persistent else _pdeathsig)
        self.procs[name] = (proc, logf)
        self._save_state()
        return proc

    def _munge(self):
        d = self.dir
        os.chmod(d, 0o755)  # munged: the socket's path searchable by all
        for sub, mode in (("sock", 0o755), ("key", 0o700), ("state", 0o755),
                          ("spool", 0o755), ("run", 0o755), ("log", 0o755),
                          ("tmp", 0o755)):
            os.makedirs(os.path.join(d, sub))
            os.chmod(os.path.join(d, sub), mode)
        for node in self.nodes:
            os.makedirs(os.path.join(d, "spool", node))
            os.makedirs(os.path.join(d, "tmp", node))
            os.chmod(os.path.join(d, "tmp", node), 0o1777)
        key = os.path.join(d, "key", "munge.key")
        sh(which("mungekey"), "--create", f"--keyfile={key}") \
            if which("mungekey") else open(key, "wb").write(os.urandom(1024))
        os.chmod(key, 0o600)
        self.spawn("munged", [which("munged"), "--foreground", "--force",
                              f"--key-file={key}",
                              f"--socket={d}/sock/munge.socket",
                              f"--pid-file={d}/sock/munged.pid",
                              f"--log-file={d}/log/munged.log",
                              f"--seed-file={d}/key/munged.seed"])
        self.wait_for(lambda: os.path.exists(f"{d}/sock/munge.socket"), 20,
                      "the munged socket")

    def _slurm(self):
        nodes = "\n".join(
            f"NodeName={n} NodeAddr={a} NodeHostname={n} CPUs={self.cpus} "
            f"Sockets=1 CoresPerSocket={self.cpus} ThreadsPerCore=1 "
            f"RealMemory=1000 State=UNKNOWN" for n, a in self.addrs.items())
        with open(self.conf, "w") as f:
            f.write(SLURM_CONF.format(
                ctl_host=socket.gethostname().split(".")[0],
                host_addr=HOST_ADDR, dir=self.dir,
                ctld_port=free_port(HOST_ADDR),
                slurmd_port=free_port(HOST_ADDR),
                slurmd_timeout=self.slurmd_timeout, nodes=nodes,
                node_list=f"{NODE_PREFIX}[1-{self.n}]" if self.n > 1
                else self.nodes[0]))
        self.spawn("slurmctld", [which("slurmctld"), "-D", "-i", "-f",
                                 self.conf])
        for node in self.nodes:
            self.start_slurmd(node)

    def start_slurmd(self, node):
        """slurmd of `node` in its network namespace, a new UTS namespace
        with the node's hostname and a mount namespace (a slave of the
        host's: the same file system, new mounts propagate) in which only
        /etc/hosts is the node's (also to restart a node).  Not `ip netns
        exec`: it remounts /sys, which hides /sys/fs/cgroup from slurmd."""
        hosts = os.path.join(ETC_NETNS, node, "hosts")
        return self.spawn(f"slurmd-{node}", [
            which("nsenter"), f"--net=/run/netns/{node}", "--",
            which("unshare"), "--uts", "--mount", "--propagation", "slave",
            "--", "sh", "-c",
            'hostname "$0" && mount --bind "$1" /etc/hosts && '
            'exec "$2" -D -N "$0" -f "$3"',
            node, hosts, which("slurmd"), self.conf])

    def reboot_node(self, node):
        """The node comes back as after a reboot: nothing of it left
        running, its scratch (TmpFS) empty, and no step sockets of the
        crashed jobs in its spool directory; then a new slurmd.  Slurm
        22.05 leaves the PMIx socket and directory of a killed step there
        (stepd.slurm.pmix.JOB.STEP, pmix.JOB.STEP/), and the requeued job's
        step, which has the same job and step id, then fails to launch on
        the node ("Cannot bind() ... Address already in use", "Cannot
        create server lib tmpdir ... File exists")."""
        kill_wait(self.node_pids(node))
        scratch = os.path.join(self.dir, "tmp", node)
        for name in os.listdir(scratch):
            path = os.path.join(scratch, name)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        spool = os.path.join(self.dir, "spool", node)
        for path in (glob.glob(os.path.join(spool, "stepd.slurm.pmix.*")) +
                     glob.glob(os.path.join(spool, "pmix.*"))):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        return self.start_slurmd(node)

    def node_pids(self, node):
        return netns_pids(node)

    def kill_node(self, node, sig=signal.SIGKILL):
        """A node crash: every process of the node (slurmd, slurmstepd,
        the tasks) killed at once."""
        pids = self.node_pids(node)
        for p in pids:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        return pids

    def link(self, node, up):
        k = self.nodes.index(node) + 1
        sh(which("ip"), "link", "set", f"{VETH_PREFIX}{k}",
           "up" if up else "down")

    def in_node(self, node, *cmd, **kw):
        """Run a command on a node: its network and UTS namespaces (those
        of its slurmd)."""
        proc = self.procs.get(f"slurmd-{node}")
        pid = proc[0].pid if proc else None
        if not pid:
            raise RuntimeError(f"no slurmd for {node}")
        return subprocess.run([which("nsenter"), "-t", str(pid), "-n", "-u", "-m",
                               "--", *cmd], env=self.env, **kw)

    def make_env(self):
        """The environment for sbatch/srun: this cluster's SLURM_CONF and
        Open MPI over TCP on the bridge subnet only."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SLURM_")}
        env.update(cluster_env_vars(self.conf))
        return env

    def _write_env_sh(self):
        with open(os.path.join(self.dir, "env.sh"), "w") as f:
            f.write("# source this to use the netns cluster\n")
            for k, v in cluster_env_vars(self.conf).items():
                f.write(f"export {k}={v}\n")

    def run(self, *cmd, timeout=60, **kw):
        return subprocess.run([which(cmd[0]) or cmd[0], *cmd[1:]],
                              env=self.env, capture_output=True, text=True,
                              timeout=timeout, **kw)

    def node_states(self):
        out = self.run("sinfo", "-h", "-N", "-o", "%N %T").stdout
        return dict(line.split()[:2] for line in out.splitlines()
                    if len(line.split()) >= 2)

    def all_idle(self):
        for name, (proc, _) in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                   f"{self.logs()}")
        states = self.node_states()
        return all(states.get(n, "").startswith("idle") for n in self.nodes)

    @staticmethod
    def wait_for(cond, seconds, what):
        deadline = time.time() + seconds
        while time.time() < deadline:
            if cond():
                return
            time.sleep(0.3)
        raise RuntimeError(f"timed out after {seconds} s waiting for {what}")

    def logs(self, tail=2000):
        text = []
        logdir = os.path.join(self.dir or "/nonexistent", "log")
        for name in sorted(os.listdir(logdir)) if os.path.isdir(logdir) else []:
            with open(os.path.join(logdir, name), errors="replace") as f:
                body = f.read()[-tail:]
            if body.strip():
                text.append(f"--- {name}\n{body}")
        return "\n".join(text)


def cluster_env_vars(conf):
    net = f"{SUBNET}.0/{PREFIXLEN}"
    return {"SLURM_CONF": conf,
            # TCP between the nodes, on the bridge only; shared memory
            # (vader) only within a node (other hostname = other node)
            "OMPI_MCA_btl": os.environ.get("HR_CLUSTER_BTL", "self,tcp"),
            "OMPI_MCA_pml": "ob1",
            "OMPI_MCA_btl_tcp_if_include": net,
            "OMPI_MCA_oob_tcp_if_include": net,
            # the nodes share this machine's cores: a rank waiting in MPI
            # must yield, or a run on more ranks than cores crawls (Open MPI
            # sets this itself only when it sees the oversubscription)
            "OMPI_MCA_mpi_yield_when_idle": "1",
            "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


# ---- the command line ----------------------------------------------------

def cmd_up(args):
    state = read_state()
    if state and state.get("persistent") and not args.recreate and \
            _healthy(state):
        print("netns_cluster: already up (use `down` first, or --recreate)")
        _print_use(state)
        return 0
    c = Cluster(nodes=args.nodes, cpus=args.cpus, persistent=True)
    try:
        c.up()
    except BaseException as e:
        print(f"netns_cluster: up failed: {e}", file=sys.stderr)
        c.down()
        return 1
    for _, logf in c.procs.values():
        logf.close()
    proc = c.run("srun", "-N", str(c.n), "--ntasks-per-node=1", "hostname")
    print(f"netns_cluster: up in {c.seconds_up:.1f} s; srun -N {c.n} "
          f"hostname: {' '.join(sorted(proc.stdout.split()))}")
    _print_use(read_state())
    return 0


def _print_use(state):
    d = state["dir"]
    nodes = ", ".join(f"{n} ({state['addrs'][n]})" for n in state["nodes"])
    print(f"  nodes     {nodes}")
    print(f"  bridge    {BRIDGE} {HOST_ADDR}/{PREFIXLEN} (slurmctld, munged on the host)")
    print(f"  logs      {d}/log/")
    print("To submit jobs:")
    print(f"  export SLURM_CONF={state['conf']}")
    print(f"  # or, with Open MPI's TCP settings too: source {d}/env.sh")
    print(f"  sbatch --wait -N {len(state['nodes'])} --ntasks-per-node=2 "
          "run/slurm/hessrmt.sbatch hessian --n 300 --dim 20 "
          "--model mlp:20-16-4 -o X.h5 --no-stats")
    print(f"  {sys.executable} {os.path.abspath(__file__)} exec hrnode2 hostname")
    print(f"Stop it: {sys.executable} {os.path.abspath(__file__)} down")


def _healthy(state):
    pids = state.get("pids", {})
    return bool(pids) and all(pid_alive(p) for p in pids.values()) and \
        all(ns in netns_list() for ns in state.get("nodes", []))


def cmd_down(args):
    with Lock(wait=30):
        did = teardown(read_state(), log=None)
    print("netns_cluster: " + ("removed " + ", ".join(did) if did
                               else "nothing to remove"))
    return 0


def cmd_status(args):
    state = read_state()
    names = netns_list()
    leftovers = [n for n in names if n.startswith(NODE_PREFIX)]
    if not state:
        left = leftovers + ([BRIDGE] if link_exists(BRIDGE) else [])
        print("netns_cluster: down" + (
            f" (but left over: {', '.join(left)}; `down` removes them)"
            if left else ""))
        return 1 if leftovers else 3
    owner = state.get("owner_pid")
    who = "CLI" if state.get("persistent") else "a test"
    if not state.get("persistent") and not pid_alive(owner):
        who += ", dead: stale"
    print(f"netns_cluster: made {state.get('created')} by pid {owner} "
          f"({who})")
    for name, pid in sorted(state.get("pids", {}).items()):
        print(f"  {name:18} pid {pid:7} {'running' if pid_alive(pid) else 'GONE'}")
    for ns in state.get("nodes", []):
        print(f"  netns {ns:12} {'present' if ns in names else 'MISSING'}")
    env = dict(os.environ, SLURM_CONF=state["conf"])
    proc = subprocess.run([which("sinfo"), "-N", "-o", "%N %T %C"], env=env,
                          capture_output=True, text=True, timeout=20)
    print(proc.stdout.rstrip() or proc.stderr.rstrip())
    _print_use(state)
    return 0 if _healthy(state) else 1


def cmd_exec(args):
    state = read_state()
    if not state or args.node not in state.get("nodes", []):
        print(f"netns_cluster: no node {args.node} up", file=sys.stderr)
        return 2
    pid = state["pids"].get(f"slurmd-{args.node}")
    if not pid or not pid_alive(pid):
        print(f"netns_cluster: slurmd of {args.node} is not running",
              file=sys.stderr)
        return 2
    env = dict(os.environ, **cluster_env_vars(state["conf"]))
    return subprocess.call([which("nsenter"), "-t", str(pid), "-n", "-u", "-m",
                            "--", *(args.command or ["bash"])], env=env)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawTextHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    up = sub.add_parser("up", help="make the cluster (removes a stale one)")
    up.add_argument("--nodes", type=int, default=3)
    up.add_argument("--cpus", type=int, default=2, help="CPUs per node")
    up.add_argument("--recreate", action="store_true")
    sub.add_parser("down", help="remove the cluster and any leftovers")
    sub.add_parser("status", help="what is up")
    ex = sub.add_parser("exec", help="run a command on a node")
    ex.add_argument("node")
    ex.add_argument("command", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    if os.geteuid() != 0:
        print("netns_cluster: must run as root", file=sys.stderr)
        return 2
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status,
            "exec": cmd_exec}[args.what](args)


if __name__ == "__main__":
    sys.exit(main())
