"""Boot a Debian kernel in QEMU with the utrace module, run tests, judge the run.

A run fails on: a test failure or a suite that did not finish, any kernel log
line of an oops, BUG, WARNING, lockdep report, Call Trace, hung task, RCU
stall or soft lockup, a taint other than out-of-tree (O) and unsigned (E), a
panic, or a timeout. Every failure is named.
"""

from __future__ import annotations

import base64
import io
import os
import re
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from kernels import HarnessError, Kernel

REPO = Path(__file__).resolve().parents[2]

# Kernel log lines that fail a run. Matched against kernel messages only
# (dmesg, or console lines carrying a printk timestamp), never test output.
KERNEL_LOG_FAILURES = [
    ("oops", re.compile(r"\bOops\b|general protection fault|kernel BUG at|"
                        r"BUG: unable to handle")),
    ("BUG", re.compile(r"\bBUG:")),
    ("WARNING", re.compile(r"WARNING:|-+\[ cut here \]-+")),
    ("lockdep report", re.compile(
        r"possible (recursive|circular) locking|possible irq lock inversion|"
        r"inconsistent lock state|lock held when returning to user|"
        r"possible deadlock|suspicious RCU usage|lockdep")),
    ("Call Trace", re.compile(r"Call Trace:")),
    ("hung task", re.compile(r"INFO: task \S+ blocked for more than|hung_task")),
    ("RCU stall", re.compile(r"rcu.*detected.*stall|rcu_\w+ kthread starved|"
                             r"RCU Tasks\w* .*stall", re.I)),
    ("soft lockup", re.compile(r"soft lockup|hard LOCKUP")),
    ("sanitizer report", re.compile(r"\b(UBSAN|KASAN|KFENCE|KCSAN):")),
    ("panic", re.compile(r"Kernel panic")),
]

TIMESTAMPED = re.compile(r"^\[\s*\d+\.\d+\]\s?(.*)$")

# Taint bits a test module may legitimately cause.
TAINT_OOT = 1 << 12      # O: out-of-tree module
TAINT_UNSIGNED = 1 << 13  # E: unsigned module
TAINT_LETTERS = "PFSRMBUDAWCIOELKXTN"

DONE_MARK = "UTRACE-HARNESS: done"


def scan_kernel_log(lines: list[str]) -> list[str]:
    """Returns one message per kernel log line that fails a run."""
    problems = []
    for line in lines:
        for name, rx in KERNEL_LOG_FAILURES:
            if rx.search(line):
                problems.append(f"kernel log shows a {name}: {line.strip()[:200]}")
                break
    return problems


def kernel_lines_of_console(console: str) -> list[str]:
    out = []
    for line in console.splitlines():
        m = TIMESTAMPED.match(line.strip("\r"))
        if m:
            out.append(line.strip("\r"))
    return out


def taint_problem(value: int) -> str | None:
    bad = value & ~(TAINT_OOT | TAINT_UNSIGNED)
    if not bad:
        return None
    letters = "".join(TAINT_LETTERS[i] for i in range(len(TAINT_LETTERS)) if bad >> i & 1)
    return f"kernel is tainted {value} (flags {letters} beyond out-of-tree/unsigned)"


@dataclass
class SuiteResult:
    name: str
    tests: int = 0
    failures: int = 0
    skipped: int = 0
    exit_code: int | None = None
    failed_names: list[str] = field(default_factory=list)
    # failure text per failed test, so a CI log explains itself
    failure_text: dict[str, str] = field(default_factory=dict)

    @property
    def passed(self) -> int:
        return self.tests - self.failures - self.skipped


def parse_gtest_xml(path: Path) -> SuiteResult:
    res = SuiteResult(path.stem)
    root = ET.parse(path).getroot()
    for case in root.iter("testcase"):
        if case.get("status") == "notrun":
            continue
        res.tests += 1
        if case.find("failure") is not None or case.find("error") is not None:
            res.failures += 1
            name = f"{case.get('classname')}.{case.get('name')}"
            res.failed_names.append(name)
            texts = [(el.get("message") or el.text or "").strip()
                     for el in list(case.iter("failure")) + list(case.iter("error"))]
            res.failure_text[name] = "\n".join(t for t in texts if t)
        elif case.get("result") == "skipped" or case.find("skipped") is not None:
            res.skipped += 1
    return res


@dataclass
class RunResult:
    label: str
    problems: list[str]
    suites: list[SuiteResult]
    seconds: float
    boot_seconds: float | None
    outdir: Path

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> tuple[int, int, int]:
        p = sum(s.passed for s in self.suites)
        f = sum(s.failures for s in self.suites)
        k = sum(s.skipped for s in self.suites)
        return p, f, k


def write_gtest_xml(path: Path, suite: str, cases: list[tuple[str, str | None, float]]) -> None:
    """Writes GoogleTest-format XML for the harness's own checks.

    cases: (name, failure message or None, seconds)."""
    fails = sum(1 for _, msg, _ in cases if msg)
    total = sum(t for _, _, t in cases)
    root = ET.Element("testsuites", tests=str(len(cases)), failures=str(fails),
                      disabled="0", errors="0", time=f"{total:.3f}", name="AllTests")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                       failures=str(fails), disabled="0", skipped="0", errors="0",
                       time=f"{total:.3f}")
    for name, msg, secs in cases:
        tc = ET.SubElement(ts, "testcase", name=name, status="run", result="completed",
                           time=f"{secs:.3f}", classname=suite)
        if msg:
            ET.SubElement(tc, "failure", message=msg, type="").text = msg
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="UTF-8", xml_declaration=True)


# --------------------------------------------------------------------------
# Module build

def build_kmod(kernel: Kernel, outdir: Path, log=print) -> dict[str, Path]:
    """Builds kmod/ against a kernel with W=1. Any compiler warning fails."""
    src = REPO / "kmod"
    work = outdir / "kmod"
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(src, work, ignore=shutil.ignore_patterns(
        "*.o", "*.ko", "*.mod", "*.mod.c", ".*.cmd", "modules.order", "Module.symvers"))
    cmd = ["make", "-C", str(kernel.kdir), f"M={work}", "W=1", "modules",
           f"-j{os.cpu_count() or 2}"]
    log(f"[vm] building kmod for {kernel.abi} (W=1)")
    res = subprocess.run(cmd, capture_output=True, text=True)
    out = res.stdout + res.stderr
    (outdir / "kmod-build.log").write_text(out)
    if res.returncode != 0:
        raise HarnessError(f"kmod does not build against {kernel.abi}; see "
                           f"{outdir / 'kmod-build.log'}:\n" + out[-3000:])
    warnings = [l for l in out.splitlines() if re.search(r"\bwarning:", l, re.I)]
    if warnings:
        raise HarnessError(f"kmod builds with warnings against {kernel.abi}:\n" +
                           "\n".join(warnings[:20]))
    mods = {p.stem: p for p in work.rglob("*.ko")}
    if "utrace" not in mods:
        raise HarnessError(f"the kmod build for {kernel.abi} produced no utrace.ko")
    return mods


# The guest's network: virtio-net over PCI. Debian builds these as modules
# (6.1 even the virtio core); their dependencies come from modinfo, since
# the packages ship no modules.dep.
NET_ROOT_MODULES = ("virtio_pci", "virtio_net")


def net_modules(kernel: Kernel, outdir: Path) -> list[Path]:
    """The kernel's own modules for virtio-net, decompressed for busybox
    insmod, in load order (dependencies first)."""
    moddir = kernel.root / "lib" / "modules" / kernel.abi
    index: dict[str, Path] = {}
    for f in (moddir / "kernel").rglob("*.ko*"):
        name = f.name.split(".ko")[0].replace("-", "_")
        index[name] = f
    order: list[str] = []

    def visit(name: str, trail: tuple[str, ...] = ()) -> None:
        if name in order or name in trail:
            return
        src = index.get(name)
        if src is None:
            return  # built in
        deps = subprocess.run(["modinfo", "-F", "depends", str(src)], capture_output=True,
                              text=True).stdout.strip()
        for d in filter(None, deps.split(",")):
            visit(d.replace("-", "_"), trail + (name,))
        order.append(name)

    for root in NET_ROOT_MODULES:
        visit(root)
    if "virtio_net" not in order and "virtio_net" in index:
        raise HarnessError(f"{kernel.abi}: cannot work out virtio_net's dependencies")
    outdir.mkdir(parents=True, exist_ok=True)
    out = []
    for name in order:
        src = index[name]
        dest = outdir / f"{name}.ko"
        if not dest.exists() or dest.stat().st_mtime < src.stat().st_mtime:
            tool = {".xz": ["xz", "-dc"], ".zst": ["zstd", "-dc"], ".gz": ["gzip", "-dc"]}.get(
                src.suffix)
            if tool:
                with open(dest, "wb") as f:
                    subprocess.run(tool + [str(src)], stdout=f, check=True)
            else:
                shutil.copy2(src, dest)
        out.append(dest)
    return out


def net_plan(mods: list[Path]) -> str:
    """Guest side: load them in order, bring eth0 up on QEMU's user network."""
    loads = "".join(f"load_module /lib/modules/net/{m.name}\n" for m in mods)
    return loads + ("ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0 && "
                    "ip route add default via 10.0.2.2\n")


# --------------------------------------------------------------------------
# initramfs

INIT_SCRIPT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin:/tests:/fixtures:/tools
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mkdir -p /results /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs shm /dev/shm
hostname utrace-vm
ip link set lo up 2>/dev/null
echo "UTRACE-HARNESS: booted $(uname -r) in $(cut -d' ' -f1 /proc/uptime)s"
ulimit -c 0

harness_fail() {
    echo "UTRACE-HARNESS: FAIL $*"
    echo "$*" >> /results/harness-failures
}

# load_module PATH [ARGS...]: insmod, or record why not.
load_module() {
    if ! insmod "$@" 2> /tmp/insmod.err; then
        harness_fail "insmod $1: $(cat /tmp/insmod.err)"
        return 1
    fi
}

# watchdog_start SECONDS NAME: if the step NAME is still running after
# SECONDS, print every task's kernel stack (and sysrq-w's blocked tasks) to
# the console, record the failure and kill the step's processes, so a hang
# is named with where it sleeps and the results still come home. The step
# calls watchdog_stop when it ends; a watchdog still asleep at power-off
# does not hold it up (poweroff -f).
watchdog_start() {
    ( sleep "$1"
      echo "UTRACE-HARNESS: watchdog: $2 still running after $1 s; kernel stacks:"
      for t in /proc/[0-9]*/task/[0-9]*; do
          [ -e "$t/exe" ] || continue    # user tasks only
          st=$(sed -n 's/^State:[[:space:]]*//p' "$t/status" 2>/dev/null)
          case "$st" in R*|D*|S*|T*|t*) ;; *) continue ;; esac
          echo "--- ${t#/proc/} $(cat "$t/comm" 2>/dev/null) $st wchan=$(cat "$t/wchan" 2>/dev/null)"
          cat "$t/stack" 2>/dev/null
      done
      echo w > /proc/sysrq-trigger
      harness_fail "watchdog: $2 still running after $1 s (kernel stacks on the console)"
      for n in $3; do killall -9 "$n" 2>/dev/null; done ) &
    watchdog_pid=$!
}

watchdog_stop() {
    kill "$watchdog_pid" 2>/dev/null
}

# run_gtest PATH: a statically linked GoogleTest binary; XML into /results.
run_gtest() {
    name=$(basename "$1")
    echo "UTRACE-HARNESS: suite $name start"
    "$1" --gtest_output=xml:/results/$name.xml ${GTEST_FILTER:+--gtest_filter=$GTEST_FILTER} \
        > /results/$name.out 2>&1 < /dev/null
    rc=$?
    echo "$name $rc" >> /results/exitcodes
    cat /results/$name.out
    echo "UTRACE-HARNESS: suite $name exit $rc"
}

__PLAN__

dmesg > /results/dmesg.log
cat /proc/sys/kernel/tainted > /results/tainted
echo "UTRACE-HARNESS: sending results"
stty -F /dev/ttyS1 raw -echo 2>/dev/null
tar -C /results -cf - . | gzip -1 | base64 > /dev/ttyS1
echo "====" > /dev/ttyS1
sync
echo "__DONE__"
poweroff -f
"""


def _copy_dynamic_deps(binary: Path, root: Path) -> None:
    """Copies the shared libraries a dynamically linked tool needs."""
    res = subprocess.run(["ldd", str(binary)], capture_output=True, text=True)
    if "not a dynamic executable" in res.stdout + res.stderr:
        return
    for line in res.stdout.splitlines():
        m = re.search(r"(/\S+)\s+\(0x", line)
        if m:
            lib = Path(m.group(1))
            dest = root / lib.relative_to("/")
            dest.parent.mkdir(parents=True, exist_ok=True)
            if not dest.exists():
                shutil.copy2(lib.resolve(), dest)


# --------------------------------------------------------------------------
# Python in the guest: Debian's interpreter, a trimmed standard library, the
# utrace module (debug info stripped) and examples/. Only for runs that have a
# suite needing it: it costs the initramfs a few MB.

PYTHON_GUEST_PATH = "/usr/lib/utrace/python"  # where the utrace module goes
# Parts of the standard library the examples and suites never import.
PYTHON_SKIP_DIRS = {
    "test", "tests", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "distutils",
    "pydoc_data", "asyncio", "email", "xml", "xmlrpc", "http", "urllib", "html", "wsgiref",
    "multiprocessing", "unittest", "concurrent", "curses", "dbm", "sqlite3", "ctypes", "venv",
    "zoneinfo", "tomllib", "site-packages", "dist-packages", "lib-dynload", "__phello__",
}
PYTHON_SKIP_FILES = {
    "pydoc.py", "turtle.py", "_pydecimal.py", "doctest.py", "pickletools.py", "mailbox.py",
    "_pyio.py", "imaplib.py", "smtplib.py", "nntplib.py", "ftplib.py", "telnetlib.py",
    "mailcap.py", "cgi.py", "cgitb.py", "pdb.py", "difflib.py", "tarfile.py", "zipfile.py",
    "ssl.py", "sitecustomize.py", "_sysconfigdata__linux_x86_64-linux-gnu.py",
}
# Codecs beyond these are never looked up in a C/UTF-8 guest.
PYTHON_ENCODINGS = {"__init__.py", "aliases.py", "utf_8.py", "utf_8_sig.py", "ascii.py",
                    "latin_1.py"}
# Extension modules (lib-dynload) worth having; Debian builds the rest in.
PYTHON_DYNLOAD = ("_json", "_bz2", "_lzma", "_queue", "_contextvars", "resource", "termios",
                  "mmap", "_typing")


@dataclass
class PythonBundle:
    module: Path            # the built utrace*.so
    examples: Path          # examples/ of the source tree
    interpreter: Path = Path("/usr/bin/python3")


def _python_files(stdlib: Path):
    """(source, relative path) of the trimmed standard library."""
    for dirpath, dirnames, filenames in os.walk(stdlib):
        d = Path(dirpath)
        rel = d.relative_to(stdlib)
        dirnames[:] = sorted(n for n in dirnames if not (rel == Path(".") and n.startswith(
            "config-")) and n not in PYTHON_SKIP_DIRS)
        in_cache = d.name == "__pycache__"
        for f in sorted(filenames):
            if rel.parts[:1] == ("encodings",) and not in_cache and f not in PYTHON_ENCODINGS:
                continue
            if in_cache:
                # the bytecode of the sources we keep, normal optimisation only
                m = re.fullmatch(r"(\w+)\.cpython-\d+\.pyc", f)
                source = m and (m.group(1) + ".py")
                if not source or source in PYTHON_SKIP_FILES or not (d.parent / source).exists():
                    continue
                if d.parent.name == "encodings" and source not in PYTHON_ENCODINGS:
                    continue
            elif not f.endswith(".py") or f in PYTHON_SKIP_FILES:
                continue
            src = d / f
            if src.is_symlink() and not src.resolve().is_relative_to(stdlib):
                continue  # Debian's sitecustomize & co. point into /etc
            yield src, rel / f


def add_python(root: Path, py: PythonBundle) -> None:
    """Puts the interpreter, its trimmed library, the utrace module and the
    examples into the initramfs tree at root."""
    interp = py.interpreter.resolve()
    m = re.fullmatch(r"python(\d+\.\d+)", interp.name)
    if not m:
        raise HarnessError(f"{py.interpreter} is not a pythonX.Y interpreter")
    ver = m.group(1)
    stdlib = Path(f"/usr/lib/python{ver}")
    dest = root / "usr" / "bin" / interp.name
    shutil.copy2(interp, dest)
    (root / "usr" / "bin" / "python3").symlink_to(interp.name)
    _copy_dynamic_deps(interp, root)
    lib = root / "usr" / "lib" / f"python{ver}"
    for src, rel in _python_files(stdlib):
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, lib / rel)  # mtimes kept: the .pyc files stay valid
    dyn = lib / "lib-dynload"
    dyn.mkdir(parents=True, exist_ok=True)
    for name in PYTHON_DYNLOAD:
        for so in (stdlib / "lib-dynload").glob(f"{name}.cpython-*.so"):
            shutil.copy2(so, dyn / so.name)
            _copy_dynamic_deps(so, root)
    mod_dir = root / PYTHON_GUEST_PATH.lstrip("/")
    mod_dir.mkdir(parents=True, exist_ok=True)
    # Without its DWARF the module is a tenth of its size; backtraces of the
    # traced programs do not need it.
    res = subprocess.run(["strip", "--strip-debug", "-o", str(mod_dir / py.module.name),
                          str(py.module)], capture_output=True, text=True)
    if res.returncode:
        raise HarnessError(f"strip {py.module} failed: {res.stderr.strip()}")
    _copy_dynamic_deps(py.module, root)
    ex = root / "examples"
    ex.mkdir(exist_ok=True)
    for f in sorted(py.examples.glob("*.py")):
        shutil.copy2(f, ex / f.name)


def python_bundle(build: Path) -> PythonBundle | None:
    """The utrace module of a build (UTRACE_BUILD_PYTHON) with examples/, if built."""
    mods = sorted((build / "python").glob("utrace.cpython-*.so"))
    return PythonBundle(mods[0], REPO / "examples") if mods else None


PYTHON_ENV = f"""export PYTHONHOME=/usr PYTHONPATH={PYTHON_GUEST_PATH}
export PYTHONUTF8=1
"""


def make_initramfs(out: Path, plan: str, modules: list[Path] = (),
                   tests: list[Path] = (), fixtures: list[Path] = (),
                   tools: list[Path] = (), files: dict[str, Path] | None = None,
                   python: PythonBundle | None = None) -> Path:
    """Packs busybox, modules, test binaries, fixtures and tools into a cpio;
    with python, also an interpreter, the utrace module and examples/."""
    busybox = shutil.which("busybox") or "/bin/busybox"
    if "statically linked" not in subprocess.run(["file", "-L", busybox], capture_output=True,
                                                  text=True).stdout and \
            not Path("/bin/busybox").exists():
        raise HarnessError("busybox-static is not installed; run tools/install-deps")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "root"
        for d in ("bin", "sbin", "usr/bin", "proc", "sys", "dev", "tmp", "etc", "results",
                  "lib/modules", "tests", "fixtures", "tools", "root", "home/user"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2("/bin/busybox", root / "bin" / "busybox")
        if python:
            add_python(root, python)
            plan = PYTHON_ENV + plan
        init = INIT_SCRIPT.replace("__PLAN__", plan).replace("__DONE__", DONE_MARK)
        (root / "init").write_text(init)
        os.chmod(root / "init", 0o755)
        (root / "etc" / "passwd").write_text(
            "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
            "other:x:1001:1001:other:/home/user:/bin/sh\n")
        (root / "etc" / "group").write_text("root:x:0:\nuser:x:1000:\nother:x:1001:\n")
        for m in modules:
            shutil.copy2(m, root / "lib" / "modules" / m.name)
        for sub, items in (("tests", tests), ("fixtures", fixtures), ("tools", tools)):
            for b in items:
                shutil.copy2(b, root / sub / b.name)
                _copy_dynamic_deps(b, root)
        for dest, srcp in (files or {}).items():
            d = root / dest.lstrip("/")
            d.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(srcp, d)
        out.parent.mkdir(parents=True, exist_ok=True)
        listing = subprocess.run(["find", "."], cwd=root, capture_output=True,
                                 text=True, check=True).stdout
        with open(out, "wb") as f:
            cpio = subprocess.Popen(["cpio", "--quiet", "-o", "-H", "newc", "-R", "0:0"],
                                    cwd=root, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
            gz = subprocess.Popen(["gzip", "-1"], stdin=cpio.stdout, stdout=f)
            cpio.stdout.close()
            cpio.communicate(listing.encode())
            gz.wait()
            if cpio.returncode or gz.returncode:
                raise HarnessError("packing the initramfs failed")
    return out


# --------------------------------------------------------------------------
# QEMU

def kvm_usable() -> bool:
    return os.access("/dev/kvm", os.R_OK | os.W_OK)


# The QEMU tools/install-deps installs (why: there, and vmtest textpatch).
QEMU_MIN_MAJOR = 10


def check_qemu() -> None:
    if os.environ.get("UTRACE_QEMU_ANY") == "1":
        return  # vmtest textpatch on an old QEMU, to see the bug for oneself
    try:
        out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise HarnessError("qemu-system-x86_64 is not installed; run tools/install-deps")
    m = re.search(r"version (\d+)\.", out)
    if not m or int(m.group(1)) < QEMU_MIN_MAJOR:
        raise HarnessError(
            f"QEMU {m.group(1) if m else '?'} runs stale guest code after the kernel patches "
            f"its text under TCG (oopses and hangs that are not ours); run tools/install-deps "
            f"for QEMU {QEMU_MIN_MAJOR} or newer from bookworm-backports")


def qemu_cmd(kernel: Kernel, initrd: Path, console: Path | None, data: Path | None,
             kvm: bool, smp: int, mem: str, append_extra: str = "",
             interactive: bool = False, net_fwd: str | None = None) -> list[str]:
    append = ("console=ttyS0,115200 loglevel=7 printk.time=1 panic=-1 "
              "rdinit=/init " + append_extra).strip()
    cmd = ["qemu-system-x86_64", "-nodefaults", "-no-reboot", "-display", "none",
           "-m", mem, "-smp", str(smp),
           "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd), "-append", append]
    if kvm:
        cmd += ["-accel", "kvm", "-cpu", "host"]
    else:
        check_qemu()
        cmd += ["-accel", "tcg,thread=multi", "-cpu", "max"]
    if interactive:
        cmd += ["-serial", "mon:stdio"]
    else:
        cmd += ["-serial", f"file:{console}", "-monitor", "none"]
    if data is not None:
        cmd += ["-serial", f"file:{data}"]
    if net_fwd:
        cmd += ["-nic", f"user,model=virtio-net-pci,{net_fwd}"]
    else:
        cmd += ["-nic", "none"]
    return cmd


def _die_with_parent() -> None:
    """In the QEMU child: die with the harness (killed, or its caller gone,
    say the GUI that started the demo VM), never run on as an orphan."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def boot(kernel: Kernel, initrd: Path, outdir: Path, label: str, timeout: float,
         kvm: bool = False, smp: int = 2, mem: str = "2G",
         suites_expected: list[str] = (), filtered: bool = False,
         log=print, net_fwd: str | None = None, append_extra: str = "") -> RunResult:
    """Boots, waits for power-off or the timeout, and judges the run."""
    outdir.mkdir(parents=True, exist_ok=True)
    console = outdir / "console.log"
    data = outdir / "results.b64"
    for p in (console, data):
        p.unlink(missing_ok=True)
    cmd = qemu_cmd(kernel, initrd, console, data, kvm, smp, mem, append_extra=append_extra,
                   net_fwd=net_fwd)
    start = time.monotonic()
    problems: list[str] = []
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, preexec_fn=_die_with_parent)
    timed_out = False
    try:
        qemu_out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        proc.kill()
        qemu_out, _ = proc.communicate()
    seconds = time.monotonic() - start
    console_text = console.read_text(errors="replace") if console.exists() else ""
    m = re.search(r"UTRACE-HARNESS: booted \S+ in ([\d.]+)s", console_text)
    boot_seconds = float(m.group(1)) if m else None

    if proc.returncode not in (0, None) and not timed_out:
        problems.append(f"qemu exited with status {proc.returncode}: {qemu_out.strip()[:300]}")
    if timed_out:
        problems.append(f"timeout: the guest did not power off within {timeout:.0f} s "
                        "(hang, or a test that never ended)")

    # Results the guest sent over the second serial port.
    results_dir = outdir
    got_results = False
    if data.exists() and data.stat().st_size:
        raw = data.read_bytes().split(b"====")[0]
        try:
            blob = base64.b64decode(re.sub(rb"[^A-Za-z0-9+/=]", b"", raw))
            with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
                tar.extractall(results_dir, filter="data") if hasattr(tarfile, "data_filter") \
                    else tar.extractall(results_dir)
            got_results = True
        except Exception as e:  # a guest that died mid-transfer
            problems.append(f"the guest's results could not be decoded: {e}")
    data.unlink(missing_ok=True)

    if DONE_MARK not in console_text and not timed_out:
        problems.append("the guest stopped before the harness finished (crash or panic)")

    # Kernel log: the guest's full dmesg when it got that far, else the
    # console. Both are scanned: the console also holds what came after dmesg
    # was taken (a panic at power-off, say).
    cons_lines = kernel_lines_of_console(console_text)
    dmesg = results_dir / "dmesg.log"
    if dmesg.exists():
        klines = dmesg.read_text(errors="replace").splitlines()
        dmesg.unlink()
    else:
        klines = cons_lines
    (results_dir / "kernel.log").write_text("\n".join(klines) + "\n")
    for p in scan_kernel_log(klines) + scan_kernel_log(cons_lines):
        if p not in problems:
            problems.append(p)

    taint_file = results_dir / "tainted"
    if taint_file.exists():
        t = taint_problem(int(taint_file.read_text().strip() or "0"))
        if t:
            problems.append(t)
        taint_file.unlink()
    elif got_results:
        problems.append("the guest did not report its taint")

    hf = results_dir / "harness-failures"
    if hf.exists():
        problems += [f"in the guest: {l}" for l in hf.read_text().splitlines() if l.strip()]
        hf.unlink()

    suites: list[SuiteResult] = []
    codes = {}
    ec = results_dir / "exitcodes"
    if ec.exists():
        for line in ec.read_text().splitlines():
            name, _, rc = line.partition(" ")
            codes[name] = int(rc)
        ec.unlink()
    for name in suites_expected:
        xml = results_dir / f"{name}.xml"
        if not xml.exists():
            problems.append(f"suite {name} left no results (did not run, or crashed)")
            continue
        try:
            s = parse_gtest_xml(xml)
        except ET.ParseError as e:
            problems.append(f"suite {name} wrote unreadable XML: {e}")
            continue
        s.exit_code = codes.get(name)
        if s.failures:
            problems.append(f"suite {name}: {s.failures} test(s) failed: "
                            + ", ".join(s.failed_names[:10]))
        elif s.exit_code not in (0, None):
            problems.append(f"suite {name} exited with status {s.exit_code}")
        if s.tests == 0 and not filtered:
            problems.append(f"suite {name} ran no test")
        suites.append(s)
    return RunResult(label, problems, suites, seconds, boot_seconds, outdir)
