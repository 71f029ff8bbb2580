"""LangChain's cache through a real TLS memcached (-Z), with certificates made here."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import MemcachedCache

_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, and a server certificate it signed for IP:127.0.0.1 and DNS:localhost."""
    directory = tmp_path_factory.mktemp("tls")
    _openssl(directory, "req", "-x509", *_EC, "-keyout", "ca.key", "-out", "ca.pem",
             "-days", "2", "-subj", "/CN=llmcache-test-ca")
    (directory / "server.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    _openssl(directory, "req", *_EC, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=localhost")
    _openssl(directory, "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "server.ext")
    return directory


@pytest.fixture
def tls_memcached(memcached_factory, certs: Path):
    return memcached_factory(
        "-Z", "-o", f"ssl_chain_cert={certs / 'server.pem'},ssl_key={certs / 'server.key'}"
    )


def test_langchain_cache_over_verified_tls(tls_memcached, certs: Path) -> None:
    cache = MemcachedCache(tls_memcached.spec, tls=True, tls_ca_file=str(certs / "ca.pem"),
                           strict=True)
    assert cache.lookup("prompt", "llm") is None
    cache.update("prompt", "llm", [Generation(text="over tls")])
    assert cache.lookup("prompt", "llm") == [Generation(text="over tls")]
    assert cache.stats()["io_errors"] == 0


async def test_async_langchain_cache_over_tls(tls_memcached, certs: Path) -> None:
    cache = MemcachedCache([tls_memcached.spec], tls=True, tls_ca_file=str(certs / "ca.pem"))
    await cache.aupdate("p", "l", [Generation(text="async")])
    assert await cache.alookup("p", "l") == [Generation(text="async")]


def test_untrusted_server_is_a_miss_and_the_client_says_why(tls_memcached) -> None:
    # Default verification: the system's trust store does not know the test CA.
    cache = MemcachedCache(tls_memcached.spec, tls=True)
    assert cache.lookup("prompt", "llm") is None
    assert cache.stats()["io_errors"] == 1
    client = langchain_memcached.Client(tls_memcached.spec, tls=True)
    with pytest.raises(langchain_memcached.IoError, match="certificate could not be verified"):
        client.get("k")


def test_tls_options_need_tls_and_readable_files(tls_memcached, certs: Path) -> None:
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="TLS is off"):
        langchain_memcached.Client(tls_memcached.spec, tls_ca_file=str(certs / "ca.pem"))
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="cannot read"):
        langchain_memcached.Client(tls_memcached.spec, tls=True, tls_ca_file=str(certs / "missing.pem"))
    with pytest.raises(ValueError, match="client options"):
        MemcachedCache(langchain_memcached.Client(tls_memcached.spec, tls=True, tls_verify=False), tls=True)


def test_auth_over_tls_with_hash_client(memcached_factory, certs: Path) -> None:
    authfile = certs / "authfile"
    authfile.write_text("alice:secret\n")
    pem, key = certs / "server.pem", certs / "server.key"
    tls_args = ("-Z", "-o", f"ssl_chain_cert={pem},ssl_key={key}")
    servers = [memcached_factory(*tls_args, "-Y", str(authfile)) for _ in range(2)]
    options = {"tls": True, "tls_ca_file": str(certs / "ca.pem"), "username": "alice"}
    client = langchain_memcached.HashClient([s.spec for s in servers], password="secret", **options)
    assert client.set("k", b"v")
    assert client.get("k") == b"v"
    wrong = langchain_memcached.Client(servers[0].spec, password="nope", **options)
    with pytest.raises(langchain_memcached.IoError, match="authentication failed"):
        wrong.get("k")


def test_pymemcache_client_with_tls_context_is_refused_not_downgraded() -> None:
    import ssl

    from pymemcache.client.base import Client as PymemcacheClient

    tls_client = PymemcacheClient(("127.0.0.1", 1), tls_context=ssl.create_default_context())
    with pytest.raises(ValueError, match="tls=True"):
        MemcachedCache(tls_client)
