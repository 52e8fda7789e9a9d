"""The Debezium connector config carries the topic contract and the low-latency settings."""

import httpx
import pytest
from twin_cdc import connector
from twin_common.topics import CDC_DOCUMENTS, CDC_TOPIC_PREFIX


def test_defaults_give_the_shared_topic_names():
    config = connector.connector_config(database="twin")
    assert config["topic.prefix"] == CDC_TOPIC_PREFIX
    assert f"{config['topic.prefix']}.public.documents" == CDC_DOCUMENTS
    assert config["table.include.list"] == "public.tenants,public.authors,public.documents"
    assert config["plugin.name"] == "pgoutput" and config["publication.autocreate.mode"] == "filtered"
    assert config["snapshot.mode"] == "initial" and config["tombstones.on.delete"] == "true"
    assert config["value.converter.schemas.enable"] == "false" and config["key.converter.schemas.enable"] == "false"
    assert int(config["poll.interval.ms"]) <= 50
    assert all(isinstance(value, str) for value in config.values())


def test_names_are_parameters():
    config = connector.connector_config(database="d", topic_prefix="p", slot_name="s", publication_name="pub")
    assert (config["database.dbname"], config["topic.prefix"], config["slot.name"], config["publication.name"]) == (
        "d",
        "p",
        "s",
        "pub",
    )


def _transport(state: dict):
    """A stand-in for the Connect REST API (unit tier only) that records the calls made to it."""

    def handle(request: httpx.Request) -> httpx.Response:
        state["calls"].append((request.method, request.url.path, dict(request.url.params)))
        name = request.url.path.split("/")[2]
        if request.method == "GET" and request.url.path.endswith("/config"):
            if not state["config"]:
                return httpx.Response(404)
            return httpx.Response(200, json={**state["config"], "name": name})
        if request.method == "PUT":
            state["config"] = httpx.Response(200, content=request.content).json()
            return httpx.Response(201)
        if request.method == "GET" and request.url.path.endswith("/status"):
            return httpx.Response(
                200,
                json={
                    "name": name,
                    "connector": {"state": "RUNNING"},
                    "tasks": [{"id": 0, "state": state["task"], "trace": "boom"}],
                },
            )
        if request.method == "POST":
            return httpx.Response(202)
        return httpx.Response(405)

    return httpx.MockTransport(handle)


@pytest.fixture
def fake_connect(monkeypatch):
    state = {"config": None, "task": "RUNNING", "calls": []}
    transport = _transport(state)

    def request(method, url, **kwargs):
        with httpx.Client(transport=transport) as client:
            kwargs.pop("timeout", None)
            return client.request(method, url, **kwargs)

    monkeypatch.setattr(httpx, "request", request)
    return state


def test_register_creates_then_leaves_equal_config_alone_then_updates(fake_connect):
    config = connector.connector_config(database="d")
    assert connector.register("http://c", "n", config).action == "created"
    assert connector.register("http://c", "n", config).action == "unchanged"
    assert connector.register("http://c", "n", {**config, "poll.interval.ms": "20"}).action == "updated"
    assert [m for m, *_ in fake_connect["calls"]].count("PUT") == 2


def test_restart_only_when_something_failed(fake_connect):
    assert connector.restart_failed("http://c", "n") is False
    fake_connect["task"] = "FAILED"
    current = connector.status("http://c", "n")
    assert current.failed and not current.running and current.traces == ["boom"]
    assert connector.restart_failed("http://c", "n") is True
    assert ("POST", "/connectors/n/restart", {"includeTasks": "true", "onlyFailed": "true"}) in fake_connect["calls"]


def test_supervisor_registers_once_and_restarts_failed_tasks(fake_connect):
    from twin_cdc.settings import CdcSettings
    from twin_cdc.supervisor import Supervisor

    supervisor = Supervisor(CdcSettings(connect={"url": "http://c"}, connector_name="n"))
    first = supervisor.check()
    assert (first.registered, first.state, first.restarted) == ("created", "RUNNING", False)
    assert supervisor.ready()
    fake_connect["task"] = "FAILED"
    second = supervisor.check()
    assert (second.registered, second.restarted) == ("unchanged", True)
    assert not supervisor.ready()
