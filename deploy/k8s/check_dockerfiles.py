#!/usr/bin/env python3
"""Static checks of deploy/docker/Dockerfile.{cpu,cuda} (`make test`; the
images cannot be built on a machine without registry access, so this is
what can be checked without building them):

  * every COPY source from the build context exists (globs match a file)
    and its Dockerfile's .dockerignore does not exclude it; COPY --from names
    an earlier stage, and a stage's /build/bin/<name> is a target that
    stage's `cmake --build --target` builds, and every such target is a
    binary or custom target of the CMake build;
  * each build stage COPYs every folder the top-level CMakeLists.txt
    configures (its add_subdirectory list; with -DRECA_WITH_CUDA=ON only the
    CUDA build's), and cmake/;
  * the Debian build stages install only packages scripts/setup.sh installs
    (the same build dependencies), and every Debian package named exists
    (apt-cache, where its lists are present);
  * with --bin-dir (the CMake build's bin/), the runtime stages install the
    package of every shared library the binaries they ship link (readelf);
  * every binary the rendered manifests run (container command) is installed
    by the Dockerfile of the container's image (reca -> Dockerfile.cpu,
    reca-cuda -> Dockerfile.cuda), with the helper it launches next to it
    (reca-worker: reca-train, reca-evaluator: reca-eval); the runtime user is
    uid 10001, as the manifests' runAsUser; recactl's launcher points at
    what the image installs.

    check_dockerfiles.py [--root REPO] [--kubectl K] [--bin-dir DIR]
"""
import argparse
import fnmatch
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from check_manifests import copy_tree, image_kind, pod_template  # noqa: E402

DOCKERFILES = {"cpu": "deploy/docker/Dockerfile.cpu", "cuda": "deploy/docker/Dockerfile.cuda"}
HELPERS = {"reca-worker": "reca-train", "reca-evaluator": "reca-eval"}
UID = 10001
# In every Debian image; never listed.
BASE_PACKAGES = {"libc6", "libgcc-s1", "libstdc++6"}


class Stage:
    def __init__(self, base, name, index):
        self.base, self.name, self.index = base, name, index
        self.instructions = []  # (keyword, text, line)

    def runs(self):
        return [t for k, t, _ in self.instructions if k == "RUN"]


def parse_dockerfile(path):
    """[Stage], with ARG defaults substituted into FROM lines."""
    with open(path) as f:
        raw = f.read().split("\n")
    logical, buf, start = [], "", 0
    for n, line in enumerate(raw, 1):
        s = line.strip()
        if not buf and (not s or s.startswith("#")):
            continue
        if buf and s.startswith("#"):
            continue  # comment lines inside a continued instruction
        if not buf:
            start = n
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        buf += s
        logical.append((start, buf))
        buf = ""
    args, stages = {}, []
    for line_no, text in logical:
        kw, _, rest = text.partition(" ")
        kw = kw.upper()
        if kw == "ARG" and not stages:
            name, _, default = rest.strip().partition("=")
            args[name] = default
            continue
        if kw == "FROM":
            m = re.fullmatch(r"(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", rest.strip(), re.I)
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda x: args.get(x.group(1) or x.group(2), ""),
                          m.group(1))
            stages.append(Stage(base, m.group(2), len(stages)))
            continue
        if not stages:
            continue
        stages[-1].instructions.append((kw, rest.strip(), line_no))
    return stages


def apt_packages(run):
    """Packages of every `apt-get install` in a RUN command."""
    out = []
    for part in re.split(r"&&|;", run):
        words = part.split()
        if "apt-get" in words and "install" in words:
            for w in words[words.index("install") + 1:]:
                if not w.startswith("-"):
                    out.append(w)
    return out


def setup_required(root):
    with open(os.path.join(root, "scripts", "setup.sh")) as f:
        src = f.read()
    m = re.search(r"^REQUIRED=\((.*?)^\)", src, re.S | re.M)
    words = []
    for line in (m.group(1) if m else "").split("\n"):
        words += line.split("#", 1)[0].split()
    return set(words)


def cmake_subdirs(root, cuda):
    """The top-level CMakeLists.txt's add_subdirectory folders (those a
    -DRECA_WITH_CUDA=ON configure reaches when `cuda`)."""
    with open(os.path.join(root, "CMakeLists.txt")) as f:
        lines = f.read().split("\n")
    stack, out = [], []
    for line in lines:
        s = line.split("#", 1)[0].strip()
        m = re.match(r"if\s*\((.*)\)", s, re.I)
        if m:
            stack.append(m.group(1).strip())
            continue
        if re.match(r"endif\s*\(", s, re.I):
            stack.pop() if stack else None
            continue
        if re.match(r"else\s*\(", s, re.I) and stack:
            cond = stack.pop()
            stack.append(cond[4:].strip() if cond.upper().startswith("NOT ") else "NOT " + cond)
            continue
        m = re.match(r"add_subdirectory\s*\(\s*([^\s)]+)", s, re.I)
        if m:
            reached = True
            for cond in stack:
                if cond == "NOT RECA_WITH_CUDA" and cuda:
                    reached = False
                if cond == "RECA_WITH_CUDA" and not cuda:
                    reached = False
            if reached:
                out.append(m.group(1))
    return out


def cmake_targets(root):
    """Every binary and custom target the CMake build defines."""
    names = set()
    for top in sorted(os.listdir(root)):
        if top.startswith((".", "build", "bazel-")) or not os.path.isdir(os.path.join(root, top)) \
                or os.path.islink(os.path.join(root, top)):
            continue
        for folder, dirs, files in os.walk(os.path.join(root, top)):
            dirs[:] = [d for d in dirs if d not in ("node_modules", "__pycache__")]
            if "CMakeLists.txt" in files:
                with open(os.path.join(folder, "CMakeLists.txt")) as f:
                    src = f.read()
                names |= set(re.findall(
                    r"(?:reca_cc_binary|add_executable|add_custom_target)\(\s*([\w.+-]+)", src))
    return names


def dockerignore(path):
    try:
        with open(path + ".dockerignore") as f:
            return [l.strip() for l in f if l.strip() and not l.startswith("#")]
    except OSError:
        return []


def ignored(rel, patterns):
    out = False
    for p in patterns:
        neg = p.startswith("!")
        p = p.lstrip("!").lstrip("/")
        if p.startswith("**/"):
            hit = fnmatch.fnmatch(rel, p[3:]) or fnmatch.fnmatch(rel, p) or \
                any(fnmatch.fnmatch(part, p[3:]) for part in rel.split("/"))
        else:
            hit = fnmatch.fnmatch(rel, p) or rel.startswith(p.rstrip("/") + "/")
        if hit:
            out = not neg
    return out


def copy_args(text):
    words = shlex.split(text)
    flags = {}
    while words and words[0].startswith("--"):
        k, _, v = words.pop(0)[2:].partition("=")
        flags[k] = v
    return flags, words[:-1], words[-1] if words else None


def check_dockerfile(kind, rel, root, targets_defined, required, apt_ok, bin_dir, err):
    path = os.path.join(root, rel)
    stages = parse_dockerfile(path)
    if not stages:
        err(f"{rel}: no FROM")
        return None
    ignore = dockerignore(path)
    names = {s.name: s for s in stages if s.name}
    built = {}  # stage name -> cmake --build targets
    for st in stages:
        where = f"{rel} stage {st.name or st.index}"
        targets = set()
        for run in st.runs():
            for m in re.finditer(r"cmake --build .*?--target\s+(.*?)(?:&&|;|$)", run):
                targets |= set(m.group(1).split())
            if "cmake --build" in run and "--target" not in run:
                err(f"{where}: `cmake --build` without --target builds every test too")
        for t in targets - targets_defined:
            err(f"{where}: cmake target {t} is not defined by the CMake build")
        built[st.name] = targets
        debian = st.base.startswith("debian")
        for run in st.runs():
            pkgs = apt_packages(run)
            if debian and targets:
                for p in pkgs:
                    if p not in required:
                        err(f"{where}: apt installs {p}, which scripts/setup.sh does not "
                            "(the build stages use setup.sh's build dependencies)")
            if debian:
                for p in pkgs:
                    if apt_ok is not None and p not in apt_ok:
                        err(f"{where}: {p} is no Debian package (apt-cache show)")
        # The folders CMake configures must be in the build context of a building stage.
        copied = set()
        for k, text, _ in st.instructions:
            if k == "COPY":
                flags, srcs, dest = copy_args(text)
                if "from" not in flags:
                    copied |= {s.rstrip("/").split("/")[0] for s in srcs}
        if targets:
            cuda = "-DRECA_WITH_CUDA=ON" in " ".join(st.runs())
            for sub in cmake_subdirs(root, cuda) + ["cmake", "CMakeLists.txt"]:
                if sub.split("/")[0] not in copied:
                    err(f"{where}: does not COPY {sub}/, which CMakeLists.txt configures")
        # COPY sources.
        for k, text, line in st.instructions:
            if k != "COPY":
                continue
            flags, srcs, dest = copy_args(text)
            if len(srcs) > 1 and not dest.endswith("/"):
                err(f"{rel}:{line}: COPY of several sources to {dest}: the destination must end in /")
            if "from" in flags:
                src_stage = names.get(flags["from"])
                if src_stage is None or src_stage.index >= st.index:
                    err(f"{rel}:{line}: COPY --from={flags['from']}: no earlier stage of that name")
                    continue
                for s in srcs:
                    m = re.fullmatch(r"/build/bin/([\w.+-]+)", s)
                    if m and m.group(1) not in built.get(flags["from"], set()):
                        err(f"{rel}:{line}: COPY --from={flags['from']} {s}: that stage does not "
                            f"build target {m.group(1)}")
                    if s.startswith("/build/python") and "recactl_py_stubs" not in built.get(flags["from"], set()):
                        err(f"{rel}:{line}: {s}: stage {flags['from']} does not build recactl_py_stubs")
                    if not s.startswith("/build/") and not any(s.rstrip("/") in r for r in src_stage.runs()):
                        err(f"{rel}:{line}: COPY --from={flags['from']} {s}: nothing in that stage makes it")
                continue
            for s in srcs:
                matches = glob.glob(os.path.join(root, s.rstrip("/")))
                if not matches:
                    err(f"{rel}:{line}: COPY {s}: no such file or folder in the build context "
                        "(the repository root)")
                for mpath in matches:
                    r = os.path.relpath(mpath, root)
                    if ignored(r, ignore):
                        err(f"{rel}:{line}: COPY {s}: {r} is excluded by {os.path.basename(path)}.dockerignore")
    final = stages[-1]
    installed, user, env = {}, None, {}
    debian_built = {}  # dest -> binary name, for binaries of Debian-based stages
    for k, text, line in final.instructions:
        if k == "COPY":
            flags, srcs, dest = copy_args(text)
            src_stage = names.get(flags.get("from"))
            for s in srcs:
                for f in (glob.glob(os.path.join(root, s)) if "from" not in flags and "*" in s else [s]):
                    target = os.path.join(dest, os.path.basename(f)) if dest.endswith("/") else dest
                    installed[target] = f
                    if src_stage is not None and src_stage.base.startswith("debian") and \
                            f.startswith("/build/bin/"):
                        debian_built[target] = os.path.basename(f)
        if k == "USER":
            user = text.split(":")[0]
        if k == "ENV":
            for m in re.finditer(r"(\w+)=(\S+)", text):
                env[m.group(1)] = m.group(2)
        if k == "RUN" and "useradd" in text:
            if f"--uid {UID}" not in text:
                err(f"{rel}: the runtime user is not created with uid {UID}")
    if user != str(UID):
        err(f"{rel}: the runtime stage's USER is {user}, not {UID} (the manifests' runAsUser)")
    if bin_dir:
        check_runtime_libraries(rel, final, debian_built, bin_dir, err)
    return {"installed": installed, "env": env, "stages": stages}


def check_runtime_libraries(rel, final, debian_built, bin_dir, err):
    """The runtime stage's apt list holds the package of every library that
    the binaries it copies from Debian-based stages link (as built here)."""
    pkgs = set()
    for run in final.runs():
        pkgs |= set(apt_packages(run))
    links = {}  # library path -> [(binary, soname)]
    for name in sorted(set(debian_built.values())):
        binary = os.path.join(bin_dir, name)
        if not os.path.exists(binary):
            err(f"{rel}: --bin-dir {bin_dir} has no {name}")
            continue
        r = subprocess.run(["readelf", "-d", binary], capture_output=True, text=True)
        needed = re.findall(r"\(NEEDED\).*\[(.*)\]", r.stdout)
        ldd = subprocess.run(["ldd", binary], capture_output=True, text=True).stdout
        for lib in needed:
            m = re.search(rf"^\s*{re.escape(lib)} => (\S+)", ldd, re.M)
            if m:
                links.setdefault(os.path.realpath(m.group(1)), []).append((name, lib))
    if not links:
        return
    q = subprocess.run(["dpkg", "-S", *sorted(links)], capture_output=True, text=True)
    owner = {}
    for line in q.stdout.splitlines():
        pkg, _, path = line.partition(": ")
        owner[path.strip()] = pkg.split(":")[0].strip()
    for path, users in sorted(links.items()):
        pkg = owner.get(path)
        if pkg is None:
            continue  # not from a Debian package (dpkg does not know the path)
        if pkg not in pkgs and pkg not in BASE_PACKAGES:
            for name, lib in users:
                err(f"{rel}: {name} links {lib} (package {pkg}), which the runtime stage does not install")


def apt_known(packages):
    """The subset of `packages` apt-cache knows, or None where it cannot tell."""
    if shutil.which("apt-cache") is None:
        return None
    r = subprocess.run(["apt-cache", "show", "--no-all-versions", *sorted(packages)],
                       capture_output=True, text=True)
    known = set(re.findall(r"^Package: (\S+)", r.stdout, re.M))
    if not known:
        return None  # no package lists on this machine
    return known


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(HERE, "..", ".."))
    ap.add_argument("--kubectl", default="kubectl")
    ap.add_argument("--bin-dir", help="the CMake build's bin/ (runtime library check)")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    errors, notes = [], []
    err = errors.append

    required = setup_required(root)
    if not required:
        err("scripts/setup.sh: no REQUIRED=( ... ) list")
    targets = cmake_targets(root)
    debian_pkgs = set()
    for rel in DOCKERFILES.values():
        for st in parse_dockerfile(os.path.join(root, rel)):
            if st.base.startswith("debian"):
                for run in st.runs():
                    debian_pkgs |= set(apt_packages(run))
    apt_ok = apt_known(debian_pkgs)
    if apt_ok is None:
        notes.append("apt-cache has no package lists here: Debian package names not checked")
    images = {}
    for kind, rel in DOCKERFILES.items():
        images[kind] = check_dockerfile(kind, rel, root, targets, required, apt_ok,
                                        args.bin_dir, err)

    launcher = os.path.join(root, "deploy", "docker", "recactl")
    if not os.access(launcher, os.X_OK):
        err("deploy/docker/recactl is not executable")
    else:
        with open(launcher) as f:
            text = f.read()
        cpu = images.get("cpu") or {"installed": {}, "env": {}}
        for path in re.findall(r"(/opt/reca/\S+?\.py)", text):
            if path not in cpu["installed"]:
                err(f"deploy/docker/recactl runs {path}, which Dockerfile.cpu does not install")
        stubs = cpu["env"].get("RECA_PY_STUBS")
        if not stubs or stubs.rstrip("/") + "/" not in cpu["installed"] and \
                not any(k.rstrip("/") == stubs.rstrip("/") for k in cpu["installed"]):
            err(f"Dockerfile.cpu: RECA_PY_STUBS={stubs} is not where the stubs are copied")

    # The binaries the manifests run.
    kubectl = shutil.which(args.kubectl)
    if kubectl is None:
        err(f"{args.kubectl} not found (scripts/setup.sh installs kubernetes-client)")
    else:
        with tempfile.TemporaryDirectory() as tmp:
            k8s = copy_tree(root, os.path.join(tmp, "k8s"))
            for overlay in ("local", "gpu"):
                r = subprocess.run([kubectl, "kustomize", os.path.join(k8s, "overlays", overlay)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    err(f"overlays/{overlay}: kubectl kustomize fails: {r.stderr.strip()}")
                    continue
                for d in yaml.safe_load_all(r.stdout):
                    tpl = pod_template(d or {})
                    if tpl is None:
                        continue
                    spec = tpl.get("spec") or {}
                    uid = (spec.get("securityContext") or {}).get("runAsUser")
                    for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                        where = f"overlays/{overlay}: {d['kind']} {d['metadata']['name']}: container {c.get('name')}"
                        image = c.get("image", "")
                        kind = image_kind(image)
                        if kind is None:
                            err(f"{where}: image {image} is neither reca (Dockerfile.cpu) nor reca-cuda (Dockerfile.cuda)")
                            continue
                        installed = (images.get(kind) or {}).get("installed", {})
                        cmd = (c.get("command") or [None])[0]
                        if cmd not in installed:
                            err(f"{where}: runs {cmd}, which {DOCKERFILES[kind]} does not install "
                                f"(it installs {', '.join(sorted(k for k in installed if '/bin/' in k))})")
                            continue
                        helper = HELPERS.get(os.path.basename(cmd))
                        if helper and os.path.join(os.path.dirname(cmd), helper) not in installed:
                            err(f"{where}: {os.path.basename(cmd)} runs {helper} from its own folder, "
                                f"which {DOCKERFILES[kind]} does not install there")
                        if uid != UID:
                            err(f"{where}: runAsUser {uid} is not the images' user {UID}")
    for n in notes:
        print(f"note: {n}")
    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        return 1
    print("PASS: Dockerfile.cpu and Dockerfile.cuda: COPY sources exist, stages and CMake targets "
          "agree, build packages come from scripts/setup.sh, and they install every binary the "
          "manifests run" + (" and every library those binaries link" if args.bin_dir else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
