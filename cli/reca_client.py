"""Connecting to the RecA coordinator from Python: the one place that finds the
coordinator's address, your token and the TLS settings. recactl, the demo's
summary, the sweep runner (through recactl), the service tests and your own
scripts all connect through it, so they all honour the same settings.

    import sys; sys.path.insert(0, "cli")   # from the repository's root
    import reca_client
    with reca_client.connect() as conn:
        api = conn.api                        # reca.v1.job_service_pb2
        print(conn.jobs.ListJobs(api.ListJobsRequest(page_size=5)))

Where each setting comes from, first match wins:
  address  the `address` argument, $RECA_COORDINATOR, the local cluster's
           (runs/local/cluster.json, written by `recactl local up`), 127.0.0.1:7070;
  token    the `token_file` argument, $RECA_TOKEN, $RECA_TOKEN_FILE, and, when the
           address is the local cluster's, its runs/local/tokens/<role>.token; else
           none (the coordinator then answers UNAUTHENTICATED unless it runs without
           tokens);
  TLS      the `tls_ca` argument, $RECA_TLS_CA: a CA certificate (PEM) makes the
           channel TLS; else plaintext. `tls_cert` and `tls_key` add a client
           certificate (the workers' mutual-TLS port asks for one);
  stubs    the generated reca/v1/*_pb2.py: $RECA_PY_STUBS, what sys.path already
           has, <repo>/build/python (the CMake build writes them there).

Every call on a Connection's channel carries "authorization: Bearer <token>".
Errors in these settings (an unreadable token file, a missing CA file, stubs not
built) raise SettingsError naming the setting and the file.
"""

import argparse
import collections
import importlib
import os
import sys

import local_cluster

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_COORDINATOR = "127.0.0.1:7070"
DEFAULT_LOCAL_DIR = os.path.join("runs", "local")
# Reconnect within a second of a restarted coordinator coming back (gRPC's default
# backoff grows to minutes), on a subchannel of the channel's own: a new channel must
# not share one still in backoff from a closed channel to a killed coordinator.
CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 100),
                   ("grpc.max_reconnect_backoff_ms", 1000),
                   ("grpc.use_local_subchannel_pool", 1))
STUB_MODULES = ("admin_service_pb2", "admin_service_pb2_grpc", "evaluator_service_pb2",
                "evaluator_service_pb2_grpc", "job_pb2", "job_service_pb2",
                "job_service_pb2_grpc", "job_spec_pb2", "worker_service_pb2",
                "worker_service_pb2_grpc")

grpc = None  # the grpc module, once load_stubs() has run
_pb = None


class SettingsError(Exception):
    """A connection setting that cannot be used: the message names it and its file."""


def load_stubs(py_stubs=None):
    """Imports grpcio and the generated reca.v1 stubs (from `py_stubs`, else as the
    module docstring says) and returns a namespace of the stub modules
    (ns.job_pb2, ns.job_service_pb2_grpc, ...). Idempotent."""
    global grpc, _pb
    if _pb is not None:
        return _pb
    for path in (py_stubs, os.environ.get("RECA_PY_STUBS")):
        if path and path not in sys.path:
            sys.path.insert(0, path)
    try:
        import grpc as grpc_module
    except ImportError:
        raise SettingsError("the grpc module is missing: run with /usr/bin/python3 "
                            "(Debian's python3-grpcio)")
    modules = {}
    for attempt in range(2):
        try:
            for name in STUB_MODULES:
                modules[name] = importlib.import_module("reca.v1." + name)
            break
        except ImportError as e:
            fallback = os.path.join(REPO, "build", "python")
            if attempt == 1 or fallback in sys.path:
                raise SettingsError(f"cannot import the generated stubs reca/v1/*_pb2.py ({e}): "
                                    "build them (cmake --build build) or point RECA_PY_STUBS "
                                    "at them")
            sys.path.append(fallback)
            for name in [m for m in sys.modules if m == "reca" or m.startswith("reca.")]:
                del sys.modules[name]
    grpc = grpc_module
    _pb = argparse.Namespace(**modules)
    return _pb


def resolve_address(address=None, local_dir=DEFAULT_LOCAL_DIR):
    return (address or os.environ.get("RECA_COORDINATOR")
            or local_cluster.recorded_address(local_dir) or DEFAULT_COORDINATOR)


def read_token_file(path, what, missing_ok=False):
    """The one token in `path` (surrounding whitespace stripped). `what` names the
    setting in errors ("--token-file", "$RECA_TOKEN_FILE")."""
    try:
        with open(path, encoding="utf-8") as f:
            token = f.read().strip()
    except FileNotFoundError:
        if missing_ok:
            return None
        raise SettingsError(f"{what}: {path}: no such file")
    except OSError as e:
        raise SettingsError(f"{what}: {path}: {e.strerror}")
    if not token or any(c.isspace() for c in token):
        raise SettingsError(f"{what}: {path}: expected one token")
    return token


def resolve_token(address, token_file=None, role="user", local_dir=DEFAULT_LOCAL_DIR,
                  token_file_setting="token_file"):
    """The token for calls to `address`, or None (see the module docstring).
    `token_file_setting` names the `token_file` argument in errors."""
    if token_file:
        return read_token_file(token_file, token_file_setting)
    if os.environ.get("RECA_TOKEN"):
        return os.environ["RECA_TOKEN"].strip()
    if os.environ.get("RECA_TOKEN_FILE"):
        return read_token_file(os.environ["RECA_TOKEN_FILE"], "$RECA_TOKEN_FILE")
    if address == local_cluster.recorded_address(local_dir):
        return read_token_file(local_cluster.token_path(local_dir, role), "local token",
                               missing_ok=True)
    return None


def _read_pem(path, what):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise SettingsError(f"{what}: {path}: {e.strerror}")


def resolve_tls_ca(tls_ca=None, setting="tls_ca"):
    """The CA certificate (PEM bytes) that makes the channel TLS, or None.
    `setting` names the `tls_ca` argument in errors."""
    path, what = (tls_ca, setting) if tls_ca else (os.environ.get("RECA_TLS_CA"), "$RECA_TLS_CA")
    return _read_pem(path, what) if path else None


class _CallDetails(collections.namedtuple(
        "_CallDetails", ("method", "timeout", "metadata", "credentials", "wait_for_ready",
                         "compression"))):
    pass


def _bearer_interceptor(token):
    """Adds "authorization: Bearer <token>" to every call, of every arity."""
    class Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor,
                 grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor):
        def _details(self, d):
            metadata = list(d.metadata or []) + [("authorization", "Bearer " + token)]
            return _CallDetails(d.method, d.timeout, metadata, d.credentials,
                                d.wait_for_ready, d.compression)

        def intercept_unary_unary(self, continuation, details, request):
            return continuation(self._details(details), request)

        def intercept_unary_stream(self, continuation, details, request):
            return continuation(self._details(details), request)

        def intercept_stream_unary(self, continuation, details, requests):
            return continuation(self._details(details), requests)

        def intercept_stream_stream(self, continuation, details, requests):
            return continuation(self._details(details), requests)

    return Bearer()


class Connection:
    """A channel to the coordinator with its token and TLS, and the service stubs.
    `reconnect()` replaces the channel (a TLS channel whose first connection attempts
    failed has been seen never to recover, gRPC 1.51, while a new one connects)."""

    def __init__(self, address, token=None, root_certificates=None, private_key=None,
                 certificate_chain=None):
        self.pb = load_stubs()
        self.api = self.pb.job_service_pb2
        self.address = address
        self.token = token
        self.tls = root_certificates is not None
        self._credentials = (grpc.ssl_channel_credentials(
            root_certificates=root_certificates, private_key=private_key,
            certificate_chain=certificate_chain) if self.tls else None)
        self._raw = None
        self.reconnect()

    def reconnect(self):
        if self._raw is not None:
            self._raw.close()
        options = list(CHANNEL_OPTIONS)
        self._raw = (grpc.secure_channel(self.address, self._credentials, options=options)
                     if self.tls else grpc.insecure_channel(self.address, options=options))
        self.channel = (grpc.intercept_channel(self._raw, _bearer_interceptor(self.token))
                        if self.token else self._raw)
        self.jobs = self.pb.job_service_pb2_grpc.JobServiceStub(self.channel)
        self.admin = self.pb.admin_service_pb2_grpc.AdminServiceStub(self.channel)

    def stub(self, stub_class):
        """Another service's stub on this channel (e.g. WorkerServiceStub)."""
        return stub_class(self.channel)

    def close(self):
        self._raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connect(address=None, token_file=None, tls_ca=None, tls_cert=None, tls_key=None,
            role="user", local_dir=DEFAULT_LOCAL_DIR):
    """A Connection with every setting resolved as the module docstring says. `role`
    picks the local cluster's token (user, admin, worker, evaluator)."""
    load_stubs()
    if bool(tls_cert) != bool(tls_key):
        raise SettingsError("tls_cert and tls_key go together")
    address = resolve_address(address, local_dir)
    root = resolve_tls_ca(tls_ca)
    if tls_cert and root is None:
        raise SettingsError("tls_cert: a client certificate needs tls_ca (or $RECA_TLS_CA)")
    return Connection(address, resolve_token(address, token_file, role, local_dir), root,
                      _read_pem(tls_key, "tls_key") if tls_key else None,
                      _read_pem(tls_cert, "tls_cert") if tls_cert else None)
