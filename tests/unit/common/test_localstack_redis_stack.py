"""The stack's Redis is redis-stack-server from the lock's wheel with only the search and JSON modules, on the
configured host and port with its append-only file; a Redis without the search module is not healthy."""

import socket
import threading
from pathlib import Path

from twin_localstack.paths import StackPaths
from twin_localstack.redis_stack import RedisStack, redis_stack_home
from twin_localstack.registry import all_components


def test_redis_component_is_redis_stack_with_search_and_json_only(tmp_path):
    paths = StackPaths(home=tmp_path / "home", cache=tmp_path / "cache")
    (redis,) = [c for c in all_components(paths) if c.name == "redis"]
    assert isinstance(redis, RedisStack)
    argv = redis.argv()
    assert Path(argv[0]) == redis_stack_home() / "bin" / "redis-server" and Path(argv[0]).exists()
    modules = [Path(argv[i + 1]).name for i, a in enumerate(argv) if a == "--loadmodule"]
    assert modules == ["redisearch.so", "rejson.so"]
    assert argv[argv.index("--bind") + 1] == "127.0.0.1" and argv[argv.index("--appendonly") + 1] == "yes"
    assert argv[argv.index("--dir") + 1] == str(paths.data / "redis")


def test_a_plain_redis_answering_ping_is_not_healthy(tmp_path):
    """A server that answers PING but refuses FT._LIST (Debian's redis-server 7.0) must be replaced, not used."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    port = server.getsockname()[1]

    def serve():
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                request = conn.recv(256)
                conn.sendall(b"+PONG\r\n" if b"PING" in request else b"-ERR unknown command 'FT._LIST'\r\n")

    threading.Thread(target=serve, daemon=True).start()
    redis = RedisStack(StackPaths(home=tmp_path / "home", cache=tmp_path / "cache"))
    redis.host, redis.port = "127.0.0.1", port
    assert redis.answers() and not redis.healthy()
    server.close()
