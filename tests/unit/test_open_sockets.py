"""Counting open websockets for their limits: exact whichever way a socket ends."""

from __future__ import annotations

from api.open_sockets import OpenSockets


def sockets(awaiting: int = 2, per_key: int = 2) -> OpenSockets[str]:
    return OpenSockets(max_awaiting_init=awaiting, max_per_key=per_key)


def test_at_most_the_cap_await_connection_init_and_an_authenticated_socket_leaves_them() -> None:
    open_sockets = sockets()
    assert open_sockets.admit("a")
    assert open_sockets.admit("b")
    assert not open_sockets.admit("c")

    assert open_sockets.authenticated("a", "key")

    assert open_sockets.awaiting_init == 1
    assert open_sockets.admit("c")


def test_a_key_holds_at_most_its_cap_and_a_refused_socket_still_awaits() -> None:
    open_sockets = sockets(awaiting=10)
    for name in "abc":
        assert open_sockets.admit(name)
    assert open_sockets.authenticated("a", "key")
    assert open_sockets.authenticated("b", "key")

    assert not open_sockets.authenticated("c", "key")

    assert open_sockets.awaiting_init == 1
    assert sorted(open_sockets.of_key("key")) == ["a", "b"]
    assert open_sockets.authenticated("c", "other")


def test_releasing_frees_the_place_once_however_often_it_is_called() -> None:
    open_sockets = sockets(awaiting=1, per_key=1)
    assert open_sockets.admit("a")
    assert open_sockets.authenticated("a", "key")
    open_sockets.release("a")
    open_sockets.release("a")
    open_sockets.release("never admitted")

    assert open_sockets.of_key("key") == []
    assert open_sockets.one_per_key() == []
    assert open_sockets.admit("b")
    assert not open_sockets.admit("c")
    assert open_sockets.authenticated("b", "key")


def test_a_socket_authenticated_again_moves_to_its_new_key() -> None:
    open_sockets = sockets(per_key=1)
    assert open_sockets.admit("a")
    assert open_sockets.authenticated("a", "key")
    assert open_sockets.authenticated("a", "key")  # the same key again: still one place

    assert open_sockets.authenticated("a", "other")

    assert open_sockets.one_per_key() == [("other", "a")]
