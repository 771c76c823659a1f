"""Debian kernels for the test VM: resolve, download, extract, repair, cache.

The ABI behind each metapackage is resolved at run time (old ABIs vanish from
the archive), and a kernel is downloaded again only when its ABI changes.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

# series name -> the metapackage that tracks it
SERIES = {
    "6.1": "linux-image-amd64",
    "6.12": "linux-image-6.12-amd64",
}


class HarnessError(Exception):
    """A failure the harness explains in one sentence."""


def cache_root() -> Path:
    env = os.environ.get("UTRACE_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(xdg) / "utrace"


def _run(cmd: list[str], **kw) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if res.returncode != 0:
        raise HarnessError(
            f"`{' '.join(cmd)}` failed ({res.returncode}): {res.stderr.strip()[:500]}")
    return res.stdout


def _depends(pkg: str) -> list[str]:
    """Direct Depends of a package, as apt resolves them now."""
    out = subprocess.run(["apt-cache", "depends", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces",
                          "--no-enhances", pkg], capture_output=True, text=True).stdout
    deps = []
    for line in out.splitlines():
        m = re.match(r"\s*\|?(?:Pre)?Depends:\s*(\S+)", line)
        if m and not m.group(1).startswith("<"):
            deps.append(m.group(1))
    return deps


def _apt_update_if_possible() -> None:
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False)


@dataclass
class Kernel:
    series: str
    abi: str          # e.g. 6.1.0-56-amd64
    root: Path        # extracted packages
    version: str      # Debian package version of the image

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.abi}"

    @property
    def kdir(self) -> Path:
        return self.root / "usr" / "src" / f"linux-headers-{self.abi}"

    @property
    def kbuild_dir(self) -> Path:
        return (self.kdir / "scripts").resolve().parent


def resolve_abi(series: str) -> tuple[str, list[str], str]:
    """Returns (abi, packages to download, image version) for a series."""
    if series not in SERIES:
        raise HarnessError(f"unknown kernel series {series!r}; known: {', '.join(SERIES)}")
    meta = SERIES[series]
    for attempt in range(2):
        images = [d for d in _depends(meta) if d.startswith("linux-image-")]
        if images:
            break
        if attempt == 0:
            _apt_update_if_possible()
    else:
        raise HarnessError(
            f"apt does not know {meta}; run `sudo apt-get update` (or tools/install-deps) first")
    image = images[0]
    abi = image[len("linux-image-"):]
    if abi.endswith("-unsigned"):
        abi = abi[: -len("-unsigned")]
    headers = f"linux-headers-{abi}"
    hdeps = _depends(headers)
    extra = [d for d in hdeps
             if re.match(r"linux-headers-.*-common(-rt)?$", d) or d.startswith("linux-kbuild-")]
    if not any(d.startswith("linux-kbuild-") for d in extra):
        raise HarnessError(f"cannot find the kbuild package that {headers} depends on")
    pol = _run(["apt-cache", "policy", f"linux-image-{abi}"])
    m = re.search(r"Candidate:\s*(\S+)", pol)
    version = m.group(1) if m else "unknown"
    return abi, [f"linux-image-{abi}", headers] + extra, version


def fetch(series: str, log=print) -> Kernel:
    abi, pkgs, version = resolve_abi(series)
    root_dir = cache_root() / "kernels" / abi
    stamp = root_dir / ".complete"
    kernel = Kernel(series, abi, root_dir / "root", version)
    if stamp.exists() and kernel.vmlinuz.exists() and kernel.kdir.exists():
        return kernel

    log(f"[vm] fetching Debian kernel {abi} ({version}) for series {series}")
    if root_dir.exists():
        shutil.rmtree(root_dir)
    root_dir.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=root_dir) as tmp:
        os.chmod(tmp, 0o777)  # apt's _apt sandbox user must be able to write here
        try:
            _run(["apt-get", "download", "-q"] + pkgs, cwd=tmp)
        except HarnessError:
            # Stale package lists name an ABI the archive no longer has.
            if os.geteuid() != 0:
                raise
            _apt_update_if_possible()
            abi2, pkgs2, version2 = resolve_abi(series)
            if abi2 != abi:
                shutil.rmtree(root_dir, ignore_errors=True)
                return fetch(series, log)
            _run(["apt-get", "download", "-q"] + pkgs2, cwd=tmp)
        debs = sorted(Path(tmp).glob("*.deb"))
        if len(debs) != len(pkgs):
            raise HarnessError(f"expected {len(pkgs)} packages for {abi}, got {len(debs)}")
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(kernel.root)])
    _repair_headers(kernel)
    for p in (kernel.vmlinuz, kernel.kdir / "Makefile", kernel.kdir / "Module.symvers"):
        if not p.exists():
            raise HarnessError(f"the packages of {abi} lack {p.name}")
    stamp.write_text(f"{abi} {version}\n")
    # Older ABIs of the same series are of no further use.
    for other in (cache_root() / "kernels").iterdir():
        if other != root_dir and other.name.startswith(series + "."):
            shutil.rmtree(other, ignore_errors=True)
    return kernel


def _repair_headers(kernel: Kernel) -> None:
    """The headers' Makefile includes the common tree by absolute /usr/src path."""
    src = kernel.root / "usr" / "src"
    for mk in src.glob("linux-headers-*/Makefile"):
        text = mk.read_text()
        fixed = re.sub(r"^include /usr/src/", f"include {src}/", text, flags=re.M)
        if fixed != text:
            mk.write_text(fixed)


def checkpatch(log=print) -> Path:
    """checkpatch.pl and its data files, from Debian's linux-source package.

    The kbuild packages do not ship it, so take it from the newest
    linux-source-6.12 once and cache it by that package's version."""
    pol = _run(["apt-cache", "policy", "linux-source-6.12"])
    m = re.search(r"Candidate:\s*(\S+)", pol)
    if not m or m.group(1) == "(none)":
        _apt_update_if_possible()
        pol = _run(["apt-cache", "policy", "linux-source-6.12"])
        m = re.search(r"Candidate:\s*(\S+)", pol)
        if not m or m.group(1) == "(none)":
            raise HarnessError("apt does not know linux-source-6.12; run `sudo apt-get update`")
    ver = m.group(1).replace(":", "_")
    dest = cache_root() / "checkpatch" / ver
    script = dest / "scripts" / "checkpatch.pl"
    if script.exists():
        return script
    log(f"[vm] fetching checkpatch.pl from linux-source-6.12 {ver}")
    shutil.rmtree(cache_root() / "checkpatch", ignore_errors=True)
    dest.mkdir(parents=True)
    with tempfile.TemporaryDirectory(dir=dest) as tmp:
        os.chmod(tmp, 0o777)
        _run(["apt-get", "download", "-q", "linux-source-6.12"], cwd=tmp)
        deb = next(Path(tmp).glob("*.deb"))
        _run(["dpkg-deb", "-x", str(deb), tmp])
        tarball = next(Path(tmp).glob("usr/src/linux-source-*.tar.*"))
        top = tarball.name.split(".tar")[0]
        members = [f"{top}/scripts/checkpatch.pl", f"{top}/scripts/spelling.txt",
                   f"{top}/scripts/const_structs.checkpatch"]
        _run(["tar", "-xf", str(tarball), "-C", tmp] + members)
        (dest / "scripts").mkdir()
        for mem in members:
            shutil.copy2(Path(tmp) / mem, dest / "scripts")
    return script
