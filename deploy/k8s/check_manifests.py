#!/usr/bin/env python3
"""Offline checks of the Kubernetes manifests (`make test`):

 1. every target renders with `kubectl kustomize`: overlays/local,
    overlays/gpu, monitoring, and overlays that make_secrets.py writes on top
    of each (real tokens; certificates for gpu), with each kubectl given
    (--kubectl, repeatable; $RECA_EXTRA_KUBECTLS adds more, colon-separated:
    e.g. Debian 12's kubectl 1.20 with kustomize v2.0.3 next to a v5 one),
    and the renders of different kubectls hold the same objects;
 2. every object validates against the Kubernetes / Prometheus Operator
    schemas (validate/validate.js: types, required fields, known kinds, no
    unknown fields; its --self-test first proves strict mode knows every
    field the packages' .d.ts interfaces declare);
 3. project checks on the rendered objects (project_checks below): the flags
    passed to each binary are flags it defines (read from its sources), with
    values of the flag's type; container ports equal the ports the
    --*listen flags bind, on all interfaces; probes point at declared ports
    (gRPC probes at --health_listen, HTTP probes at /metrics); Service
    targetPorts and ServiceMonitor ports exist; every Secret, key,
    ConfigMap, PVC and ServiceAccount a pod uses exists; the token and TLS
    file flags name keys of mounted Secrets; workers dial the coordinator's
    --worker_listen port through a Service and agree with it on TLS; worker
    identity from the downward API; --gpu_slots equal to the nvidia.com/gpu
    limit; non-root security contexts; resource requests within limits;
    token files whose hashes the coordinator accepts; the dashboards
    ConfigMap equal to deploy/grafana/*.json byte for byte.

    check_manifests.py [--root REPO] [--kubectl K ...]
    check_manifests.py --expect-rejected DIR [--expect-rejected DIR ...]
                       [--root REPO] [--kubectl K]

--expect-rejected renders DIR (a deliberately broken kustomization under
deploy/k8s), runs the same checks, and passes only if they fail with every
message listed in DIR/expected-errors.txt (one substring per line).
"""
import argparse
import base64
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))

# The daemons the manifests run: their main sources; for reca-worker and
# reca-evaluator the flags are those of kFlags (ParseDaemonFlags accepts only
# those) plus the credential flags of common/grpc_client.cc.
BINARIES = {
    "reca-coordinator": {"main": "coordinator/coordinator_main.cc", "daemon_flags": False},
    "reca-worker": {"main": "worker/worker_main.cc", "daemon_flags": True},
    "reca-evaluator": {"main": "evaluator/evaluator_main.cc", "daemon_flags": True},
}
CREDENTIALS_SRC = "common/grpc_client.cc"
LISTEN_FLAGS = {
    "reca-coordinator": ["listen", "worker_listen", "health_listen", "metrics_listen"],
    "reca-worker": ["metrics_listen"],
    "reca-evaluator": ["metrics_listen"],
}
# Flags naming a file the daemon reads: it must be a key of a mounted Secret.
SECRET_FILE_FLAGS = ["auth_tokens_file", "token_file", "tls_ca", "tls_cert", "tls_key",
                     "tls_client_ca"]
ALL_INTERFACES = {"0.0.0.0", "[::]", "::", ""}
ROLES = {"user", "admin", "worker", "evaluator"}
POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
CLUSTER_SCOPED = {"Namespace", "PersistentVolume", "StorageClass", "ClusterRole",
                  "ClusterRoleBinding", "PriorityClass", "CustomResourceDefinition"}


# ---------------------------------------------------------------------------
# Flags, from the sources.

def strip_comments(src):
    return re.sub(r"//[^\n]*", "", src)


def absl_flags(path):
    """name -> (type, default literal or None) of every ABSL_FLAG in `path`."""
    with open(path) as f:
        src = strip_comments(f.read())
    out = {}
    for m in re.finditer(r"ABSL_FLAG\(\s*([\w:]+)\s*,\s*(\w+)\s*,\s*(\"(?:[^\"\\]|\\.)*\"|[^,]+)",
                         src):
        default = m.group(3).strip()
        out[m.group(2)] = (m.group(1), json.loads(default) if default.startswith('"') else default)
    return out


def string_list(src, pattern):
    m = re.search(pattern, src, re.S)
    return re.findall(r'"(\w+)"', m.group(1)) if m else None


def binary_flags(root):
    """binary -> {flag: (type, default)}; errors when the sources cannot be read."""
    creds_all = absl_flags(os.path.join(root, CREDENTIALS_SRC))
    with open(os.path.join(root, CREDENTIALS_SRC)) as f:
        cred_names = string_list(strip_comments(f.read()),
                                 r"ClientCredentialFlags\(\)\s*\{\s*return\s*\{(.*?)\}")
    out, errors = {}, []
    for binary, info in BINARIES.items():
        path = os.path.join(root, info["main"])
        defined = absl_flags(path)
        if not defined:
            errors.append(f"{info['main']}: no ABSL_FLAG definitions found")
        if not info["daemon_flags"]:
            out[binary] = defined
            continue
        with open(path) as f:
            kflags = string_list(strip_comments(f.read()), r"kFlags\[\]\s*=\s*\{(.*?)\}")
        if kflags is None or cred_names is None:
            errors.append(f"{info['main']}: cannot find kFlags / ClientCredentialFlags()")
            continue
        flags = {}
        for name in kflags + cred_names:
            if name in defined:
                flags[name] = defined[name]
            elif name in creds_all:
                flags[name] = creds_all[name]
            else:
                errors.append(f"{binary}: kFlags names --{name}, which no ABSL_FLAG defines")
        out[binary] = flags
    return out, errors


def flag_value_error(ftype, value):
    """Why `value` does not parse as an Abseil flag of C++ type `ftype`, if it does not."""
    if re.search(r"\$\(\w+\)", value):
        return None  # filled in by the kubelet
    if ftype in ("int", "int32_t", "int64_t", "uint32_t", "uint64_t", "size_t"):
        return None if re.fullmatch(r"-?\d+", value) else "is not an integer"
    if ftype in ("double", "float"):
        try:
            float(value)
            return None
        except ValueError:
            return "is not a number"
    if ftype == "bool":
        ok = {"true", "false", "1", "0", "yes", "no", "t", "f", "y", "n"}
        return None if value.lower() in ok else "is not a boolean"
    return None


# ---------------------------------------------------------------------------
# Rendered objects.

class Objects:
    def __init__(self, docs):
        self.docs = docs
        self.by_key = {}
        for d in docs:
            self.by_key.setdefault(self.key(d), []).append(d)

    @staticmethod
    def key(d):
        meta = d.get("metadata") or {}
        return (d.get("kind"), meta.get("namespace"), meta.get("name"))

    def get(self, kind, namespace, name):
        found = self.by_key.get((kind, namespace, name))
        return found[0] if found else None

    def of_kind(self, *kinds):
        return [d for d in self.docs if d.get("kind") in kinds]


def who(d):
    meta = d.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{d.get('kind')} {ns + '/' if ns else ''}{meta.get('name')}"


def secret_files(secret):
    """key -> bytes of a Secret (data is base64, possibly wrapped; stringData is text)."""
    out = {}
    for k, v in (secret.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(re.sub(r"\s", "", str(v)), validate=True)
        except ValueError:
            out[k] = None
    for k, v in (secret.get("stringData") or {}).items():
        out[k] = str(v).encode()
    return out


def pod_template(d):
    if d.get("kind") not in POD_KINDS:
        return None
    return ((d.get("spec") or {}).get("template") or {})


def matches(selector, labels):
    if not selector:
        return False
    return all((labels or {}).get(k) == v for k, v in selector.items())


def host_port(value):
    m = re.fullmatch(r"(\[[^\]]*\]|[^:]*):(\d+)", value or "")
    return (m.group(1), int(m.group(2))) if m else (None, None)


QUANTITY = re.compile(r"^([0-9.]+)([a-zA-Z]*)$")
SUFFIX = {"": 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
          "Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50}


def quantity(v):
    m = QUANTITY.match(str(v))
    if not m or m.group(2) not in SUFFIX:
        return None
    return float(m.group(1)) * SUFFIX[m.group(2)]


# ---------------------------------------------------------------------------
# The project checks.

class Container:
    """One container of a pod template, with its binary's flags resolved."""

    def __init__(self, owner, pod_spec, c, flags_by_binary, err):
        self.owner, self.pod_spec, self.c = owner, pod_spec, c
        self.name = c.get("name")
        self.where = f"{who(owner)}: container {self.name}"
        self.env = {e.get("name"): e for e in c.get("env") or []}
        self.args = {}
        self.binary = None
        command = c.get("command") or []
        if not command:
            err(f"{self.where}: no command (the images have no entrypoint: name the binary)")
            return
        binary = os.path.basename(str(command[0]))
        if binary not in flags_by_binary:
            err(f"{self.where}: runs {command[0]}, not one of {sorted(flags_by_binary)}")
            return
        self.binary = binary
        self.defined = flags_by_binary[binary]
        argv = [str(a) for a in command[1:]] + [str(a) for a in c.get("args") or []]
        for a in argv:
            for var in re.findall(r"\$\((\w+)\)", a):
                if var not in self.env:
                    err(f"{self.where}: {a}: $({var}) is not an env variable of the container "
                        "(the kubelet leaves it as is)")
            m = re.fullmatch(r"--(\w+)=(.*)", a, re.S)
            if not m:
                err(f"{self.where}: argument {a!r}: the daemons take --name=value only")
                continue
            name, value = m.group(1), m.group(2)
            if name not in self.defined:
                err(f"{self.where}: --{name}: {binary} has no such flag (flags: {', '.join(sorted(self.defined))})")
                continue
            if name in self.args:
                err(f"{self.where}: --{name} given twice")
            problem = flag_value_error(self.defined[name][0], value)
            if problem:
                err(f"{self.where}: --{name}={value} {problem} ({self.defined[name][0]} flag)")
            self.args[name] = value

    def flag(self, name):
        """The value the binary uses: the argument, else the flag's default."""
        if name in self.args:
            return self.args[name]
        spec = self.defined.get(name) if self.binary else None
        return spec[1] if spec and isinstance(spec[1], str) else None

    def ports(self):
        return [p for p in self.c.get("ports") or []]

    def port_number(self, ref):
        """A probe's or Service's port (name or number) -> the containerPort number, or None."""
        for p in self.ports():
            if isinstance(ref, str) and not ref.isdigit():
                if p.get("name") == ref:
                    return p.get("containerPort")
            elif p.get("containerPort") == int(ref):
                return p.get("containerPort")
        return None

    def env_field(self, var):
        e = self.env.get(var) or {}
        return (((e.get("valueFrom") or {}).get("fieldRef")) or {}).get("fieldPath")

    def mount_for(self, path):
        """The volumeMount whose mountPath holds `path` (the deepest), or None."""
        best = None
        for m in self.c.get("volumeMounts") or []:
            mp = m.get("mountPath", "").rstrip("/")
            if path == mp or path.startswith(mp + "/"):
                if best is None or len(mp) > len(best.get("mountPath", "").rstrip("/")):
                    best = m
        return best

    def volume(self, name):
        for v in self.pod_spec.get("volumes") or []:
            if v.get("name") == name:
                return v
        for t in (self.owner.get("spec") or {}).get("volumeClaimTemplates") or []:
            if (t.get("metadata") or {}).get("name") == name:
                return {"name": name, "volumeClaimTemplate": t}
        return None


def project_checks(objs, flags_by_binary, root, err, note):
    namespaces = {(d.get("metadata") or {}).get("namespace") for d in objs.docs
                  if d.get("kind") not in CLUSTER_SCOPED}
    for key, found in objs.by_key.items():
        if len(found) > 1:
            err(f"{who(found[0])}: defined {len(found)} times")
    if None in namespaces:
        for d in objs.docs:
            if d.get("kind") not in CLUSTER_SCOPED and not (d.get("metadata") or {}).get("namespace"):
                err(f"{who(d)}: no namespace (set `namespace:` in the kustomization that makes it)")
    for ns in namespaces - {None}:
        if not objs.get("Namespace", None, ns):
            err(f"namespace {ns}: no Namespace object for it")

    containers = []
    for d in objs.docs:
        tpl = pod_template(d)
        if tpl is None:
            continue
        spec = tpl.get("spec") or {}
        ns = (d.get("metadata") or {}).get("namespace")
        check_pod(d, tpl, spec, ns, objs, err)
        for c in (spec.get("initContainers") or []) + (spec.get("containers") or []):
            cont = Container(d, spec, c, flags_by_binary, err)
            check_container(cont, ns, objs, err)
            if cont.binary:
                containers.append(cont)

    coordinators = [c for c in containers if c.binary == "reca-coordinator"]
    if len(coordinators) != 1:
        err(f"expected one reca-coordinator container, found {len(coordinators)}")
    for d in objs.of_kind("StatefulSet"):
        if any(c.owner is d and c.binary == "reca-coordinator" for c in coordinators):
            if (d.get("spec") or {}).get("replicas", 1) != 1:
                err(f"{who(d)}: replicas must be 1 (one RocksDB writer)")
    for c in coordinators:
        check_coordinator(c, err)
    coordinator = coordinators[0] if len(coordinators) == 1 else None
    for c in containers:
        if c.binary in ("reca-worker", "reca-evaluator"):
            check_daemon(c, coordinator, objs, err)
    check_tokens(containers, coordinator, objs, err, note)
    check_services(objs, containers, err)
    check_monitors(objs, containers, err)
    check_prometheus_config(objs, containers, root, err)
    check_dashboards(objs, root, err)


def check_pod(d, tpl, spec, ns, objs, err):
    w = who(d)
    labels = (tpl.get("metadata") or {}).get("labels") or {}
    selector = ((d.get("spec") or {}).get("selector") or {}).get("matchLabels")
    if d.get("kind") != "Job" and not matches(selector, labels):
        err(f"{w}: spec.selector.matchLabels {selector} does not select its own pod template's labels")
    sc = spec.get("securityContext") or {}
    if sc.get("runAsNonRoot") is not True:
        err(f"{w}: spec.template.spec.securityContext.runAsNonRoot must be true")
    if not isinstance(sc.get("runAsUser"), int) or sc.get("runAsUser") == 0:
        err(f"{w}: spec.template.spec.securityContext.runAsUser must be a non-root uid (10001, the images' user)")
    if (sc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
        err(f"{w}: spec.template.spec.securityContext.seccompProfile.type must be RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        err(f"{w}: automountServiceAccountToken must be false (the daemons never call the API)")
    sa = spec.get("serviceAccountName")
    if sa and sa != "default" and not objs.get("ServiceAccount", ns, sa):
        err(f"{w}: serviceAccountName {sa}: no such ServiceAccount in the output")
    for v in spec.get("volumes") or []:
        where = f"{w}: volume {v.get('name')}"
        if "secret" in v:
            check_secret_ref(where, ns, v["secret"].get("secretName"),
                             [i.get("key") for i in v["secret"].get("items") or []],
                             v["secret"].get("optional"), objs, err)
        if "configMap" in v:
            check_configmap_ref(where, ns, v["configMap"].get("name"),
                                [i.get("key") for i in v["configMap"].get("items") or []],
                                v["configMap"].get("optional"), objs, err)
        if "persistentVolumeClaim" in v:
            claim = v["persistentVolumeClaim"].get("claimName")
            if not objs.get("PersistentVolumeClaim", ns, claim):
                err(f"{where}: PersistentVolumeClaim {claim} is not in the output")
        for src in (v.get("projected") or {}).get("sources") or []:
            if "secret" in src:
                check_secret_ref(where, ns, src["secret"].get("name"),
                                 [i.get("key") for i in src["secret"].get("items") or []],
                                 src["secret"].get("optional"), objs, err)
            if "configMap" in src:
                check_configmap_ref(where, ns, src["configMap"].get("name"),
                                    [i.get("key") for i in src["configMap"].get("items") or []],
                                    src["configMap"].get("optional"), objs, err)
    if d.get("kind") == "StatefulSet":
        svc_name = (d.get("spec") or {}).get("serviceName")
        svc = objs.get("Service", ns, svc_name)
        if not svc:
            err(f"{w}: serviceName {svc_name}: no such Service in the output")
        elif (svc.get("spec") or {}).get("clusterIP") != "None":
            err(f"{w}: serviceName {svc_name} must be a headless Service (clusterIP: None)")
        elif not matches((svc.get("spec") or {}).get("selector"), labels):
            err(f"{w}: its governing Service {svc_name} does not select its pods")


def check_secret_ref(where, ns, name, keys, optional, objs, err):
    secret = objs.get("Secret", ns, name)
    if secret is None:
        if not optional:
            err(f"{where}: Secret {name} does not exist in the output")
        return
    have = secret_files(secret)
    for k in keys:
        if k not in have:
            err(f"{where}: Secret {name} has no key {k}")


def check_configmap_ref(where, ns, name, keys, optional, objs, err):
    cm = objs.get("ConfigMap", ns, name)
    if cm is None:
        if not optional:
            err(f"{where}: ConfigMap {name} does not exist in the output")
        return
    have = set(cm.get("data") or {}) | set(cm.get("binaryData") or {})
    for k in keys:
        if k not in have:
            err(f"{where}: ConfigMap {name} has no key {k}")


def check_container(c, ns, objs, err):
    w = c.where
    for e in c.c.get("env") or []:
        vf = e.get("valueFrom") or {}
        if "secretKeyRef" in vf:
            r = vf["secretKeyRef"]
            check_secret_ref(f"{w}: env {e.get('name')}", ns, r.get("name"), [r.get("key")],
                             r.get("optional"), objs, err)
        if "configMapKeyRef" in vf:
            r = vf["configMapKeyRef"]
            check_configmap_ref(f"{w}: env {e.get('name')}", ns, r.get("name"), [r.get("key")],
                                r.get("optional"), objs, err)
    for ef in c.c.get("envFrom") or []:
        if "secretRef" in ef:
            check_secret_ref(f"{w}: envFrom", ns, ef["secretRef"].get("name"), [],
                             ef["secretRef"].get("optional"), objs, err)
        if "configMapRef" in ef:
            check_configmap_ref(f"{w}: envFrom", ns, ef["configMapRef"].get("name"), [],
                                ef["configMapRef"].get("optional"), objs, err)
    for m in c.c.get("volumeMounts") or []:
        if c.volume(m.get("name")) is None:
            err(f"{w}: volumeMount {m.get('mountPath')}: no volume or volumeClaimTemplate named {m.get('name')}")
    sc = c.c.get("securityContext") or {}
    if sc.get("allowPrivilegeEscalation") is not False:
        err(f"{w}: securityContext.allowPrivilegeEscalation must be false")
    if sc.get("readOnlyRootFilesystem") is not True:
        err(f"{w}: securityContext.readOnlyRootFilesystem must be true")
    if sc.get("privileged"):
        err(f"{w}: securityContext.privileged must not be set")
    if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
        err(f"{w}: securityContext.capabilities.drop must contain ALL")
    if (sc.get("capabilities") or {}).get("add"):
        err(f"{w}: securityContext.capabilities.add must be empty")
    res = c.c.get("resources") or {}
    req, lim = res.get("requests") or {}, res.get("limits") or {}
    for r in ("cpu", "memory"):
        if r not in req:
            err(f"{w}: resources.requests.{r} is not set")
    if "memory" not in lim:
        err(f"{w}: resources.limits.memory is not set")
    for r in set(req) & set(lim):
        a, b = quantity(req[r]), quantity(lim[r])
        if a is None or b is None:
            err(f"{w}: resources of {r}: {req[r]!r} / {lim[r]!r} are not quantities")
        elif a > b:
            err(f"{w}: resources.requests.{r} ({req[r]}) exceeds resources.limits.{r} ({lim[r]})")
    for r in set(req) | set(lim):
        if "/" in r and r in req and r in lim and req[r] != lim[r]:
            err(f"{w}: extended resource {r}: requests ({req[r]}) must equal limits ({lim[r]})")
    # Ports and probes.
    names = [p.get("name") for p in c.ports()]
    for p in c.ports():
        if not p.get("name"):
            err(f"{w}: containerPort {p.get('containerPort')} has no name")
    if len(set(names)) != len(names):
        err(f"{w}: duplicate containerPort names {names}")
    if not c.binary:
        return
    listening = {}
    for flag in LISTEN_FLAGS[c.binary]:
        value = c.flag(flag)
        if not value:
            continue
        host, port = host_port(value)
        if port is None:
            err(f"{w}: --{flag}={value} is not HOST:PORT")
            continue
        if port == 0:
            err(f"{w}: --{flag}={value}: port 0 picks a random port; Services need a fixed one")
            continue
        listening[port] = flag
        declared = c.port_number(port)
        if host not in ALL_INTERFACES and not re.fullmatch(r"\$\(\w+\)", host):
            if declared is not None:
                err(f"{w}: --{flag}={value} listens on {host} only, yet containerPort {port} is "
                    "declared: nothing outside the pod reaches it (listen on 0.0.0.0)")
            continue
        if declared is None:
            err(f"{w}: --{flag} listens on {port}, but no containerPort {port} is declared")
    for p in c.ports():
        if p.get("containerPort") not in listening:
            err(f"{w}: containerPort {p.get('name')} ({p.get('containerPort')}) is no port "
                f"{c.binary} listens on (its --*listen flags: {sorted(listening)})")
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = c.c.get(kind)
        if not probe:
            if kind != "startupProbe":
                err(f"{w}: no {kind}")
            continue
        pw = f"{w}: {kind}"
        if "grpc" in probe:
            port = (probe["grpc"] or {}).get("port")
            if c.port_number(port) is None:
                err(f"{pw}: grpc port {port} is not a declared containerPort")
            elif listening.get(port) != "health_listen":
                err(f"{pw}: grpc port {port} is not --health_listen's port (the only plaintext "
                    "health endpoint without a token)")
        elif "httpGet" in probe:
            ref = (probe["httpGet"] or {}).get("port")
            port = c.port_number(ref)
            if port is None:
                err(f"{pw}: httpGet port {ref} is not a declared containerPort")
            elif listening.get(port) != "metrics_listen":
                err(f"{pw}: httpGet port {ref} is not --metrics_listen's port (the only HTTP server)")
            if (probe["httpGet"] or {}).get("path") != "/metrics":
                err(f"{pw}: httpGet path must be /metrics (the exposer serves nothing else)")
        elif "tcpSocket" in probe:
            ref = (probe["tcpSocket"] or {}).get("port")
            if c.port_number(ref) is None:
                err(f"{pw}: tcpSocket port {ref} is not a declared containerPort")


def check_coordinator(c, err):
    w = c.where
    db = c.flag("db") or ""
    m = c.mount_for(db) if db.startswith("/") else None
    v = c.volume(m.get("name")) if m else None
    if not db.startswith("/") or v is None or not ("persistentVolumeClaim" in v or "volumeClaimTemplate" in v):
        err(f"{w}: --db={db} is not on a mounted PersistentVolumeClaim (RocksDB would be lost with the pod)")
    elif m.get("readOnly"):
        err(f"{w}: --db={db} is on a read-only mount")
    if not c.flag("health_listen"):
        err(f"{w}: no --health_listen (the kubelet's gRPC probes need the plaintext health port)")
    if not c.flag("auth_tokens_file") and c.args.get("insecure_no_auth") not in ("true", "1"):
        err(f"{w}: no --auth_tokens_file: the coordinator refuses to start without tokens")


def coordinator_target(c, coordinator, objs, err):
    """Checks the daemon's --coordinator against the Services; returns the
    coordinator flag whose port it reaches (listen / worker_listen), or None."""
    w = c.where
    value = c.flag("coordinator")
    host, port = host_port(value)
    if host is None:
        err(f"{w}: --coordinator={value} is not HOST:PORT")
        return None
    ns = (c.owner.get("metadata") or {}).get("namespace")
    parts = host.split(".")
    svc_name = parts[0]
    if len(parts) > 1 and (parts[1] != ns or parts[2:] not in ([], ["svc"], ["svc", "cluster", "local"])):
        err(f"{w}: --coordinator={value}: {host} is not a Service of namespace {ns}")
        return None
    svc = objs.get("Service", ns, svc_name)
    if svc is None:
        err(f"{w}: --coordinator={value}: no Service {svc_name} in the output")
        return None
    if coordinator is None:
        return None
    labels = ((pod_template(coordinator.owner) or {}).get("metadata") or {}).get("labels")
    if not matches((svc.get("spec") or {}).get("selector"), labels):
        err(f"{w}: --coordinator={value}: Service {svc_name} does not select the coordinator's pods")
        return None
    for p in (svc.get("spec") or {}).get("ports") or []:
        if p.get("port") == port:
            target = coordinator.port_number(p.get("targetPort", p.get("port")))
            for flag in LISTEN_FLAGS["reca-coordinator"]:
                if host_port(coordinator.flag(flag) or "")[1] == target and target is not None:
                    return flag
            err(f"{w}: --coordinator={value}: Service port {port} leads to no port the coordinator listens on")
            return None
    err(f"{w}: --coordinator={value}: Service {svc_name} has no port {port}")
    return None


def check_daemon(c, coordinator, objs, err):
    w = c.where
    reached = coordinator_target(c, coordinator, objs, err)
    if coordinator is not None and reached is not None:
        want = "worker_listen" if coordinator.flag("worker_listen") else "listen"
        if reached != want:
            err(f"{w}: --coordinator={c.flag('coordinator')} reaches the coordinator's --{reached}, "
                f"but its worker and evaluator services are on --{want}")
        tls = bool(coordinator.flag("tls_cert"))
        mutual = bool(coordinator.flag("tls_client_ca")) and reached == "worker_listen"
        if tls and not c.flag("tls_ca"):
            err(f"{w}: the coordinator serves TLS (--tls_cert) but this daemon has no --tls_ca")
        if not tls and c.flag("tls_ca"):
            err(f"{w}: --tls_ca set but the coordinator serves plaintext (no --tls_cert)")
        if mutual and not (c.flag("tls_cert") and c.flag("tls_key")):
            err(f"{w}: the coordinator requires client certificates (--tls_client_ca) but this "
                "daemon has no --tls_cert/--tls_key")
    if c.binary == "reca-worker":
        if c.env_field((re.fullmatch(r"\$\((\w+)\)", c.flag("worker_id") or "") or [None, ""])[1]) != "metadata.name":
            err(f"{w}: --worker_id must be $(VAR) with VAR the pod name (fieldRef metadata.name)")
        if c.env_field((re.fullmatch(r"\$\((\w+)\)", c.flag("address") or "") or [None, ""])[1]) != "status.podIP":
            err(f"{w}: --address must be $(VAR) with VAR the pod IP (fieldRef status.podIP): "
                "other workers' ranks connect to it")
        res = c.c.get("resources") or {}
        gpus = (res.get("limits") or {}).get("nvidia.com/gpu", 0)
        slots = c.flag("gpu_slots")
        try:
            gpu_slots, cpu_slots = int(slots or 0), int(c.flag("cpu_slots") or 0)
        except ValueError:
            return
        if int(gpus) != gpu_slots:
            err(f"{w}: --gpu_slots={gpu_slots} but resources.limits nvidia.com/gpu is {gpus}")
        if gpu_slots + cpu_slots == 0:
            err(f"{w}: --cpu_slots and --gpu_slots are both 0")
        image = str(c.c.get("image", ""))
        cuda = image_kind(image) == "cuda"
        if gpu_slots and not cuda:
            err(f"{w}: --gpu_slots={gpu_slots} in image {image}: GPU ranks need the CUDA image "
                "(Dockerfile.cuda)")
        if cuda and cpu_slots:
            err(f"{w}: --cpu_slots={cpu_slots} in the CUDA image {image}: its reca-train has no "
                "Gloo (pip LibTorch), so CPU ranks cannot run there")
    if c.binary == "reca-evaluator":
        ident = c.flag("evaluator_id")
        if ident and c.env_field((re.fullmatch(r"\$\((\w+)\)", ident) or [None, ""])[1]) != "metadata.name":
            err(f"{w}: --evaluator_id must be the pod name ($(VAR), fieldRef metadata.name) "
                "or unset (the host name)")
    # The jobs' output folders: where the coordinator puts them, writable here.
    if coordinator is not None:
        runs = coordinator.flag("runs_root") or ""
        m = c.mount_for(runs) if runs.startswith("/") else None
        v = c.volume(m.get("name")) if m else None
        if v is None or "persistentVolumeClaim" not in v:
            err(f"{w}: the coordinator's --runs_root={runs} is not on a PersistentVolumeClaim "
                "mounted here (the jobs' checkpoints and scores go there)")
        elif m.get("readOnly"):
            err(f"{w}: --runs_root={runs} is mounted read-only here")


def image_kind(image):
    """'cuda' or 'cpu' by the image repository's last path component; None if neither."""
    repo = re.sub(r"@.*$", "", image)
    repo = repo.rsplit(":", 1)[0] if ":" in repo.rsplit("/", 1)[-1] else repo
    last = repo.rsplit("/", 1)[-1]
    return {"reca": "cpu", "reca-cuda": "cuda"}.get(last)


def mounted_secret_file(c, flag, objs):
    """(secret object, key, error) for a file flag of container `c`."""
    path = c.flag(flag)
    m = c.mount_for(path) if path and path.startswith("/") else None
    if m is None:
        return None, None, f"--{flag}={path} is not inside a mounted Secret"
    v = c.volume(m.get("name")) or {}
    if "secret" not in v:
        return None, None, f"--{flag}={path}: {m.get('mountPath')} is not a Secret volume"
    ns = (c.owner.get("metadata") or {}).get("namespace")
    name = v["secret"].get("secretName")
    secret = objs.get("Secret", ns, name)
    if secret is None:
        return None, None, None  # reported with the volume
    rel = os.path.relpath(path, m.get("mountPath"))
    items = v["secret"].get("items")
    key = rel
    if items:
        key = next((i.get("key") for i in items if i.get("path") == rel), None)
    if m.get("subPath"):
        key = m.get("subPath") if rel == "." else None
    files = secret_files(secret)
    if key not in files:
        return None, None, (f"--{flag}={path}: the Secret {name} mounted at {m.get('mountPath')} "
                            f"has no key {rel} (keys: {', '.join(sorted(files))})")
    return secret, key, None


def check_tokens(containers, coordinator, objs, err, note):
    contents = {}
    for c in containers:
        for flag in SECRET_FILE_FLAGS:
            if c.flag(flag) and flag in c.defined:
                secret, key, problem = mounted_secret_file(c, flag, objs)
                if problem:
                    err(f"{c.where}: {problem}")
                elif secret is not None:
                    contents[(id(c), flag)] = secret_files(secret)[key]
    if coordinator is None or (id(coordinator), "auth_tokens_file") not in contents:
        return
    text = (contents[(id(coordinator), "auth_tokens_file")] or b"").decode("utf-8", "replace")
    accepted = {}
    for n, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split()
        where = f"{coordinator.where}: --auth_tokens_file line {n}"
        if len(fields) != 3:
            err(f"{where}: expected \"ROLE NAME SHA256\"")
        elif fields[0] not in ROLES:
            err(f"{where}: unknown role {fields[0]}")
        elif not re.fullmatch(r"[A-Za-z0-9._@-]{1,128}", fields[1]):
            err(f"{where}: name {fields[1]!r}: only letters, digits, '-', '_', '.', '@'")
        elif not re.fullmatch(r"[0-9a-f]{64}", fields[2]):
            err(f"{where}: the SHA-256 must be 64 lowercase hex digits (the hash, never the token)")
        else:
            accepted[fields[2]] = fields[0]
    if not accepted:
        note(f"{coordinator.where}: --auth_tokens_file holds no token (placeholder Secret): "
             "the coordinator refuses to start until it is replaced")
        return
    import hashlib
    for c in containers:
        if (id(c), "token_file") not in contents:
            continue
        tok = (contents[(id(c), "token_file")] or b"").decode("utf-8", "replace").strip()
        role = accepted.get(hashlib.sha256(tok.encode()).hexdigest())
        want = {"reca-worker": "worker", "reca-evaluator": "evaluator"}.get(c.binary)
        if role is None:
            err(f"{c.where}: its --token_file's token is not in the coordinator's --auth_tokens_file")
        elif role != want:
            err(f"{c.where}: its token has role {role} in --auth_tokens_file, not {want}")


def selected_containers(svc, containers):
    ns = (svc.get("metadata") or {}).get("namespace")
    sel = (svc.get("spec") or {}).get("selector")
    out = []
    for c in containers:
        labels = ((pod_template(c.owner) or {}).get("metadata") or {}).get("labels")
        if (c.owner.get("metadata") or {}).get("namespace") == ns and matches(sel, labels):
            out.append(c)
    return out


def check_services(objs, containers, err):
    for svc in objs.of_kind("Service"):
        w = who(svc)
        spec = svc.get("spec") or {}
        if not spec.get("selector"):
            err(f"{w}: no selector")
            continue
        pods = selected_containers(svc, containers)
        if not pods:
            err(f"{w}: its selector {spec['selector']} selects no pod template in the output")
            continue
        for p in spec.get("ports") or []:
            if not p.get("name"):
                err(f"{w}: port {p.get('port')} has no name")
            target = p.get("targetPort", p.get("port"))
            owners = {id(c.owner): c for c in pods}
            for c in pods:
                if c.port_number(target) is not None:
                    owners.pop(id(c.owner), None)
            for c in owners.values():
                err(f"{w}: port {p.get('name')}: targetPort {target} is not a containerPort of {who(c.owner)}")


def check_monitors(objs, containers, err):
    for mon in objs.of_kind("ServiceMonitor"):
        w = who(mon)
        ns = (mon.get("metadata") or {}).get("namespace")
        spec = mon.get("spec") or {}
        nss = ((spec.get("namespaceSelector") or {}).get("matchNames")) or [ns]
        sel = (spec.get("selector") or {}).get("matchLabels")
        svcs = [s for s in objs.of_kind("Service")
                if (s.get("metadata") or {}).get("namespace") in nss
                and matches(sel, (s.get("metadata") or {}).get("labels"))]
        if not svcs:
            err(f"{w}: its selector {sel} selects no Service")
            continue
        binaries = set()
        for ep in spec.get("endpoints") or []:
            port = ep.get("port")
            if ep.get("path", "/metrics") != "/metrics":
                err(f"{w}: endpoint {port}: path must be /metrics")
            for s in svcs:
                sp = [p for p in (s.get("spec") or {}).get("ports") or [] if p.get("name") == port]
                if not sp:
                    err(f"{w}: endpoint port {port} is not a port name of {who(s)}")
                    continue
                for c in selected_containers(s, containers):
                    target = c.port_number(sp[0].get("targetPort", sp[0].get("port")))
                    if host_port(c.flag("metrics_listen") or "")[1] != target:
                        err(f"{w}: endpoint {port} of {who(s)} reaches port {target} of {who(c.owner)}, "
                            "not its --metrics_listen")
                    binaries.add(c.binary)
        missing = {"reca-coordinator", "reca-worker", "reca-evaluator"} - binaries
        if missing:
            err(f"{w}: scrapes no {', '.join(sorted(missing))}")


def check_prometheus_config(objs, containers, root, err):
    """deploy/prometheus/prometheus-k8s.yml (Prometheus without the Operator) finds every
    daemon: each dns_sd name is a headless Service of the output, on the --metrics_listen
    port of the containers it selects, and the job is named as the Service's app."""
    path = os.path.join(root, "deploy", "prometheus", "prometheus-k8s.yml")
    with open(path) as f:
        config = yaml.safe_load(f)
    binaries = set()
    for job in config.get("scrape_configs") or []:
        for sd in job.get("dns_sd_configs") or []:
            for name in sd.get("names") or []:
                w = f"prometheus-k8s.yml: job {job.get('job_name')}: {name}"
                parts = name.split(".")
                svc = objs.get("Service", parts[1], parts[0]) if len(parts) > 2 else None
                if svc is None:
                    err(f"{w}: no such Service in the output (NAME.NAMESPACE.svc...)")
                    continue
                if (svc.get("spec") or {}).get("clusterIP") != "None":
                    err(f"{w}: {who(svc)} is not headless (its DNS name would not list the pods)")
                app = ((svc.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/name")
                if job.get("job_name") != app:
                    err(f"{w}: the job is not named as {who(svc)}'s app ({app})")
                for c in selected_containers(svc, containers):
                    if host_port(c.flag("metrics_listen") or "")[1] != sd.get("port"):
                        err(f"{w}: port {sd.get('port')} is not {who(c.owner)}'s --metrics_listen")
                    binaries.add(c.binary)
    missing = {"reca-coordinator", "reca-worker", "reca-evaluator"} - binaries
    if missing:
        err(f"prometheus-k8s.yml: scrapes no {', '.join(sorted(missing))}")


def check_dashboards(objs, root, err):
    files = sorted(glob.glob(os.path.join(root, "deploy", "grafana", "*.json")))
    cms = [d for d in objs.of_kind("ConfigMap")
           if ((d.get("metadata") or {}).get("labels") or {}).get("grafana_dashboard") == "1"]
    if not cms:
        err('no ConfigMap labelled grafana_dashboard: "1" (the Grafana sidecar\'s dashboards)')
        return
    data = {}
    for cm in cms:
        data.update(cm.get("data") or {})
    for path in files:
        key = os.path.basename(path)
        with open(path, "rb") as f:
            want = f.read().decode("utf-8")
        if key not in data:
            err(f"dashboards ConfigMap: no {key} (deploy/grafana/{key})")
        elif data[key] != want:
            err(f"dashboards ConfigMap: {key} differs from deploy/grafana/{key} "
                "(run deploy/k8s/gen_dashboards_configmap.py)")
    for key in sorted(set(data) - {os.path.basename(p) for p in files}):
        err(f"dashboards ConfigMap: {key} is not in deploy/grafana")


# ---------------------------------------------------------------------------
# Rendering and driving.

def render(kubectl, target):
    r = subprocess.run([kubectl, "kustomize", target], capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip() or r.stdout.strip()
    return r.stdout, None


def normalized(docs):
    """The objects with generated-name hashes removed and Secret data decoded,
    to compare renders of different kustomize versions."""
    out = {}
    for d in docs:
        d = json.loads(json.dumps(d))
        if d.get("kind") == "Secret":
            d["data"] = {k: (v.decode("utf-8", "replace") if v is not None else None)
                         for k, v in secret_files(d).items()}
            d.pop("stringData", None)
        meta = d.get("metadata") or {}
        for k in ("annotations", "labels"):
            if meta.get(k) == {}:
                del meta[k]
        text = re.sub(r'"(reca-[a-z0-9-]+?)-[a-z0-9]{10}"', r'"\1-<hash>"', json.dumps(d, sort_keys=True))
        d = json.loads(text)
        out[(d.get("kind"), (d.get("metadata") or {}).get("namespace"),
             (d.get("metadata") or {}).get("name"))] = d
    return out


def compare_renders(name, renders, err):
    (k0, docs0), rest = renders[0], renders[1:]
    a = normalized(docs0)
    for k1, docs1 in rest:
        b = normalized(docs1)
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                err(f"{name}: {key[0]} {key[2]} is rendered by only "
                    f"{os.path.basename(k0) if key in a else os.path.basename(k1)} of {k0}, {k1}")
            elif a[key] != b[key]:
                err(f"{name}: {key[0]} {key[2]} differs between {k0} and {k1}")


def node_validate(validator, text):
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        return ["node is not installed (scripts/setup.sh installs it)"], ""
    mods = os.path.join(os.path.dirname(os.path.realpath(validator)), "node_modules")
    if not os.path.isdir(os.path.join(mods, "kubernetes-models")):
        return [f"{mods} is missing: run scripts/setup.sh (npm ci in deploy/k8s/validate)"], ""
    r = subprocess.run([node, validator], input=text, capture_output=True, text=True)
    lines = [l for l in r.stdout.splitlines() if l and not l.startswith("validate: ")]
    summary = next((l for l in r.stdout.splitlines() if l.startswith("validate: ")), "")
    if r.returncode != 0 and not lines:
        lines = [f"validate.js failed: {r.stderr.strip()[-2000:]}"]
    return lines, summary


def check_target(name, target, kubectls, validator, flags_by_binary, root, err, note):
    renders = []
    for k in kubectls:
        text, problem = render(k, target)
        if problem:
            err(f"{name}: `{k} kustomize` fails: {problem}")
            continue
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
        problems, summary = node_validate(validator, text)
        for p in problems:
            err(f"{name} [{os.path.basename(k)}]: schema: {p}")
        renders.append((k, docs))
        note(f"{name} [{k}]: {len(docs)} objects; {summary}")
    if not renders:
        return None
    if len(renders) > 1:
        compare_renders(name, renders, err)
    objs = Objects(renders[0][1])
    project_checks(objs, flags_by_binary, root, lambda m: err(f"{name}: {m}"), note)
    return objs


def copy_tree(root, dest):
    """deploy/k8s with every symlink resolved (Bazel's runfiles are symlinks,
    and kustomize refuses files whose real path is outside the kustomization)."""
    src = os.path.join(root, "deploy", "k8s")
    shutil.copytree(src, dest, symlinks=False,
                    ignore=shutil.ignore_patterns("node_modules", "sites", "__pycache__"))
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", default=os.path.join(HERE, "..", ".."))
    ap.add_argument("--kubectl", action="append", default=[])
    ap.add_argument("--expect-rejected", metavar="DIR", action="append",
                    help="a broken kustomization (relative to deploy/k8s) that must be rejected "
                         "(repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args()
    root = os.path.abspath(args.root)
    kubectls = args.kubectl or ["kubectl"]
    kubectls += [k for k in os.environ.get("RECA_EXTRA_KUBECTLS", "").split(":") if k]
    for i, k in enumerate(kubectls):
        found = shutil.which(k)
        if not found:
            print(f"FAIL: {k} not found (scripts/setup.sh installs kubernetes-client)")
            return 1
        kubectls[i] = found
    validator = os.path.join(root, "deploy", "k8s", "validate", "validate.js")
    problems, _ = node_validate(validator, "")
    if problems:
        print(f"FAIL: {problems[0]}")
        return 1

    errors, notes = [], []
    flags_by_binary, flag_errors = binary_flags(root)
    errors += flag_errors
    if not args.expect_rejected:
        # Strict mode's premise, for every type of the pinned packages.
        r = subprocess.run([shutil.which("node") or "nodejs", validator, "--self-test"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            errors += [l for l in r.stdout.splitlines() if "problems" not in l] or \
                [f"validate.js --self-test: {r.stderr.strip()}"]
        notes.append(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else "self-test: no output")

    with tempfile.TemporaryDirectory() as tmp:
        k8s = copy_tree(root, os.path.join(tmp, "k8s"))
        if args.expect_rejected:
            failed = 0
            for fixture in args.expect_rejected:
                failed += expect_rejected(fixture, k8s, kubectls, validator, flags_by_binary,
                                          root, errors)
            return 1 if failed else 0

        targets = [("overlays/local", os.path.join(k8s, "overlays", "local")),
                   ("overlays/gpu", os.path.join(k8s, "overlays", "gpu"))]
        # make_secrets.py's overlays: real tokens (and certificates) on top of each.
        make = os.path.join(HERE, "make_secrets.py")
        for overlay, tls in (("local", False), ("gpu", True)):
            site = os.path.join(k8s, "sites", f"test-{overlay}")
            cmd = [sys.executable, make, "--overlay", os.path.join(k8s, "overlays", overlay),
                   "--user", "ci", site] + (["--tls"] if tls else [])
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                errors.append(f"make_secrets.py {' '.join(cmd[2:])}: {r.stderr.strip() or r.stdout.strip()}")
                continue
            targets.append((f"make_secrets.py{' --tls' if tls else ''} on overlays/{overlay}", site))
        for name, target in targets:
            objs = check_target(name, target, kubectls, validator, flags_by_binary, root,
                                errors.append, notes.append)
            if objs is not None and name.startswith("make_secrets.py --tls"):
                check_certificates(name, objs, errors.append)
        # The ServiceMonitor alone (applied separately next to the local overlay).
        mon = os.path.join(k8s, "monitoring")
        for k in kubectls:
            text, problem = render(k, mon)
            if problem:
                errors.append(f"monitoring: `{k} kustomize` fails: {problem}")
                continue
            for p in node_validate(validator, text)[0]:
                errors.append(f"monitoring [{os.path.basename(k)}]: schema: {p}")

    if args.verbose:
        for n in notes:
            print(f"note: {n}")
    for e in errors:
        print(f"FAIL: {e}")
    if errors:
        return 1
    print(f"PASS: {len(targets)} targets + monitoring rendered with {len(kubectls)} kubectl(s) "
          f"({', '.join(kubectls)}), schema-valid (strict) and consistent with the binaries' flags")
    return 0


def expect_rejected(fixture, k8s, kubectls, validator, flags_by_binary, root, common_errors):
    """0 when `fixture` fails the checks with every expected message, else 1."""
    target = os.path.join(k8s, fixture)
    with open(os.path.join(target, "expected-errors.txt")) as f:
        expected = [l.strip() for l in f if l.strip() and not l.startswith("#")]
    errors = list(common_errors)
    check_target(fixture, target, kubectls, validator, flags_by_binary, root,
                 errors.append, lambda n: None)
    for e in errors:
        print(f"rejected: {e}")
    missing = [x for x in expected if not any(x in e for e in errors)]
    for x in missing:
        print(f"FAIL: {fixture}: expected an error containing: {x}")
    if not errors:
        print(f"FAIL: {fixture} passed every check; it must not")
        return 1
    if missing or not expected:
        return 1
    print(f"PASS: {fixture} rejected with all {len(expected)} expected errors "
          f"({len(errors)} errors in all)")
    return 0


def check_certificates(name, objs, err):
    """The coordinator's certificate names the host the daemons dial, and the
    daemons' client certificate chains to the CA the coordinator trusts."""
    if shutil.which("openssl") is None:
        return
    certs = {}
    for s in objs.of_kind("Secret"):
        if s.get("type") == "kubernetes.io/tls":
            base = re.sub(r"-[a-z0-9]{10}$", "", (s.get("metadata") or {}).get("name", ""))
            certs[base] = secret_files(s)
    server, client = certs.get("reca-coordinator-tls"), certs.get("reca-client-tls")
    if not server or not client:
        err(f"{name}: expected the TLS Secrets reca-coordinator-tls and reca-client-tls")
        return
    with tempfile.TemporaryDirectory() as tmp:
        def put(fname, data):
            p = os.path.join(tmp, fname)
            with open(p, "wb") as f:
                f.write(data or b"")
            return p
        r = subprocess.run(["openssl", "x509", "-noout", "-ext", "subjectAltName",
                            "-in", put("server.pem", server.get("tls.crt"))],
                           capture_output=True, text=True)
        sans = set(re.findall(r"DNS:([^,\s]+)", r.stdout))
        for host in ("reca-coordinator", "reca-coordinator.reca.svc"):
            if host not in sans:
                err(f"{name}: the coordinator's certificate does not name {host} (SANs: {sorted(sans)})")
        for cert, ca, what in ((server.get("tls.crt"), client.get("ca.crt"), "the coordinator's certificate"),
                               (client.get("tls.crt"), server.get("ca.crt"), "the daemons' client certificate")):
            r = subprocess.run(["openssl", "verify", "-CAfile", put("ca.pem", ca), put("c.pem", cert)],
                               capture_output=True, text=True)
            if r.returncode != 0:
                err(f"{name}: {what} does not verify against the CA its peer trusts: {r.stderr.strip() or r.stdout.strip()}")


if __name__ == "__main__":
    sys.exit(main())
