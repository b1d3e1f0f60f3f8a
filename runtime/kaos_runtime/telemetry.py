"""OpenTelemetry traces.

With `OTEL_SDK_DISABLED=false` the runtime exports spans over OTLP to
`OTEL_EXPORTER_OTLP_ENDPOINT`: gRPC when `OTEL_EXPORTER_OTLP_PROTOCOL=grpc` or the endpoint's
port is 4317 (KAOS's usual collector port), HTTP/protobuf otherwise (`<endpoint>/v1/traces`).
The resource carries `service.name` (`OTEL_SERVICE_NAME`, else the agent's name) and
`OTEL_RESOURCE_ATTRIBUTES`. Otherwise the API's global tracer is used: a no-op, unless the
process runs under `opentelemetry-instrument`, whose provider then receives the spans.

Spans: `chat.completions` (server; parent from an incoming `traceparent`), one per model call
(`chat <model>`, client, with token usage), one per tool call (`tool <name>`) and per
delegation; the `traceparent` header goes to peer agents, so a chain of agents is one trace.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from opentelemetry import trace

from .settings import Settings

log = logging.getLogger(__name__)

INSTRUMENTATION = "kaos_runtime"


def _resource_attributes(settings: Settings) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for item in (settings.otel_resource_attributes or "").split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            attributes[key.strip()] = value.strip()
    attributes["service.name"] = settings.otel_service_name or settings.agent_name
    return attributes


def _exporter(settings: Settings) -> Any:
    endpoint = settings.otel_exporter_otlp_endpoint
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL", "").strip().lower()
    parts = urlsplit(endpoint) if endpoint else None
    port = parts.port if parts else None
    if protocol == "grpc" or (not protocol and port == 4317):
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        if parts is None:
            return OTLPSpanExporter()
        return OTLPSpanExporter(endpoint=parts.netloc, insecure=parts.scheme != "https")
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    if endpoint is None:
        return HttpExporter()
    return HttpExporter(endpoint=endpoint.rstrip("/") + "/v1/traces")


class _NullSpan:
    def set_attribute(self, key: str, value: Any) -> None:
        return None

    def add_event(self, name: str, attributes: Any = None) -> None:
        return None

    def set_status(self, status: Any) -> None:
        return None


class NullTracer:
    """What spans cost when nothing records them: nothing (the API's no-op still costs ~µs)."""

    _span = _NullSpan()

    @contextlib.contextmanager
    def start_as_current_span(self, name: str, **kwargs: Any) -> Iterator[Any]:
        yield self._span


def make_tracer(settings: Settings) -> tuple[Any, Callable[[], None]]:
    """(tracer, shutdown): our own exporting provider when enabled; else the global tracer
    when something (opentelemetry-instrument) installed a provider; else a null tracer."""
    if settings.otel_sdk_disabled:
        if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
            return NullTracer(), lambda: None
        return trace.get_tracer(INSTRUMENTATION), lambda: None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    provider = TracerProvider(resource=Resource.create(_resource_attributes(settings)))
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    log.info(
        "exporting traces to %s",
        settings.otel_exporter_otlp_endpoint or "the default OTLP endpoint",
    )
    return provider.get_tracer(INSTRUMENTATION), provider.shutdown
