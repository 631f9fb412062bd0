#!/usr/bin/env python3
"""The manual stays true to the program: the committed command reference is
what `hessrmt help --markdown` prints, every --help fits an 80-column
terminal and lists every option of its command, and the man pages render
without warnings."""
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


if __name__ == "__main__":
    sys.exit(Harness(__doc__, {"reference": case_reference, "help": case_help,
                               "man": case_man}).main())
