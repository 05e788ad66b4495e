"""Malformed kubeconfigs: each known bad shape exits 2 with one line naming the file and the field; and a fuzz test
over kubeconfig shapes: whatever the shape, a project exit code, one ``error:`` line and a ``hint:``, never a
traceback, never the token."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kubectl_rollouts_profile.cli import main
from tests.clitools import files_in, run_plugin
from tests.netfaults import refused_port

SECRET = "fuzz-secret-7f3a9c41"
SERVER = f"https://127.0.0.1:{refused_port()}"  # nothing listens: a well-formed config ends in exit 7 at once
CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nnot really\n-----END CERTIFICATE-----\n").decode()


def good_config() -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": SERVER, "certificate-authority-data": CA_DATA}}],
        "users": [{"name": "u", "user": {"token": SECRET}}],
        "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
        "current-context": "x",
    }


def _user_as_string(config: dict) -> None:
    config["users"][0]["user"] = SECRET


def _non_latin1_token(config: dict) -> None:
    config["users"][0]["user"]["token"] = SECRET + "\u20ac"


def _token_with_inner_newline(config: dict) -> None:
    config["users"][0]["user"]["token"] = SECRET + "\nsecond-line"


def _clusters_of_strings(config: dict) -> None:
    config["clusters"] = ["c"]


def _no_server(config: dict) -> None:
    del config["clusters"][0]["cluster"]["server"]


def _bad_ca_base64(config: dict) -> None:
    config["clusters"][0]["cluster"]["certificate-authority-data"] = "%%% not base64 %%%"


def _token_a_number(config: dict) -> None:
    config["users"][0]["user"]["token"] = 12345


@pytest.mark.parametrize("breakage, field", [
    (_user_as_string, "users[name=u].user"),
    (_non_latin1_token, "users[name=u].user.token"),
    (_token_with_inner_newline, "users[name=u].user.token"),
    (_clusters_of_strings, "clusters[0]"),
    (_no_server, "server"),
    (_bad_ca_base64, "clusters[name=c].cluster.certificate-authority-data"),
    (_token_a_number, "users[name=u].user.token"),
])
def test_malformed_kubeconfig_is_exit_2_naming_file_and_field(tmp_path: Path, breakage, field: str) -> None:
    config = good_config()
    breakage(config)
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(config))
    out = tmp_path / "out"
    out.mkdir()
    result = run_plugin("heap", "--kubeconfig", str(kubeconfig), "--output-dir", str(out), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and str(kubeconfig) in errors[0] and field in errors[0], result.stderr
    assert "hint: " in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
    assert files_in(out) == []


@pytest.mark.parametrize("content", [b"\xff\xfe not utf-8", b"clusters: [\n  - name: c\n    cluster: {server: " +
                                     SECRET.encode() + b"\n", b"- just\n- a list\n"])
def test_kubeconfig_that_is_not_a_yaml_mapping_is_exit_2(tmp_path: Path, content: bytes) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_bytes(content)
    result = run_plugin("heap", "--kubeconfig", str(kubeconfig), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert str(kubeconfig) in result.stderr and "Traceback" not in result.stderr
    assert SECRET not in result.stderr


# --- the fuzz test ----------------------------------------------------------------------------------------------

# Odd values of every type; dictionary keys are fixed so that no real auth provider (gcp, oidc...) is ever named.
ODD = st.one_of(
    st.none(), st.integers(), st.booleans(), st.floats(allow_nan=False), st.text(max_size=6),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.sampled_from(["x", "y"]), st.integers(), max_size=2),
)
DELETE = object()
CREDENTIAL_FIELDS = {("token",), ("password",), ("user",), ("users",)}
# Values that are right somewhere and wrong elsewhere. Servers are loopback only (or broken): a fuzz case must
# never reach out to the network; the exec command does not exist; the auth provider is no real one.
SPECIAL = st.sampled_from([
    SECRET, SECRET + "\n", f"  {SECRET} \r\n", SECRET + "\u00e9", SECRET + "\u20ac", SECRET + "\x00",
    SECRET + "\nmore", "", "a", "c", "x", "u", SERVER, "https://127.0.0.1:0", "http://127.0.0.1", CA_DATA,
    "not base64!", "QUJ", "/nonexistent/file",
    {"apiVersion": "client.authentication.k8s.io/v1", "command": "/nonexistent/credential-helper"},
    {"name": "no-such-provider", "config": {"access-token": SECRET}},
    [], {}, DELETE,
])
_ENTRY = {"clusters": ("cluster", ["server", "certificate-authority-data", "certificate-authority",
                                   "insecure-skip-tls-verify", "proxy-url", "tls-server-name"]),
          "users": ("user", ["token", "tokenFile", "username", "password", "client-certificate-data",
                             "client-key-data", "exec", "auth-provider"]),
          "contexts": ("context", ["cluster", "user", "namespace"])}
PATHS: list[tuple] = [(), ("current-context",), ("apiVersion",)]
for _section, (_inner, _fields) in _ENTRY.items():
    PATHS += [(_section,), (_section, 0), (_section, 0, "name"), (_section, 0, _inner)]
    PATHS += [(_section, 0, _inner, _field) for _field in _fields]


def _mutated(config: dict, mutations: list[tuple[tuple, object]], token_file: str) -> object:
    document: object = config
    for path, value in mutations:
        if value == "/nonexistent/file" and path[-1:] == ("tokenFile",):
            value = token_file  # the token file that ends in a newline, sometimes
        if isinstance(value, str) and SECRET in value and path[-1:] not in CREDENTIAL_FIELDS:
            value = value.replace(SECRET, "plain-name")  # names may be echoed; only credentials must never be
        if not path:
            document = None if value is DELETE else value
            continue
        parent = document
        for key in path[:-1]:
            if isinstance(parent, dict) and isinstance(key, str) and key in parent:
                parent = parent[key]
            elif isinstance(parent, list) and isinstance(key, int) and key < len(parent):
                parent = parent[key]
            else:
                parent = None
                break
        last = path[-1]
        if isinstance(parent, dict) and isinstance(last, str):
            if value is DELETE:
                parent.pop(last, None)
            else:
                parent[last] = value
        elif isinstance(parent, list) and isinstance(last, int) and last < len(parent):
            if value is DELETE:
                del parent[last]
            else:
                parent[last] = value
    return document


def kubeconfig_shapes(token_file: str) -> st.SearchStrategy:
    """A well-formed kubeconfig with zero to four fields replaced by odd values or deleted: near-valid shapes,
    which is where a loader's assumptions break."""
    mutation = st.tuples(st.sampled_from(PATHS), st.one_of(SPECIAL, ODD))
    return st.lists(mutation, max_size=4).map(lambda mutations: _mutated(good_config(), mutations, token_file))


TOKEN_FILE = "/token-file-ending-in-a-newline"  # replaced by the real path in the test


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("kubeconfig-fuzz")
    (directory / "token").write_text(SECRET + "\n")
    (directory / "out").mkdir()
    return directory


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shape=kubeconfig_shapes(TOKEN_FILE))
def test_any_kubeconfig_shape_gets_a_project_exit_code_and_one_line(fuzz_dir: Path, shape: object) -> None:
    kubeconfig = fuzz_dir / "kubeconfig"
    kubeconfig.write_text(json.dumps(shape).replace(TOKEN_FILE, str(fuzz_dir / "token")))
    out = fuzz_dir / "out"
    result = CliRunner().invoke(
        main, ["heap", "--kubeconfig", str(kubeconfig), "--request-timeout", "0.5s", "--output-dir", str(out)]
    )
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (2, 3, 4, 7), (result.exit_code, result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    assert "hint: " in result.stderr
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr and SECRET not in result.stdout
    assert files_in(out) == []
