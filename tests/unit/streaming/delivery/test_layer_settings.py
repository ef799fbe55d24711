"""REDIS_URL as the channel layer's hosts (one server, or several to shard over)."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.settings import redis_channel_layer


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
