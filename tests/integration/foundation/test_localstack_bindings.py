"""The backing servers listen where the stack says, and only on 127.0.0.1."""

from twin_localstack.ports import exposed


def test_servers_listen_on_their_ports_and_on_loopback_only(local_stack):
    sockets = local_stack.listening_sockets(groups=["servers"])
    listening = {s.port for s in sockets}
    for component in local_stack.select(groups=["servers"]):
        assert {port for _, port in component.ports()} <= listening, component.name
    assert exposed(sockets) == [], "\n".join(map(str, exposed(sockets)))
