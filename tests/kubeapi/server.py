"""The loopback test API server: HTTPS on a free 127.0.0.1 port, bearer tokens, RBAC, and pod port-forwarding.

An aiohttp application runs in a background thread with its own event loop, so synchronous tests, the kubernetes
client and the real kubectl can all talk to it. Objects live in one dict guarded by a lock; every request is
authenticated, impersonated when asked, authorized against the stored RBAC objects and then served, answering
with the real API server's status codes and ``Status`` messages. See docs/test-api-server.md.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import dataclasses
import datetime
import json
import secrets
import ssl
import tempfile
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from tests.kubeapi import protobuf, rbac, resources, selectors
from tests.kubeapi.certs import make_serving_certs
from tests.kubeapi.rbac import Attributes, UserInfo
from tests.kubeapi.resources import ResourceType

DEFAULT_GIT_VERSION = "v1.35.0"
PORTFORWARD_PROTOCOL = "v4.channel.k8s.io"
_SA_PREFIX = "system:serviceaccount:"


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def server_version_at_least(git_version: str, major: int, minor: int) -> bool:
    parts = git_version.lstrip("v").split(".")
    try:
        return (int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()))) >= (major, minor)
    except (IndexError, ValueError):
        return True


class ApiError(Exception):
    """A failure answered as a ``Status`` object (or, for ``plain``, a text/plain body like the real server)."""

    def __init__(self, code: int, reason: str, message: str, details: dict | None = None, plain: bool = False):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.plain = plain

    def status(self) -> dict:
        body: dict = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource: ResourceType | None, name: str = "", kind: str = "") -> dict:
    details: dict = {}
    if name:
        details["name"] = name
    if resource is not None and resource.group:
        details["group"] = resource.group
    details["kind"] = kind or (resource.plural if resource else "")
    return details


def not_found(resource: ResourceType, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.qualified} "{name}" not found', _details(resource, name))


def forbidden(attributes: Attributes, reason: str) -> ApiError:
    message = rbac.forbidden_message(attributes)
    if reason:
        message = f"{message}: {reason}"
    if not attributes.resource_request:
        return ApiError(403, "Forbidden", f"forbidden: {message}", {})
    qualified = f"{attributes.resource}.{attributes.api_group}" if attributes.api_group else attributes.resource
    prefix = f'{qualified} "{attributes.name}"' if attributes.name else qualified
    details: dict = {}
    if attributes.name:
        details["name"] = attributes.name
    if attributes.api_group:
        details["group"] = attributes.api_group
    details["kind"] = attributes.resource
    return ApiError(403, "Forbidden", f"{prefix} is forbidden: {message}", details)


NOT_FOUND_PATH = ApiError(
    404, "NotFound", "the server could not find the requested resource",
    {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]},
)
UNAUTHORIZED = ApiError(401, "Unauthorized", "Unauthorized")
# What the real server's last handler (apiserver's notfoundhandler, after authorization) answers for a path no API
# group serves: Go's http.NotFound, plain text. (client-go turns it into "the server could not find the requested
# resource" for kubectl.)
PAGE_NOT_FOUND = ApiError(404, "NotFound", "404 page not found\n", plain=True)
UNAUTHENTICATED = "(unauthenticated)"  # the user logged in ``requests`` for a request that got a 401


@dataclass(frozen=True)
class RequestInfo:
    """The parsed path and verb of one request, as ``k8s.io/apiserver``'s RequestInfoFactory would produce."""

    verb: str
    path: str
    resource: ResourceType | None = None
    namespace: str = ""
    name: str = ""
    subresource: str = ""
    group: str = ""
    version: str = ""


def parse_request(method: str, path: str, query: dict[str, list[str]]) -> RequestInfo:
    """Split ``/api/v1/namespaces/NS/pods/NAME/SUB`` into its parts; unknown resources raise 404."""
    http_verbs = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    verb = http_verbs.get(method, method.lower())
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return RequestInfo(verb=verb, path=path)
    if not rest:
        return RequestInfo(verb=verb, path=path, group=group, version=version)
    namespace = ""
    if rest[0] == "namespaces" and len(rest) >= 3:
        namespace, rest = rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) == 2:
        namespace = rest[1]  # a namespace's own namespace attribute is its name, as in the real server
    resource = resources.BY_PATH.get((group, version, rest[0]))
    if resource is None or len(rest) > 3:
        raise NOT_FOUND_PATH
    name = rest[1] if len(rest) >= 2 else ""
    subresource = rest[2] if len(rest) == 3 else ""
    if subresource and subresource not in {sub.name for sub in resource.subresources}:
        raise NOT_FOUND_PATH
    if not name:
        if verb == "get":
            watch = query.get("watch", [""])[0].lower()
            verb = "watch" if watch in ("1", "true") else "list"
        elif verb == "delete":
            verb = "deletecollection"
    return RequestInfo(
        verb=verb, path=path, resource=resource, namespace=namespace, name=name,
        subresource=subresource, group=group, version=version,
    )


def _merge_patch(target: object, patch: object) -> object:
    """RFC 7386 JSON merge patch (also used for strategic merge patches, which it approximates)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = _merge_patch(result.get(key), value)
    return result


class KubeApiServer:
    """A Kubernetes API server of the project's own for tests; see the module docstring and the docs page."""

    def __init__(
        self,
        *,
        git_version: str = DEFAULT_GIT_VERSION,
        portforward_idle_timeout: float | None = None,
        workdir: Path | None = None,
        serving_names: tuple[str, ...] = (),
    ) -> None:
        self.git_version = git_version
        # Settable while running. The kubelet's streamingConnectionIdleTimeout: a port-forward with no data in
        # either direction for this long is cut (pings do not count, as on a real kubelet).
        self.portforward_idle_timeout = portforward_idle_timeout
        # Settable while running: API groups (e.g. "coordination.k8s.io") this server acts as if it did not serve.
        self.unserved_groups: set[str] = set()
        # A load balancer in front of the API server: cuts a port-forward with no frame at all (pings count).
        self.lb_idle_timeout: float | None = None
        self.serving_names = serving_names
        self.client_ca = None  # trustme.CA that signs client certificates (x509 authentication), made at start
        self._own_workdir = workdir is None
        self._workdir = Path(tempfile.mkdtemp(prefix="kubeapi-")) if workdir is None else workdir
        self._lock = threading.RLock()
        self._objects: dict[tuple[str, str, str, str], dict] = {}
        self._resource_version = 1000
        self._tokens: dict[str, UserInfo | tuple[str, str]] = {}
        self._user_tokens: dict[str, str] = {}
        self._routes: dict[tuple[str, str, int], tuple[str, int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner = None
        self._forward_tasks: set[asyncio.Task] = set()
        self.port: int | None = None
        self.ca_file: Path | None = None
        self.admin_token = ""
        # (method, path?query, user) of every request, for assertions; a request that failed authentication is
        # logged with user UNAUTHENTICATED (anonymous access is off, so it got a 401).
        self.requests: list[tuple[str, str, str]] = []

    # ----- lifecycle -----------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the test API server is not running")
        return f"https://127.0.0.1:{self.port}"

    def start(self) -> KubeApiServer:
        import trustme

        certs = make_serving_certs(self._workdir / "pki", self.serving_names)
        self.ca_file = certs.ca_file
        ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_context.load_cert_chain(certs.cert_file, certs.key_file)
        # --client-ca-file: a client certificate is optional, but one that is offered must chain to this CA
        # (Go's VerifyClientCertIfGiven: a bad one fails the handshake).
        self.client_ca = trustme.CA(organization_name="kubeapi-test client CA")
        self.client_ca.configure_trust(ssl_context)
        ssl_context.verify_mode = ssl.CERT_OPTIONAL
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._start_site(ssl_context))
            except BaseException as e:  # reported to the starting thread
                failure.append(e)
                ready.set()
                loop.close()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(self._shutdown())
            loop.close()

        self._thread = threading.Thread(target=serve, name="kubeapi-server", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise RuntimeError("the test API server did not start") from failure[0]
        self.reset()
        return self

    async def _start_site(self, ssl_context: ssl.SSLContext) -> None:
        from aiohttp import web

        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=ssl_context)
        await site.start()
        server = site._server  # the bound socket's port; aiohttp offers no public accessor
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]

    async def _shutdown(self) -> None:
        for task in list(self._forward_tasks):
            task.cancel()
        if self._forward_tasks:
            await asyncio.gather(*self._forward_tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=15)
        self._loop = None
        self._thread = None
        self.port = None
        if self._own_workdir:
            import shutil

            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> KubeApiServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # ----- users and tokens ----------------------------------------------------------------------------------

    def add_user(self, name: str, groups: tuple[str, ...] | list[str] = ()) -> str:
        """Register a user with its groups (``system:authenticated`` is added) and return a new bearer token."""
        return self._register_user(secrets.token_urlsafe(24), name, groups)

    def _register_user(self, token: str, name: str, groups: tuple[str, ...] | list[str]) -> str:
        all_groups = tuple(groups) + (() if "system:authenticated" in groups else ("system:authenticated",))
        with self._lock:
            self._tokens[token] = UserInfo(name=name, groups=all_groups, uid=str(uuid.uuid4()))
            self._user_tokens[name] = token
        return token

    def add_serviceaccount_token(self, namespace: str, name: str) -> str:
        """Return a token for ServiceAccount NS/NAME (created if missing); it stops working if the SA is deleted."""
        if self.get_object("v1", "ServiceAccount", namespace, name) is None:
            self.put({"apiVersion": "v1", "kind": "ServiceAccount",
                      "metadata": {"name": name, "namespace": namespace}})
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (namespace, name)
            self._user_tokens[f"{_SA_PREFIX}{namespace}:{name}"] = token
        return token

    def issue_client_cert(self, directory: Path, user: str, groups: tuple[str, ...] = ()) -> tuple[Path, Path]:
        """A client certificate (CN = user, O = each group) and its key, signed by the client CA: files
        ``<user>.crt`` and ``<user>.key`` (0600) in ``directory``."""
        assert self.client_ca is not None, "start the server first"
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        # trustme issues one organization per certificate; Kubernetes reads every O as a group, so build it here
        # from the trustme CA's key.
        ca_cert = x509.load_pem_x509_certificate(self.client_ca.cert_pem.bytes())
        ca_key = serialization.load_pem_private_key(self.client_ca.private_key_pem.bytes(), password=None)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, group) for group in groups]
                            + [x509.NameAttribute(NameOID.COMMON_NAME, user)])
        cert = (
            x509.CertificateBuilder().subject_name(subject).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
        )
        directory.mkdir(parents=True, exist_ok=True)
        cert_file, key_file = directory / f"{user}.crt", directory / f"{user}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        key_file.chmod(0o600)
        return cert_file, key_file

    def token_for(self, user: str) -> str:
        with self._lock:
            return self._user_tokens[user]

    def _authenticate_certificate(self, request) -> UserInfo | None:
        """The x509 authenticator: a verified client certificate's CN is the user, each O a group."""
        peer = request.transport.get_extra_info("peercert") if request.transport is not None else None
        if not peer:
            return None
        subject = [attribute for rdn in peer.get("subject", ()) for attribute in rdn]
        names = [value for key, value in subject if key == "commonName"]
        if not names:
            return None
        groups = tuple(value for key, value in subject if key == "organizationName")
        return UserInfo(name=names[0], groups=groups + ("system:authenticated",))

    def _authenticate(self, header: str) -> UserInfo:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UNAUTHORIZED
        with self._lock:
            entry = self._tokens.get(token.strip())
        if entry is None:
            raise UNAUTHORIZED
        if isinstance(entry, UserInfo):
            return entry
        namespace, name = entry
        account = self.get_object("v1", "ServiceAccount", namespace, name)
        if account is None:  # a bound token dies with its ServiceAccount
            raise UNAUTHORIZED
        return UserInfo(
            name=f"{_SA_PREFIX}{namespace}:{name}",
            groups=("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"),
            uid=account["metadata"]["uid"],
        )

    def write_kubeconfig(self, path: Path | str, user: str, namespace: str | None = None, *,
                         user_entry: dict | None = None, cluster_entry: dict | None = None,
                         embed_ca: bool = True) -> Path:
        """Write a kubeconfig (CA embedded, bearer token of ``user``) whose current context points here.

        ``user_entry`` replaces the user's credentials (an ``exec`` section, client certificates);
        ``cluster_entry`` adds cluster fields (``proxy-url``, ``tls-server-name``, ``insecure-skip-tls-verify``,
        ``server``); ``embed_ca=False`` leaves the CA out (system trust store / SSL_CERT_FILE)."""
        path = Path(path)
        assert self.ca_file is not None
        context: dict = {"cluster": "kubeapi", "user": user}
        if namespace:
            context["namespace"] = namespace
        cluster: dict = {"server": self.url}
        if embed_ca:
            cluster["certificate-authority-data"] = base64.b64encode(self.ca_file.read_bytes()).decode()
        cluster.update(cluster_entry or {})
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "kubeapi", "cluster": cluster}],
            "users": [{"name": user,
                       "user": user_entry if user_entry is not None else {"token": self.token_for(user)}}],
            "contexts": [{"name": "kubeapi", "context": context}],
            "current-context": "kubeapi",
            "preferences": {},
        }
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML; no yaml writer needed
        path.chmod(0o600)
        return path

    # ----- port routes ---------------------------------------------------------------------------------------

    def route_port(self, namespace: str, pod: str, port: int, host: str, real_port: int) -> None:
        """Relay port-forwards to POD:PORT to the real address HOST:REAL_PORT."""
        with self._lock:
            self._routes[(namespace, pod, port)] = (host, real_port)

    # ----- object store --------------------------------------------------------------------------------------

    def _next_resource_version(self) -> str:
        self._resource_version += 1
        return str(self._resource_version)

    def _stamp(self, resource: ResourceType, obj: dict, namespace: str) -> dict:
        obj["apiVersion"] = resource.group_version
        obj["kind"] = resource.kind
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", now_rfc3339())
        meta["resourceVersion"] = self._next_resource_version()
        if resource.kind == "Namespace":
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        return obj

    @staticmethod
    def _key(resource: ResourceType, namespace: str, name: str) -> tuple[str, str, str, str]:
        return (resource.group, resource.plural, namespace if resource.namespaced else "", name)

    def put(self, obj: dict) -> dict:
        """Create or replace an object of any served kind (a test backdoor: no authorization, no conflicts).

        The namespace of a namespaced object is created when missing. Returns the stored copy.
        """
        resource = resources.find_by_kind(obj["apiVersion"], obj["kind"])
        obj = copy.deepcopy(obj)
        namespace = obj.get("metadata", {}).get("namespace") or ("default" if resource.namespaced else "")
        with self._lock:
            if resource.namespaced and self._get("", "namespaces", "", namespace) is None:
                self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            key = self._key(resource, namespace, obj["metadata"]["name"])
            previous = self._objects.get(key)
            if previous is not None:
                obj["metadata"].setdefault("uid", previous["metadata"]["uid"])
                obj["metadata"].setdefault("creationTimestamp", previous["metadata"]["creationTimestamp"])
            self._objects[key] = self._stamp(resource, obj, namespace)
            return copy.deepcopy(self._objects[key])

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        resource = resources.find_by_kind(api_version, kind)
        with self._lock:
            return self._remove(resource, namespace or "", name) is not None

    def get_object(self, api_version: str, kind: str, namespace: str | None, name: str) -> dict | None:
        resource = resources.find_by_kind(api_version, kind)
        with self._lock:
            obj = self._objects.get(self._key(resource, namespace or "", name))
            return copy.deepcopy(obj) if obj is not None else None

    def _get(self, group: str, plural: str, namespace: str, name: str) -> dict | None:
        return self._objects.get((group, plural, namespace, name))

    def _list(self, group: str, plural: str, namespace: str) -> list[dict]:
        with self._lock:
            return [
                obj for (g, p, ns, _), obj in sorted(self._objects.items())
                if g == group and p == plural and (not namespace or ns == namespace)
            ]

    def _remove(self, resource: ResourceType, namespace: str, name: str) -> dict | None:
        removed = self._objects.pop(self._key(resource, namespace, name), None)
        if removed is not None and resource.kind == "Namespace":
            # The real namespace controller deletes the contents asynchronously; here it happens at once.
            for key in [key for key in self._objects if key[2] == name]:
                del self._objects[key]
        return removed

    def reset(self) -> None:
        """Back to an empty cluster: the default namespaces, the bootstrap RBAC roles and the admin user."""
        with self._lock:
            self.unserved_groups.clear()
            self._objects.clear()
            self._routes.clear()
            self._tokens.clear()
            self._user_tokens.clear()
            self.requests.clear()
            for namespace in ("default", "kube-system", "kube-public", "kube-node-lease"):
                self.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
            for obj in _bootstrap_rbac():
                self.put(obj)
            # The admin token survives resets, so kubeconfigs written earlier in a session keep working.
            self.admin_token = self._register_user(
                self.admin_token or secrets.token_urlsafe(24), "admin", ("system:masters",)
            )

    # ----- HTTP ----------------------------------------------------------------------------------------------

    async def _handle(self, request):  # noqa: C901 - one dispatcher mirrors the real handler chain
        from aiohttp import web

        try:
            try:
                # The union authenticator: x509 first, then bearer tokens.
                user = self._authenticate_certificate(request) or self._authenticate(
                    request.headers.get("Authorization", ""))
            except ApiError:
                with self._lock:
                    self.requests.append((request.method, request.path_qs, UNAUTHENTICATED))
                raise
            user = self._impersonate(request, user)
            query = parse_qs(request.query_string, keep_blank_values=True)
            info = parse_request(request.method, request.path, query)
            with self._lock:
                self.requests.append((request.method, request.path_qs, user.name))
            if info.resource is None:
                self._authorize(Attributes(user=user, verb=info.verb, resource_request=False, path=info.path))
                if info.group and info.group in self.unserved_groups:
                    raise PAGE_NOT_FOUND
                return web.json_response(self._discovery(request, info))
            attributes = Attributes(
                user=user, verb=info.verb, namespace=info.namespace, api_group=info.group,
                api_version=info.version, resource=info.resource.plural, subresource=info.subresource,
                name=info.name,
            )
            self._authorize(attributes)
            if info.group in self.unserved_groups:
                raise PAGE_NOT_FOUND
            if info.subresource == "portforward":
                return await self._portforward(request, info, attributes)
            body = await request.read() if request.method in ("POST", "PUT", "PATCH") else b""
            as_protobuf = request.headers.get("Content-Type", "").startswith(protobuf.MEDIA_TYPE)
            if as_protobuf:
                body = self._protobuf_to_json(info.resource, body)
            status, payload = self._serve_resource(request, info, user, query, body)
            if as_protobuf and request.headers.get("Accept", "").startswith(protobuf.MEDIA_TYPE):
                raw = protobuf.encode(payload, payload["kind"])
                return web.Response(status=status, body=protobuf.wrap(payload["apiVersion"], payload["kind"], raw),
                                    content_type=protobuf.MEDIA_TYPE)
            return web.json_response(payload, status=status)
        except ApiError as error:
            if error.plain:
                return web.Response(status=error.code, text=error.message, content_type="text/plain")
            return web.json_response(error.status(), status=error.code)

    @staticmethod
    def _protobuf_to_json(resource: ResourceType, body: bytes) -> bytes:
        """Decode a protobuf request body (kubectl's access reviews) into the JSON the handlers take."""
        if resource.kind not in protobuf.SCHEMAS:
            raise ApiError(415, "UnsupportedMediaType",
                           f"the body of the request was in an unknown format - accepted media types include: "
                           f"application/json (the test API server decodes protobuf only for access reviews, "
                           f"not {resource.kind})")
        try:
            api_version, kind, raw = protobuf.unwrap(body)
            review = protobuf.decode(raw, resource.kind)
        except protobuf.ProtobufError as e:
            raise ApiError(400, "BadRequest", f"the body of the request could not be decoded: {e}") from e
        return json.dumps({"apiVersion": api_version, "kind": kind, **review}).encode()

    def _authorize(self, attributes: Attributes) -> None:
        decision = rbac.authorize(attributes, self._get_locked, self._list)
        if not decision.allowed:
            raise forbidden(attributes, decision.reason)

    def _get_locked(self, group: str, plural: str, namespace: str, name: str) -> dict | None:
        with self._lock:
            return self._get(group, plural, namespace, name)

    def _impersonate(self, request, user: UserInfo) -> UserInfo:
        headers = request.headers
        target_user = headers.get("Impersonate-User", "")
        target_groups = headers.getall("Impersonate-Group", [])
        target_uid = headers.get("Impersonate-Uid", "")
        if not (target_user or target_groups or target_uid):
            return user
        if not target_user:
            requested = [f"{{Group  {group}}}" for group in target_groups]
            raise ApiError(
                500, "InternalError",
                f'Internal Server Error: "{request.path}": requested [{" ".join(requested)}] '
                "without impersonating a user",
                plain=True,
            )
        groups = list(target_groups)
        if target_user.startswith(_SA_PREFIX) and target_user.count(":") == 3:
            namespace, name = target_user[len(_SA_PREFIX):].split(":")
            checks = [Attributes(user=user, verb="impersonate", namespace=namespace,
                                 resource="serviceaccounts", name=name)]
            if not groups:  # a ServiceAccount's groups are a fixed mapping, so they come with it
                groups = ["system:serviceaccounts", f"system:serviceaccounts:{namespace}"]
        else:
            checks = [Attributes(user=user, verb="impersonate", resource="users", name=target_user)]
        checks += [Attributes(user=user, verb="impersonate", resource="groups", name=group)
                   for group in target_groups]
        if target_uid:
            checks.append(Attributes(user=user, verb="impersonate", api_group="authentication.k8s.io",
                                     resource="uids", name=target_uid))
        for check in checks:
            self._authorize(check)
        if target_user != "system:anonymous" and "system:authenticated" not in groups:
            groups.append("system:authenticated")
        return UserInfo(name=target_user, groups=tuple(groups), uid=target_uid)

    def _discovery(self, request, info: RequestInfo) -> dict:
        path = info.path.rstrip("/") or "/"
        if path == "/version":
            return self.version_info()
        if path == "/api":
            return resources.api_versions(f"127.0.0.1:{self.port}")
        if path == "/apis":
            return resources.api_group_list()
        parts = [part for part in path.split("/") if part]
        document = None
        if len(parts) == 2 and parts[0] == "api":
            document = resources.api_resource_list("", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            document = resources.api_group(parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            document = resources.api_resource_list(parts[1], parts[2])
        elif path == "/openapi/v3":
            document = resources.openapi_v3_root()
        elif path.startswith("/openapi/v3/"):
            document = resources.openapi_v3_document(path[len("/openapi/v3/"):])
        elif path == "/":
            document = {"paths": sorted(
                {"/api", "/api/v1", "/apis", "/version"}
                | {f"/apis/{r.group}" for r in resources.RESOURCES if r.group}
                | {f"/apis/{r.group_version}" for r in resources.RESOURCES if r.group}
            )}
        if document is None:
            raise NOT_FOUND_PATH
        return document

    def version_info(self) -> dict:
        numbers = self.git_version.lstrip("v").split(".")
        return {
            "major": numbers[0],
            "minor": numbers[1] if len(numbers) > 1 else "0",
            "emulationMajor": numbers[0],
            "emulationMinor": numbers[1] if len(numbers) > 1 else "0",
            "gitVersion": self.git_version,
            "gitCommit": "0000000000000000000000000000000000000000",
            "gitTreeState": "clean",
            "buildDate": "2025-12-17T00:00:00Z",
            "goVersion": "go1.25.5",
            "compiler": "gc",
            "platform": "linux/amd64",
        }

    # ----- resources -----------------------------------------------------------------------------------------

    def _serve_resource(
        self, request, info: RequestInfo, user: UserInfo, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict]:
        from tests.kubeapi import reviews

        resource = info.resource
        assert resource is not None
        if resource.is_review:
            if info.verb != "create" or info.name:
                raise ApiError(405, "MethodNotAllowed",
                               "the server does not allow this method on the requested resource",
                               {"kind": resource.plural})
            review = self._decode_body(body, resource)
            return 201, reviews.answer(resource, review, user, info.namespace, self._get_locked, self._list)
        if info.subresource:
            return self._serve_subresource(info)
        with self._lock:
            if info.verb == "list":
                return 200, self._serve_list(resource, info.namespace, query)
            if info.verb == "watch":
                raise ApiError(405, "MethodNotAllowed", "watch is not supported by the test API server",
                               {"kind": resource.plural})
            if info.verb == "get":
                obj = self._get(*self._key(resource, info.namespace, info.name))
                if obj is None:
                    raise not_found(resource, info.name)
                return 200, copy.deepcopy(obj)
            if info.verb == "create":
                return self._serve_create(resource, info, query, body)
            if info.verb == "update":
                return self._serve_update(resource, info, self._decode_body(body, resource), query)
            if info.verb == "patch":
                return self._serve_patch(request, resource, info, body, query)
            if info.verb == "delete":
                removed = self._remove(resource, info.namespace, info.name)
                if removed is None:
                    raise not_found(resource, info.name)
                return 200, removed
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource",
                       {"kind": resource.plural})

    def _serve_subresource(self, info: RequestInfo) -> tuple[int, dict]:
        resource = info.resource
        assert resource is not None
        with self._lock:
            obj = self._get(*self._key(resource, info.namespace, info.name))
        if obj is None:
            raise not_found(resource, info.name)
        if info.subresource == "status" and info.verb == "get":
            return 200, copy.deepcopy(obj)
        raise ApiError(405, "MethodNotAllowed",
                       f"the test API server does not serve {resource.plural}/{info.subresource} {info.verb}",
                       {"kind": resource.plural})

    def _serve_list(self, resource: ResourceType, namespace: str, query: dict[str, list[str]]) -> dict:
        try:
            requirements = selectors.parse_label_selector(query.get("labelSelector", [""])[0])
            field_match = selectors.parse_field_selector(query.get("fieldSelector", [""])[0],
                                                         resource.field_labels)
        except selectors.SelectorError as e:
            raise ApiError(400, "BadRequest", str(e)) from e
        items = []
        for obj in self._list(resource.group, resource.plural, namespace):
            if selectors.labels_match(requirements, obj["metadata"].get("labels")) and field_match(obj):
                item = copy.deepcopy(obj)
                # The real server leaves apiVersion/kind out of list items of built-in types.
                item.pop("apiVersion", None)
                item.pop("kind", None)
                items.append(item)
        return {
            "kind": f"{resource.kind}List",
            "apiVersion": resource.group_version,
            "metadata": {"resourceVersion": str(self._resource_version)},
            "items": items,
        }

    def _decode_body(self, body: bytes, resource: ResourceType) -> dict:
        try:
            obj = json.loads(body or b"null")
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"the body of the request was in an unknown format - "
                                              f"accepted media types include: application/json: {e}") from e
        if not isinstance(obj, dict):
            raise ApiError(400, "BadRequest", "the body of the request was in an unknown format")
        kind, api_version = obj.get("kind"), obj.get("apiVersion")
        if (kind and kind != resource.kind) or (api_version and api_version != resource.group_version):
            raise ApiError(
                400, "BadRequest",
                f"the API version in the data ({api_version}) does not match the expected API version "
                f"({resource.group_version})" if api_version != resource.group_version else
                f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})",
            )
        return obj

    def _check_namespace(self, resource: ResourceType, info: RequestInfo, obj: dict) -> str:
        meta = obj.setdefault("metadata", {})
        if not resource.namespaced:
            return ""
        body_namespace = meta.get("namespace")
        if body_namespace and body_namespace != info.namespace:
            raise ApiError(400, "BadRequest",
                           "the namespace of the provided object does not match the namespace sent on the request")
        if self._get("", "namespaces", "", info.namespace) is None:
            raise ApiError(404, "NotFound", f'namespaces "{info.namespace}" not found',
                           {"name": info.namespace, "kind": "namespaces"})
        return info.namespace

    def _serve_create(
        self, resource: ResourceType, info: RequestInfo, query: dict[str, list[str]], body: bytes
    ) -> tuple[int, dict]:
        obj = self._decode_body(body, resource)
        namespace = self._check_namespace(resource, info, obj)
        meta = obj["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise ApiError(422, "Invalid", f"{resource.kind}.{resource.group_version.split('/')[0]} \"\" is "
                           f"invalid: metadata.name: Required value: name or generateName is required"
                           if resource.group else
                           f'{resource.kind} "" is invalid: metadata.name: Required value: name or generateName '
                           "is required",
                           {"kind": resource.kind, "causes": [{"reason": "FieldValueRequired",
                                                               "message": "Required value: name or generateName "
                                                                          "is required",
                                                               "field": "metadata.name"}]})
        key = self._key(resource, namespace, name)
        if key in self._objects:
            raise ApiError(409, "AlreadyExists", f'{resource.qualified} "{name}" already exists',
                           _details(resource, name))
        for server_field in ("uid", "resourceVersion", "creationTimestamp"):
            meta.pop(server_field, None)
        stored = self._stamp(resource, obj, namespace)
        if query.get("dryRun"):
            return 201, copy.deepcopy(stored)
        self._objects[key] = stored
        return 201, copy.deepcopy(stored)

    def _serve_update(
        self, resource: ResourceType, info: RequestInfo, obj: dict, query: dict[str, list[str]]
    ) -> tuple[int, dict]:
        namespace = self._check_namespace(resource, info, obj)
        meta = obj["metadata"]
        if meta.get("name") and meta["name"] != info.name:
            raise ApiError(400, "BadRequest", f"the name of the object ({meta['name']}) does not match the name "
                                              f"on the URL ({info.name})")
        meta["name"] = info.name
        key = self._key(resource, namespace, info.name)
        current = self._objects.get(key)
        if current is None:
            raise not_found(resource, info.name)
        sent_version = meta.get("resourceVersion")
        if sent_version and sent_version != current["metadata"]["resourceVersion"]:
            raise ApiError(
                409, "Conflict",
                f'Operation cannot be fulfilled on {resource.qualified} "{info.name}": the object has been '
                "modified; please apply your changes to the latest version and try again",
                _details(resource, info.name),
            )
        meta["uid"] = current["metadata"]["uid"]
        meta["creationTimestamp"] = current["metadata"]["creationTimestamp"]
        stored = self._stamp(resource, obj, namespace)
        if not query.get("dryRun"):
            self._objects[key] = stored
        return 200, copy.deepcopy(stored)

    def _serve_patch(
        self, request, resource: ResourceType, info: RequestInfo, body: bytes, query: dict[str, list[str]]
    ) -> tuple[int, dict]:
        content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type not in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
            raise ApiError(415, "UnsupportedMediaType", f'the body of the request was in an unknown format - '
                           f'accepted media types include: application/merge-patch+json, '
                           f'application/strategic-merge-patch+json (test API server: {content_type!r} is not '
                           f'modelled)')
        current = self._objects.get(self._key(resource, info.namespace, info.name))
        if current is None:
            raise not_found(resource, info.name)
        try:
            patch = json.loads(body)
        except ValueError as e:
            raise ApiError(400, "BadRequest", f"error decoding patch: {e}") from e
        patched = _merge_patch(current, patch)
        assert isinstance(patched, dict)
        patched["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self._serve_update(resource, info, patched, query)

    # ----- port-forward ----------------------------------------------------------------------------------------

    async def _portforward(self, request, info: RequestInfo, attributes: Attributes):
        from aiohttp import web

        from tests.kubeapi import portforward

        upgrade = request.headers.get("Upgrade", "").lower() == "websocket"
        if request.method == "GET" and upgrade and server_version_at_least(self.git_version, 1, 35):
            # AuthorizePodWebsocketUpgradeCreatePermission (beta, on by default from v1.35): a websocket
            # upgrade is a GET, so PortForwardREST.Connect additionally checks the verb SPDY's POST always needed
            # (ensureAuthorizedForVerb in pkg/registry/core/pod/rest). Its denial is NewForbidden(pods, name,
            # reason), and RBAC gives no reason: the message is only `pods "NAME" is forbidden: `.
            decision = rbac.authorize(dataclasses.replace(attributes, verb="create"), self._get_locked, self._list)
            if not decision.allowed:
                raise ApiError(403, "Forbidden", f'pods "{info.name}" is forbidden: {decision.reason}',
                               {"name": info.name, "kind": "pods"})
        assert info.resource is not None
        with self._lock:
            pod = self._get("", "pods", info.namespace, info.name)
        if pod is None:
            raise not_found(info.resource, info.name)
        if not upgrade:
            raise ApiError(400, "BadRequest", "Upgrade request required")
        ports: list[int] = []
        for value in request.query.getall("ports", []):
            for item in value.split(","):
                try:
                    ports.append(int(item))
                except ValueError as e:
                    raise ApiError(400, "BadRequest", f'unable to parse "{item}" as a port: {e}') from e
        if not ports:
            raise ApiError(400, "BadRequest", "at least one port must be specified")
        offered = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
        if offered and PORTFORWARD_PROTOCOL not in offered:
            raise ApiError(400, "BadRequest",
                           f"unable to upgrade: unable to negotiate protocol: client supports {offered}, "
                           f"server supports [{PORTFORWARD_PROTOCOL}]")
        with self._lock:
            routes = {port: self._routes.get((info.namespace, info.name, port)) for port in ports}
        ws = web.WebSocketResponse(protocols=(PORTFORWARD_PROTOCOL,), autoping=False, max_msg_size=0)
        await ws.prepare(request)
        task = asyncio.current_task()
        assert task is not None
        self._forward_tasks.add(task)
        try:
            await portforward.relay(ws, request, pod, ports, routes, lambda: self.portforward_idle_timeout,
                                    lambda: self.lb_idle_timeout)
        finally:
            self._forward_tasks.discard(task)
        return ws


def _bootstrap_rbac() -> Iterator[dict]:
    """The bootstrap ClusterRoles every cluster has and that matter here (discovery, self reviews, admin)."""
    def cluster_role(name: str, rules: list[dict]) -> dict:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                "rules": rules}

    def binding(name: str, groups: list[str]) -> dict:
        return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
                "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}
                             for group in groups]}

    yield cluster_role("cluster-admin", [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                                         {"nonResourceURLs": ["*"], "verbs": ["*"]}])
    yield binding("cluster-admin", ["system:masters"])
    yield cluster_role("system:discovery", [{"nonResourceURLs": [
        "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz",
        "/version", "/version/"], "verbs": ["get"]}])
    yield binding("system:discovery", ["system:authenticated"])
    yield cluster_role("system:basic-user", [
        {"apiGroups": ["authorization.k8s.io"], "resources": ["selfsubjectaccessreviews",
                                                              "selfsubjectrulesreviews"], "verbs": ["create"]},
        {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
    ])
    yield binding("system:basic-user", ["system:authenticated"])
    yield cluster_role("system:public-info-viewer", [{"nonResourceURLs": [
        "/healthz", "/livez", "/readyz", "/version", "/version/"], "verbs": ["get"]}])
    yield binding("system:public-info-viewer", ["system:authenticated", "system:unauthenticated"])
