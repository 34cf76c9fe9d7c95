#!/usr/bin/env python3
"""Makes a kustomize overlay with real credentials on top of a shipped one:
fresh tokens (and, with --tls, a CA and certificates), the Secrets that
replace the shipped placeholders, and the client-side files recactl needs.

    deploy/k8s/make_secrets.py [--overlay DIR] [--tls] [--user NAME]
                               [--namespace NS] [--san NAME ...] OUTDIR

OUTDIR (e.g. deploy/k8s/sites/prod, which git ignores) gets:
  kustomization.yaml     bases: the overlay; secretGenerator behavior: replace
  secrets/hashes         the coordinator's --auth_tokens_file (ROLE NAME SHA256)
  secrets/worker.token, secrets/evaluator.token      the daemons' tokens
  secrets/coordinator/{tls.crt,tls.key,ca.crt}       (--tls) serving cert + client CA
  secrets/client/{tls.crt,tls.key,ca.crt}            (--tls) the daemons' client cert
  client/admin.token, client/<user>.token            for recactl (--token-file)
  client/ca.pem                                      (--tls) for recactl --tls-ca
  ca/ca.key                                          (--tls) the CA's key: keep it offline
Then: kubectl apply -k OUTDIR. Files that exist are kept (re-running never
changes a token already handed out); delete them to make new ones. Every
file is mode 600, every folder 700. Tokens are "reca_" + 64 hex digits, as
`recactl token create` makes them; only their SHA-256 reaches the cluster's
coordinator. TLS needs the openssl command.
"""
import argparse
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
NAME_RE = re.compile(r"^[A-Za-z0-9._@-]{1,64}$")  # coordinator/auth.cc CheckName


def write_private(path, text, keep=True):
    """Writes `text` to `path` (mode 600) unless it exists and `keep`; returns its content."""
    if keep and os.path.exists(path):
        with open(path) as f:
            return f.read()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    return text


def token(path):
    return write_private(path, "reca_" + secrets.token_hex(32) + "\n").strip()


def openssl(*args, cwd):
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"make_secrets: openssl {' '.join(args)}: {r.stderr.strip()}")


def make_tls(out, namespace, extra_sans):
    """A CA, the coordinator's serving certificate and the daemons' client
    certificate (README "TLS" recipe), unless they exist."""
    if shutil.which("openssl") is None:
        raise SystemExit("make_secrets: --tls needs the openssl command (apt install openssl)")
    sec = os.path.join(out, "secrets")
    paths = {k: os.path.join(sec, k) for k in
             ("coordinator/tls.crt", "coordinator/tls.key", "coordinator/ca.crt",
              "client/tls.crt", "client/tls.key", "client/ca.crt")}
    ca_key = os.path.join(out, "ca", "ca.key")
    if all(os.path.exists(p) for p in paths.values()):
        return
    with tempfile.TemporaryDirectory() as tmp:
        if os.path.exists(ca_key):
            shutil.copy(ca_key, os.path.join(tmp, "ca.key"))
            shutil.copy(os.path.join(out, "client", "ca.pem"), os.path.join(tmp, "ca.pem"))
        else:
            openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", "825",
                    "-subj", "/CN=reca-ca", "-keyout", "ca.key", "-out", "ca.pem", cwd=tmp)
        svc = "reca-coordinator"
        sans = [svc, f"{svc}.{namespace}", f"{svc}.{namespace}.svc",
                f"{svc}.{namespace}.svc.cluster.local", "localhost"] + list(extra_sans)
        san = ",".join([f"DNS:{n}" for n in sans] + ["IP:127.0.0.1"])
        with open(os.path.join(tmp, "server.ext"), "w") as f:
            f.write(f"subjectAltName={san}\nextendedKeyUsage=serverAuth\n")
        with open(os.path.join(tmp, "client.ext"), "w") as f:
            f.write("extendedKeyUsage=clientAuth\n")
        for name, subj, ext in (("server", "/CN=reca-coordinator", "server.ext"),
                                ("client", "/CN=reca-daemons", "client.ext")):
            openssl("req", "-newkey", "rsa:3072", "-nodes", "-subj", subj,
                    "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=tmp)
            openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                    "-CAcreateserial", "-days", "825", "-extfile", ext,
                    "-out", f"{name}.pem", cwd=tmp)

        def read(name):
            with open(os.path.join(tmp, name)) as f:
                return f.read()

        write_private(ca_key, read("ca.key"), keep=True)
        write_private(os.path.join(out, "client", "ca.pem"), read("ca.pem"), keep=True)
        for key, src in (("coordinator/tls.crt", "server.pem"), ("coordinator/tls.key", "server.key"),
                         ("coordinator/ca.crt", "ca.pem"), ("client/tls.crt", "client.pem"),
                         ("client/tls.key", "client.key"), ("client/ca.crt", "ca.pem")):
            write_private(paths[key], read(src), keep=False)


def kustomization(out, overlay, namespace, tls):
    base = os.path.relpath(os.path.abspath(overlay), os.path.abspath(out))
    lines = [
        "# Generated by deploy/k8s/make_secrets.py: the overlay below with real",
        "# credentials (never commit this folder). kubectl apply -k <this folder>",
        f"namespace: {namespace}",
        "",
        "bases:",
        f"  - {base}",
        "",
        "secretGenerator:",
        "  - name: reca-auth-tokens",
        "    behavior: replace",
        "    files:",
        "      - hashes=secrets/hashes",
        "  - name: reca-worker-token",
        "    behavior: replace",
        "    files:",
        "      - token=secrets/worker.token",
        "  - name: reca-evaluator-token",
        "    behavior: replace",
        "    files:",
        "      - token=secrets/evaluator.token",
    ]
    if tls:
        for name, folder in (("reca-coordinator-tls", "coordinator"), ("reca-client-tls", "client")):
            lines += [f"  - name: {name}",
                      "    behavior: replace",
                      "    type: kubernetes.io/tls",
                      "    files:",
                      f"      - tls.crt=secrets/{folder}/tls.crt",
                      f"      - tls.key=secrets/{folder}/tls.key",
                      f"      - ca.crt=secrets/{folder}/ca.crt"]
    with open(os.path.join(out, "kustomization.yaml"), "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", metavar="OUTDIR")
    ap.add_argument("--overlay", default=os.path.join(HERE, "overlays", "gpu"),
                    help="the overlay to build on (default: deploy/k8s/overlays/gpu)")
    ap.add_argument("--tls", action="store_true",
                    help="also a CA and certificates (the gpu overlay serves TLS and needs them)")
    ap.add_argument("--user", default=os.environ.get("USER") or "user",
                    help="name of the user token to create besides admin (default: $USER)")
    ap.add_argument("--namespace", default="reca",
                    help="the namespace the coordinator's certificate names (default: reca)")
    ap.add_argument("--san", action="append", default=[],
                    help="another DNS name for the coordinator's certificate (an Ingress, a LoadBalancer)")
    args = ap.parse_args()
    if not os.path.isfile(os.path.join(args.overlay, "kustomization.yaml")):
        raise SystemExit(f"make_secrets: {args.overlay}: no kustomization.yaml")
    if not NAME_RE.match(args.user):
        raise SystemExit(f"make_secrets: --user {args.user}: only letters, digits, '-', '_', '.', '@'")
    out = args.out
    os.makedirs(out, mode=0o700, exist_ok=True)
    os.chmod(out, 0o700)

    names = {"admin": "admin", "user": args.user, "worker": "workers", "evaluator": "evaluators"}
    paths = {"admin": os.path.join(out, "client", "admin.token"),
             "user": os.path.join(out, "client", f"{args.user}.token"),
             "worker": os.path.join(out, "secrets", "worker.token"),
             "evaluator": os.path.join(out, "secrets", "evaluator.token")}
    lines = ["# deploy/k8s/make_secrets.py: ROLE NAME SHA256 of each token (the coordinator's",
             "# --auth_tokens_file). More tokens: recactl token create (admins)."]
    for role in ("admin", "user", "worker", "evaluator"):
        secret = token(paths[role])
        lines.append(f"{role} {names[role]} {hashlib.sha256(secret.encode()).hexdigest()}")
    write_private(os.path.join(out, "secrets", "hashes"), "\n".join(lines) + "\n", keep=False)
    if args.tls:
        make_tls(out, args.namespace, args.san)
    kustomization(out, args.overlay, args.namespace, args.tls)
    for folder, _, files in os.walk(out):
        os.chmod(folder, 0o700)
        for f in files:
            os.chmod(os.path.join(folder, f), 0o600)

    print(f"wrote {out}: kubectl apply -k {out}")
    print("recactl, through `kubectl -n %s port-forward svc/reca-coordinator 7070`:" % args.namespace)
    tls = f" --tls-ca {os.path.join(out, 'client', 'ca.pem')}" if args.tls else ""
    print(f"  recactl --coordinator 127.0.0.1:7070 --token-file {paths['user']}{tls} list")
    print(f"  (admin: --token-file {paths['admin']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
