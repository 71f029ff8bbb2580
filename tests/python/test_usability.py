"""What a user meets first when something is slightly wrong: the type errors of the public
API, the exception names `import *` brings in, what a timeout is caught as, which names
TLS errors use, which warnings our calls raise and what the log says once the server is
gone. Real memcached throughout."""

from __future__ import annotations

import builtins
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from langchain_core.outputs import Generation

import langchain_memcached
from langchain_memcached import Client, HashClient, MemcachedCache


# ---------------------------------------------------------------- LangChain's beta warning

@pytest.mark.parametrize("langchain_exempts_us", [True, False])
def test_chat_lookups_raise_no_warning_of_ours(memcached, langchain_exempts_us):
    # LangChain skips its beta warning for callers whose module name starts with
    # "langchain", which today happens to include langchain_memcached; the second case
    # is a LangChain that checks its own modules only, where nothing but our explicit
    # silencing keeps users' warning filters from firing on a chat lookup.
    # A fresh interpreter: the warning fires only on the first unsilenced call per process.
    script = textwrap.dedent(f"""
        import warnings
        from langchain_core._api import beta_decorator
        from langchain_core.messages import AIMessage
        from langchain_core.outputs import ChatGeneration
        from langchain_memcached import MemcachedCache

        if not {langchain_exempts_us!r}:
            beta_decorator.is_caller_internal = lambda *args, **kwargs: False
        warnings.simplefilter("error")  # as a user who turns warnings into errors
        cache = MemcachedCache({memcached.spec!r})
        cache.update("p", "l", [ChatGeneration(message=AIMessage(content="hi"))])
        for _ in range(2):
            hit = cache.lookup("p", "l")
            assert hit is not None and hit[0].message.content == "hi", cache.stats()
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


# ---------------------------------------------------------------- exceptions

def test_import_star_does_not_shadow_builtin_timeout_error():
    namespace: dict = {}
    exec("from langchain_memcached import *", namespace)
    assert "TimeoutError" not in namespace
    assert "MemcachedCache" in namespace and "IoError" in namespace
    assert issubclass(langchain_memcached.TimeoutError, langchain_memcached.IoError)
    assert issubclass(langchain_memcached.TimeoutError, builtins.TimeoutError)


def test_a_timeout_is_caught_as_the_builtin_timeout_error(memcached):
    client = Client(memcached.spec, timeout=0.2, connect_timeout=0.2)
    client.set("k", "v")
    memcached.pause()  # up, but not answering
    try:
        with pytest.raises(builtins.TimeoutError) as caught:
            client.get("k")
    finally:
        memcached.resume()
    assert isinstance(caught.value, langchain_memcached.TimeoutError)
    assert str(caught.value)  # the library's message, as before


async def test_an_async_timeout_is_caught_as_the_builtin_timeout_error(memcached):
    client = Client(memcached.spec, timeout=0.2, connect_timeout=0.2)
    await client.aset("k", "v")
    memcached.pause()
    try:
        with pytest.raises(builtins.TimeoutError) as caught:
            await client.aget("k")
    finally:
        memcached.resume()
    assert isinstance(caught.value, langchain_memcached.TimeoutError)


# ---------------------------------------------------------------- wrong types

@pytest.mark.parametrize(("prompt", "llm_string", "named"), [
    (None, "l", "prompt"), ("p", None, "llm_string"), (1, "l", "prompt"), ("p", 2.5, "llm_string"),
])
async def test_wrong_prompt_types_are_a_clear_type_error(memcached, prompt, llm_string, named):
    cache = MemcachedCache(memcached.spec)
    calls = [
        lambda: cache.lookup(prompt, llm_string),
        lambda: cache.update(prompt, llm_string, [Generation(text="x")]),
        lambda: langchain_memcached.langchain_key(prompt, llm_string),
    ]
    for call in calls:
        with pytest.raises(TypeError, match=f"^{named} must be str or bytes, not "):
            call()
    with pytest.raises(TypeError, match=f"^{named} must be str or bytes"):
        await cache.alookup(prompt, llm_string)
    with pytest.raises(TypeError, match=f"^{named} must be str or bytes"):
        await cache.aupdate(prompt, llm_string, [Generation(text="x")])


@pytest.mark.parametrize(("call", "named"), [
    (lambda c: c.get(None), "key"),
    (lambda c: c.set(None, "v"), "key"),
    (lambda c: c.set("k", None), "value"),
    (lambda c: c.delete(None), "key"),
    (lambda c: c.get_many(["k", None]), "key"),
])
def test_wrong_key_and_value_types_are_a_clear_type_error(memcached, call, named):
    with pytest.raises(TypeError, match=f"^{named} must be str or bytes, not NoneType"):
        call(Client(memcached.spec))


@pytest.mark.parametrize(("keywords", "named"), [
    ({"tls": 1}, "tls"),
    ({"tls": "yes"}, "tls"),
    ({"tls": True, "tls_verify": 0}, "tls_verify"),
    ({"tls": True, "tls_ca_file": 5}, "tls_ca_file"),
    ({"tls": True, "tls_cert_file": b"/cert.pem"}, "tls_cert_file"),
    ({"tls": True, "tls_cert_file": "/c.pem", "tls_key_file": 5}, "tls_key_file"),
    ({"tls": True, "tls_server_name": 5}, "tls_server_name"),
    ({"username": 5, "password": "p"}, "username"),
    ({"username": "u", "password": b"p"}, "password"),
    ({"timeout": None}, "timeout"),
    ({"connect_timeout": "1"}, "connect_timeout"),
    ({"connections": 1.5}, "connections"),
    ({"max_value_bytes": True}, "max_value_bytes"),
    ({"blocking_spin": "0"}, "blocking_spin"),
])
def test_wrongly_typed_keywords_are_a_type_error_naming_the_keyword(memcached, keywords, named):
    for make in (lambda: Client(memcached.spec, **keywords),
                 lambda: HashClient([memcached.spec], **keywords),
                 lambda: MemcachedCache(memcached.spec, **keywords)):
        with pytest.raises(TypeError, match=f"^{named} must be "):
            make()


def test_blocking_spin_takes_seconds_from_zero_to_one(memcached):
    # 0 never spins before sleeping in poll(); whatever the spin, lookups read the same.
    for spin in (0, 0.0001, 1):
        for cache in (MemcachedCache(memcached.spec, blocking_spin=spin),
                      MemcachedCache([memcached.spec], blocking_spin=spin)):
            cache.update("p", "l", [Generation(text=f"spin {spin}")])
            assert cache.lookup("p", "l") == [Generation(text=f"spin {spin}")]
    for spin in (-0.000001, 1.5, float("nan")):
        with pytest.raises(langchain_memcached.InvalidArgumentError, match="blocking_spin"):
            Client(memcached.spec, blocking_spin=spin)
        with pytest.raises(langchain_memcached.InvalidArgumentError, match="blocking_spin"):
            HashClient([memcached.spec], blocking_spin=spin)


def test_wrongly_typed_servers_are_a_type_error(memcached):
    with pytest.raises(TypeError, match="^server must be"):
        Client(None)
    with pytest.raises(TypeError, match=r"^servers\[1\] must be"):
        HashClient([memcached.spec, 11211])
    with pytest.raises(TypeError, match="^retry_attempts must be an int"):
        HashClient([memcached.spec], retry_attempts=None)
    with pytest.raises(TypeError, match="^dead_timeout must be a number"):
        HashClient([memcached.spec], dead_timeout="60")


def test_a_path_object_is_a_file_keyword(memcached, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    with pytest.raises(langchain_memcached.InvalidArgumentError, match=str(missing)):
        Client(memcached.spec, tls=True, tls_ca_file=Path(missing))


# ---------------------------------------------------------------- TLS messages name keywords

def test_tls_errors_name_the_python_keywords(memcached, tmp_path):
    missing = str(tmp_path / "no-such-ca.pem")
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="tls_ca_file") as e:
        Client(memcached.spec, tls=True, tls_ca_file=missing)
    assert "cannot read" in str(e.value)
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="TLS is off") as e:
        Client(memcached.spec, tls_server_name="cache.example.com")
    assert "tls_server_name" in str(e.value) and "tls=True" in str(e.value)
    with pytest.raises(langchain_memcached.InvalidArgumentError, match="tls_key_file") as e:
        Client(memcached.spec, tls=True, tls_key_file=missing)
    assert "tls_cert_file" in str(e.value)


# ---------------------------------------------------------------- logging once per cause

def test_a_failing_update_is_logged_even_after_a_failing_lookup(memcached, caplog):
    cache = MemcachedCache(memcached.spec)
    cache.update("p", "l", [Generation(text="x")])
    memcached.kill()
    with caplog.at_level(logging.WARNING, logger="langchain_memcached"):
        for _ in range(3):
            assert cache.lookup("p", "l") is None
            cache.update("p", "l", [Generation(text="y")])  # not stored: the user must hear it
    messages = [r.getMessage() for r in caplog.records if r.name == "langchain_memcached"]
    assert len(messages) == 2  # once per operation and cause, not once per call
    assert messages[0].startswith("llmcache lookup failed")
    assert messages[1].startswith("llmcache update failed")
    assert cache.stats()["update_failures"] == 3
