from chat.transports.websocket.throttle import TokenBucket


def test_a_burst_passes_then_the_rate_holds() -> None:
    bucket = TokenBucket(rate=2, burst=3)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.take(0.4) is False  # 0.8 of a token
    assert bucket.take(0.5) is True  # one token after half a second
    assert bucket.take(0.5) is False


def test_a_quiet_socket_gets_its_burst_back_but_no_more() -> None:
    bucket = TokenBucket(rate=2, burst=3)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.take(100.0) is True
    assert [bucket.take(100.0) for _ in range(3)] == [True, True, False]
