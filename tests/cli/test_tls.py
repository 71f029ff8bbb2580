"""TLS and auth options of the command against a real memcached -Z -Y."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import LLM, PROMPT, Memcached, run

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def test_put_and_get_over_tls_with_auth(tmp_path: Path):
    _openssl(tmp_path, "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=llmcache-test-ca")
    (tmp_path / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(tmp_path, "req", *_EC, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost")
    _openssl(tmp_path, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext")
    (tmp_path / "authfile").write_text("alice:secret\n")
    (tmp_path / "password").write_text("secret\n")
    server = Memcached("-Z", "-o", f"ssl_chain_cert={tmp_path / 'server.pem'},"
                       f"ssl_key={tmp_path / 'server.key'}", "-Y", str(tmp_path / "authfile"))
    try:
        tls = ["--tls", "--tls-ca-file", str(tmp_path / "ca.pem"), "--username", "alice"]
        put = run(*tls, "put", PROMPT, LLM, "over tls", servers=[server],
                  env={"MEMCACHED_PASSWORD": "secret"})
        assert put.returncode == 0, put.stderr
        got = run(*tls, "--password-file", str(tmp_path / "password"), "get", PROMPT, LLM,
                  servers=[server])
        assert got.returncode == 0, got.stderr
        assert "over tls" in got.stdout

        wrong = run(*tls, "get", PROMPT, LLM, servers=[server],
                    env={"MEMCACHED_PASSWORD": "nope"})
        assert wrong.returncode == 3
        assert "authentication failed" in wrong.stderr
        assert "--password-file" in wrong.stderr  # the hint says what to check

        untrusted = run("--tls", "--username", "alice", "get", PROMPT, LLM, servers=[server],
                        env={"MEMCACHED_PASSWORD": "secret"})
        assert untrusted.returncode == 3
        assert "certificate could not be verified" in untrusted.stderr
        assert "--tls-ca-file" in untrusted.stderr  # the hint says what to do
        untrusted_json = json.loads(run("--json", "--tls", "get", PROMPT, LLM,
                                        servers=[server]).stderr)
        assert untrusted_json["reason"] == "certificate_unverified"
        assert untrusted_json["server"] == server.spec

        anonymous = run("--tls", "--tls-ca-file", str(tmp_path / "ca.pem"), "get", PROMPT, LLM,
                        servers=[server])
        assert anonymous.returncode == 3
        assert "requires authentication" in anonymous.stderr and "--username" in anonymous.stderr

        no_password = run(*tls, "get", PROMPT, LLM, servers=[server])
        assert no_password.returncode == 2
        assert "MEMCACHED_PASSWORD" in no_password.stderr
        assert run("--tls-no-verify", "get", PROMPT, LLM, servers=[server]).returncode == 2
    finally:
        server.kill()
