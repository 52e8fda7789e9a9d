import subprocess
import sys
from pathlib import Path

from twin.v1 import twin_pb2, twin_pb2_grpc

ROOT = Path(__file__).resolve().parents[3]


def test_gateway_service_declares_the_api():
    service = twin_pb2.DESCRIPTOR.services_by_name["Gateway"]
    assert {m.name for m in service.methods} >= {"Ask", "AskStream", "Search", "Ingest", "Feedback", "Health"}
    assert service.methods_by_name["AskStream"].server_streaming
    assert hasattr(twin_pb2_grpc, "GatewayServicer")


def test_messages_round_trip():
    request = twin_pb2.AskRequest(
        question="what did I write about CDC?",
        top_k=5,
        filters=twin_pb2.SearchFilters(kinds=[twin_pb2.DOCUMENT_KIND_ARTICLE]),
    )
    assert twin_pb2.AskRequest.FromString(request.SerializeToString()) == request


def test_committed_stubs_match_the_protos():
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
