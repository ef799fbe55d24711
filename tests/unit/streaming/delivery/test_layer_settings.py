"""REDIS_URL as the channel layer's hosts (one server, or several to shard over), or
REDIS_SENTINELS and REDIS_SENTINEL_MASTER (the primaries the sentinels name)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.settings import redis_channel_layer, redis_sentinel_hosts, sentinel_address


@pytest.mark.parametrize("backend", ["pubsub", "core"])
def test_several_urls_become_several_hosts_in_order_with_the_timeouts(backend: str) -> None:
    config = redis_channel_layer("redis://a:6379/0, redis://b:6380/0", backend)
    hosts = config["CONFIG"]["hosts"]
    assert [host["address"] for host in hosts] == ["redis://a:6379/0", "redis://b:6380/0"]
    assert all(host["socket_connect_timeout"] and host["socket_timeout"] for host in hosts)


def test_one_url_is_one_host() -> None:
    hosts = redis_channel_layer("redis://a:6379/0", "pubsub")["CONFIG"]["hosts"]
    assert [host["address"] for host in hosts] == ["redis://a:6379/0"]


def test_an_empty_entry_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured):
        redis_channel_layer("redis://a:6379/0,,redis://b:6379/0", "pubsub")


# --- Redis Sentinel (REDIS_SENTINELS, REDIS_SENTINEL_MASTER) ----------------------------


@pytest.mark.parametrize("backend", ["pubsub", "core"])
def test_sentinels_become_one_sentinel_host_per_master_name(backend: str) -> None:
    config = redis_channel_layer(
        "", backend, sentinels="s1:26379, s2:26380,s3", sentinel_master="one,two"
    )
    hosts = config["CONFIG"]["hosts"]
    assert [host["master_name"] for host in hosts] == ["one", "two"]
    for host in hosts:
        assert host["sentinels"] == [("s1", 26379), ("s2", 26380), ("s3", 26379)]
        assert "address" not in host and host["socket_timeout"] and host["socket_connect_timeout"]
        # a sentinel answers at once: one that does not is skipped after the connect timeout
        kwargs = host["sentinel_kwargs"]
        assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"]


def test_the_passwords_go_to_the_primaries_and_to_the_sentinels() -> None:
    [host] = redis_sentinel_hosts(
        "s1:26379", "main", 1.0, 6.0, password="data-pw", sentinel_password="sentinel-pw"
    )
    assert host["password"] == "data-pw" and host["sentinel_kwargs"]["password"] == "sentinel-pw"
    [bare] = redis_sentinel_hosts("s1:26379", "main", 1.0, 6.0)
    assert "password" not in bare and "password" not in bare["sentinel_kwargs"]


@pytest.mark.parametrize(
    ("entry", "address"),
    [("s1:26379", ("s1", 26379)), ("s1", ("s1", 26379)), ("[::1]:5000", ("::1", 5000))],
)
def test_a_sentinel_address(entry: str, address: tuple[str, int]) -> None:
    assert sentinel_address(entry) == address


@pytest.mark.parametrize(
    ("url", "sentinels", "master", "says"),
    [
        ("redis://a:6379/0", "s1:26379", "main", "not both"),
        ("", "s1:26379", "", "REDIS_SENTINEL_MASTER"),
        ("", "s1:26379", "main,", "REDIS_SENTINEL_MASTER"),
        ("", "s1:26379,,s2:26379", "main", "REDIS_SENTINELS"),
        ("", "s1:port", "main", "REDIS_SENTINELS"),
        ("", "s1:70000", "main", "REDIS_SENTINELS"),
    ],
)
def test_a_bad_sentinel_configuration_is_refused_clearly(
    url: str, sentinels: str, master: str, says: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=says):
        redis_channel_layer(url, "pubsub", sentinels=sentinels, sentinel_master=master)
