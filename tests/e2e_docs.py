#!/usr/bin/env python3
"""The manual stays true to the program: the committed command reference is
what `hessrmt help --markdown` prints, every --help fits an 80-column
terminal and lists every option of its command, the man pages render
without warnings, every command of README.md's front page runs, and an
installed copy runs the quick start with no path into the source tree."""
import os
import re
import shutil
import subprocess
import sys

from e2e_common import Harness

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGENERATE = "build/hessrmt help --markdown > docs/reference.md"


def program_text(h, *args):
    proc = subprocess.run([h.args.hessrmt, *args], capture_output=True,
                          text=True, timeout=60)
    h.expect(proc.returncode == 0, f"hessrmt {' '.join(args)}: "
             f"{proc.returncode} {proc.stderr[-500:]}")
    return proc.stdout


def commands(h):
    return program_text(h, "help", "--commands").split()


def case_reference(h):
    """docs/reference.md equals the program's own reference, line by line."""
    made = program_text(h, "help", "--markdown")
    path = os.path.join(ROOT, "docs", "reference.md")
    committed = open(path).read() if os.path.exists(path) else ""
    if made != committed:
        import difflib
        diff = difflib.unified_diff(committed.splitlines(), made.splitlines(),
                                    "docs/reference.md",
                                    "hessrmt help --markdown", lineterm="")
        print("\n".join(list(diff)[:60]), file=sys.stderr)
    h.expect(made == committed, "docs/reference.md differs from the option "
             f"table: regenerate it with `{REGENERATE}`")
    for name in commands(h):
        h.expect(f"\n## hessrmt {name}\n" in made, f"no section for {name}")


def table_options(markdown, name):
    """The long options the reference gives command `name`."""
    part = markdown.split(f"\n## hessrmt {name}\n")[1].split("\n## ")[0]
    return re.findall(r"^- (?:`-.`, )?`--([a-z0-9-]+)", part, re.M)


def case_help(h):
    """--help of every command: at most 80 columns, every option listed,
    each section heading once; `hessrmt help CMD` says the same."""
    markdown = program_text(h, "help", "--markdown")
    for name in commands(h):
        text = program_text(h, name, "--help")
        wide = [l for l in text.splitlines() if len(l) > 80]
        h.expect(not wide, f"{name} --help has lines over 80 columns: {wide[:2]}")
        for opt in table_options(markdown, name):
            h.expect(f"--{opt}" in text, f"{name} --help lacks --{opt}")
        heads = re.findall(r"^([A-Z][A-Za-z ]+):$", text, re.M)
        h.expect(len(heads) == len(set(heads)),
                 f"{name} --help repeats a section: {heads}")
        h.expect(program_text(h, "help", name) == text,
                 f"'hessrmt help {name}' differs from '{name} --help'")
    proc = subprocess.run([h.args.hessrmt, "help", "nosuch"],
                          capture_output=True, text=True, timeout=30)
    h.expect(proc.returncode == 2 and "unknown command" in proc.stderr,
             f"help of an unknown command: {proc.returncode} {proc.stderr}")


def case_man(h):
    """Every man page renders with groff's warnings on, names its command
    and lists the options of the reference."""
    if not shutil.which("groff"):
        print("skipped: no groff")
        return
    markdown = program_text(h, "help", "--markdown")
    for name in [None] + commands(h):
        args = ["help", "--man"] + ([name] if name else [])
        page = program_text(h, *args)
        proc = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-z"],
                              input=page, capture_output=True, text=True,
                              timeout=60)
        h.expect(proc.returncode == 0 and not proc.stderr.strip(),
                 f"groff warns on the page of {name}: {proc.stderr[:500]}")
        h.expect(page.count(".TH ") == 1, f"page of {name}: one .TH line")
        if name:
            for opt in table_options(markdown, name):
                h.expect("\\-\\-" + opt.replace("-", "\\-") in page,
                         f"man page of {name} lacks --{opt}")


# ---- the front page ------------------------------------------------------

def readme_blocks():
    """README.md's ```sh blocks: (set-up, install, the quick start's)."""
    text = open(os.path.join(ROOT, "README.md")).read()
    blocks = re.findall(r"^```sh\n(.*?)^```", text, re.M | re.S)
    setup = [b for b in blocks if "bash run/setup.sh" in b]
    install = [b for b in blocks if "cmake --install" in b]
    rest = [b for b in blocks if b not in setup + install]
    return text, setup, install, rest


def command_lines(block):
    return [l.split("#")[0].strip() for l in block.splitlines()
            if l.split("#")[0].strip()]


def quiet_env(extra_path):
    """No HESSRMT and no other hessrmt on PATH; Debian's python3 (with
    torch) first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HESSRMT")}
    path = [d for d in env.get("PATH", "").split(":")
            if d and not os.path.exists(os.path.join(d, "hessrmt"))]
    env["PATH"] = ":".join(extra_path + ["/usr/bin", "/bin"] + path)
    return env


def run_script(h, script, cwd, env, what):
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=900)
    h.no_sanitizer_report(proc, [what])
    h.expect(proc.returncode == 0, f"{what} failed ({proc.returncode}): "
             f"{proc.stdout[-1500:]} {proc.stderr[-2500:]}")
    return proc


def check_quick_start_outputs(h, cwd, proc, what):
    for name in ["mlp.h5", "mlp-stats.json", "mlp-figures/ratios.png",
                 "my_model.h5", "mine.h5", "mine-stats.json",
                 "mine-figures/ratios.png"]:
        h.expect(os.path.exists(os.path.join(cwd, name)),
                 f"{what}: the quick start wrote no {name}")
    h.expect(proc.stdout.count("verdict") >= 3,
             f"{what}: fewer than three verdicts: {proc.stdout[-800:]}")


def torch_missing():
    return subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                          capture_output=True).returncode != 0


def case_readme(h):
    """The front page: at most 250 lines; its set-up block is the two
    commands, CI runs exactly the test command and run/setup.sh ends in
    run/quickstart.sh, which runs here; every other ```sh block runs, in
    order, from a directory where run/ and build/ are the tree's."""
    text, setup, install, rest = readme_blocks()
    h.expect(text.count("\n") <= 250, f"README.md has {text.count(chr(10))} lines")
    h.expect(len(setup) == 1 and command_lines(setup[0]) ==
             ["bash run/setup.sh", "bash run/test.sh"],
             f"the set-up block is not the two commands: {setup}")
    ci = command_lines(open(os.path.join(ROOT, ".ci", "run")).read())
    h.expect(ci[-1] == "exec bash run/test.sh", f".ci/run: {ci}")
    steps = command_lines(open(os.path.join(ROOT, "run", "setup.sh")).read())
    h.expect(steps[-3:] == ["bash run/install-deps.sh", "bash run/build.sh",
                            "bash run/quickstart.sh"], f"run/setup.sh: {steps}")
    env = quiet_env([])
    env["HESSRMT"] = os.path.abspath(h.args.hessrmt)
    proc = run_script(h, f"bash {ROOT}/run/quickstart.sh", h.workdir, env,
                      "run/quickstart.sh")
    h.expect("verdict" in proc.stdout, "run/quickstart.sh gave no verdict")
    if torch_missing():
        print("skipped: the quick start needs python3-torch")
        return
    work = h.path("front")
    os.makedirs(work)
    os.symlink(os.path.join(ROOT, "run"), os.path.join(work, "run"))
    os.symlink(os.path.dirname(os.path.abspath(h.args.hessrmt)),
               os.path.join(work, "build"))
    proc = run_script(h, "\n".join(rest), work, quiet_env([]),
                      "the README's quick start")
    check_quick_start_outputs(h, work, proc, "README")
    print(proc.stdout[-3000:])


# ---- the installed copy --------------------------------------------------

INSTALLED = ["bin/hessrmt", "bin/hessrmt-mpirun", "bin/hessrmt-torch",
             "share/hessrmt/env.sh", "share/hessrmt/scaling.py",
             "share/hessrmt/slurm/hessrmt.sbatch",
             "share/hessrmt/slurm/job-array.sbatch",
             "share/hessrmt/pbs/hessrmt.pbs", "share/hessrmt/pbs/job-array.pbs",
             "share/hessrmt/torch/hessrmt_torch.py", "share/man/man1/hessrmt.1",
             "share/doc/hessrmt/reference.md"]


def no_tree_paths(h, prefix, build):
    """No installed text file names the source tree or the build."""
    for dirpath, _, files in os.walk(prefix):
        for f in files:
            path = os.path.join(dirpath, f)
            if os.path.islink(path):
                continue
            data = open(path, "rb").read()
            if b"\0" in data[:4096]:
                continue  # the program: its __FILE__ strings name sources
            for tree in (ROOT, build):
                h.expect(tree.encode() not in data,
                         f"{os.path.relpath(path, prefix)} names {tree}")


def installed_tools(h, prefix, env):
    """The scaling driver and a PBS job array from share/hessrmt."""
    work = h.path("tools")
    os.makedirs(work)
    share = os.path.join(prefix, "share", "hessrmt")
    run_script(h, f"/usr/bin/python3 {share}/scaling.py --ranks 1,2 "
               "--mode strong --out sc -- ensemble --n 120 --count 2", work,
               env, "the installed scaling driver")
    h.expect(os.path.exists(os.path.join(work, "sc", "scaling.csv")),
             "the installed scaling driver wrote no scaling.csv")
    import socket
    with open(os.path.join(work, "nodes"), "w") as f:
        f.write(f"{socket.gethostname()}\n" * 2)
    pbs = dict(env, PBS_NODEFILE=os.path.join(work, "nodes"), PBS_O_WORKDIR=work,
               PBS_JOBID="1.fake", PBS_ARRAY_INDEX="0",
               HR_DATA="--data synthetic --n 256 --dim 10 --classes 3",
               HR_MODEL="--model logistic", HR_BATCH_SIZE="32",
               HR_BATCHES_PER_TASK="2", HR_GROUPS="1", HR_PARTS_DIR="parts")
    proc = run_script(h, f"bash {share}/pbs/job-array.pbs", work, pbs,
                      "the installed PBS job array")
    h.expect(os.path.join(prefix, "bin", "hessrmt") in proc.stdout,
             f"the PBS template ran another program: {proc.stdout[:600]}")
    h.expect(os.path.exists(os.path.join(work, "parts", "part-0000.h5")),
             "the installed PBS job array wrote no part")


def case_install(h):
    """cmake --install into a temporary prefix; the quick start of the
    front page, in the installed names, from a directory outside the tree
    with only PREFIX/bin on PATH; the man pages, the scaling driver and a
    batch template from there."""
    build = os.path.dirname(os.path.abspath(h.args.hessrmt))
    prefix = h.path("prefix")
    _, _, install, rest = readme_blocks()
    h.expect(len(install) == 1 and re.match(r"cmake --install build --prefix \S+$",
             command_lines(install[0])[0]), f"the install block: {install}")
    proc = subprocess.run(["cmake", "--install", build, "--prefix", prefix],
                          capture_output=True, text=True, timeout=300)
    h.expect(proc.returncode == 0, f"cmake --install: {proc.stderr[-1500:]}")
    for f in INSTALLED:
        h.expect(os.path.exists(os.path.join(prefix, f)), f"not installed: {f}")
    names = program_text(h, "help", "--commands").split()
    for name in names:
        page = os.path.join(prefix, "share", "man", "man1", f"hessrmt-{name}.1")
        h.expect(os.path.exists(page), f"no man page {page}")
    no_tree_paths(h, prefix, build)
    env = quiet_env([os.path.join(prefix, "bin")])
    if shutil.which("man"):
        proc = run_script(h, f"man -M {prefix}/share/man -P cat hessrmt-hessian",
                          h.workdir, dict(env, MANWIDTH="80"), "man hessrmt-hessian")
        h.expect("--batch-size" in proc.stdout.replace("\u2010", "-"),
                 f"man hessrmt-hessian: {proc.stdout[:300]}")
    installed_tools(h, prefix, env)
    if torch_missing():
        print("skipped: the quick start needs python3-torch")
        return
    script = "\n".join(rest).replace("run/hessrmt-mpirun", "hessrmt-mpirun") \
        .replace("run/torch/hessrmt_torch.py", "hessrmt-torch") \
        .replace("build/hessrmt", "hessrmt")
    work = h.path("installed")
    os.makedirs(work)
    proc = run_script(h, script, work, env, "the installed quick start")
    check_quick_start_outputs(h, work, proc, "installed")


if __name__ == "__main__":
    sys.exit(Harness(__doc__, {"reference": case_reference, "help": case_help,
                               "man": case_man, "readme": case_readme,
                               "install": case_install}).main())
