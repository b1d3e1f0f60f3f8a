"""OpenTelemetry: spans exported over OTLP/HTTP to a receiver, one trace across two agents."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from support.process import free_port
from support.runtime_harness import openai_client
from support.scripted_model import Reply


class OtlpReceiver:
    """An OTLP/HTTP trace receiver (protobuf) on a loopback port, keeping every span."""

    def __init__(self) -> None:
        self.port = free_port()
        self.spans: list[dict] = []
        app = Starlette(routes=[Route("/v1/traces", self._traces, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _traces(self, request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await request.body())
        for resource_spans in export.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    attributes = {}
                    for a in span.attributes:
                        value = a.value
                        kind = value.WhichOneof("value")
                        attributes[a.key] = getattr(value, kind) if kind else None
                    self.spans.append(
                        {
                            "name": span.name,
                            "trace_id": span.trace_id.hex(),
                            "span_id": span.span_id.hex(),
                            "parent": span.parent_span_id.hex(),
                            "kind": span.kind,
                            "status": span.status.code,
                            "attributes": attributes,
                            "service": resource.get("service.name"),
                            "resource": resource,
                        }
                    )
        return Response(b"", media_type="application/x-protobuf")

    def start(self) -> OtlpReceiver:
        self.thread.start()
        while not self.server.started:
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    server = OtlpReceiver().start()
    yield server
    server.stop()


def test_a_delegated_request_is_one_trace_across_agents(
    model, make_model, start_runtime, mcp_server, receiver
):
    otel = {
        "OTEL_SDK_DISABLED": "false",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=team,kaos.resource.name=x",
    }
    writer_model = make_model()
    writer = start_runtime(
        writer_model.url, AGENT_NAME="writer", OTEL_SERVICE_NAME="writer", **otel
    )
    lead = start_runtime(
        model.url,
        AGENT_NAME="lead",
        OTEL_SERVICE_NAME="lead",
        AGENT_SUB_AGENTS=f"writer:{writer.url}",
        MCP_SERVERS="calc",
        MCP_SERVER_calc_URL=mcp_server.url,
        **otel,
    )
    model.push(
        Reply.tool_calls_(
            ("add", {"a": 1, "b": 2}), ("delegate_to_writer", {"task": "poem"}), usage=(10, 4)
        ),
        Reply.text("done", usage=(20, 2)),
    )
    writer_model.push(Reply.text("a poem", usage=(7, 3)))
    assert (
        openai_client(lead.url)
        .chat.completions.create(model="x", messages=[{"role": "user", "content": "go"}])
        .choices[0]
        .message.content
        == "done"
    )
    lead.stop()  # shutting down flushes the batch of spans
    writer.stop()

    spans = receiver.spans
    by_name = {}
    for span in spans:
        by_name.setdefault((span["service"], span["name"]), []).append(span)
    [lead_chat] = by_name[("lead", "chat.completions")]
    [writer_chat] = by_name[("writer", "a2a.message")]  # the writer was asked over A2A
    [delegate] = by_name[("lead", "delegate writer")]
    [add] = by_name[("lead", "tool add")]
    lead_models = by_name[("lead", "chat scripted")]
    [writer_model_span] = by_name[("writer", "chat scripted")]

    # One trace: the writer's server span is a child of the lead's delegation span.
    assert {s["trace_id"] for s in spans} == {lead_chat["trace_id"]}
    assert writer_chat["parent"] == delegate["span_id"]
    assert delegate["parent"] == add["parent"] == lead_chat["span_id"]
    assert all(m["parent"] == lead_chat["span_id"] for m in lead_models)
    assert writer_model_span["parent"] == writer_chat["span_id"]

    assert lead_chat["attributes"]["kaos.steps"] == 2
    assert lead_chat["attributes"]["gen_ai.usage.input_tokens"] == 30
    assert writer_chat["attributes"]["kaos.delegation_depth"] == 1
    assert writer_chat["attributes"]["kaos.a2a.task_id"]
    assert [m["attributes"]["gen_ai.usage.output_tokens"] for m in lead_models] == [4, 2]
    assert add["attributes"]["kaos.tool.ok"] is True
    assert delegate["attributes"]["kaos.tool.source"] == "writer"
    assert lead_chat["resource"]["service.namespace"] == "team"


def test_failures_are_error_spans(model, start_runtime, receiver):
    rt = start_runtime(
        model.url,
        OTEL_SDK_DISABLED="false",
        OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url,
        MODEL_MAX_RETRIES=0,
    )
    model.push(Reply.error(500, "boom"))
    response = openai_client(rt.url).chat.completions.with_raw_response
    with pytest.raises(Exception):  # noqa: B017 - the SDK's APIStatusError
        response.create(model="x", messages=[{"role": "user", "content": "q"}])
    rt.stop()
    statuses = {s["name"]: s["status"] for s in receiver.spans}
    assert statuses["chat.completions"] == statuses["chat scripted"] == 2  # STATUS_CODE_ERROR
