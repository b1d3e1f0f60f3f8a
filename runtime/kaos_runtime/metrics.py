"""Prometheus metrics, on a registry of their own (no process-global state between apps)."""

from __future__ import annotations

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

# `*_created` series double the output and nothing here needs them.
disable_created_metrics()

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class Metrics:
    def __init__(self, agent: str) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.info = Gauge("kaos_agent_info", "The agent this runtime serves", ["agent"], registry=r)
        self.info.labels(agent).set(1)
        self.requests = Counter(
            "kaos_agent_requests",
            "HTTP requests, by route and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "kaos_agent_request_duration_seconds",
            "HTTP request latency (to the end of the response body), by route",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.in_flight = Gauge(
            "kaos_agent_requests_in_flight",
            "Chat completions and A2A tasks being answered",
            registry=r,
        )
        self.model_calls = Counter(
            "kaos_agent_model_calls", "Calls to the model API, by outcome", ["outcome"], registry=r
        )
        self.model_latency = Histogram(
            "kaos_agent_model_call_duration_seconds",
            "Model API call latency",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tool_calls = Counter(
            "kaos_agent_tool_calls",
            "Tool calls, by tool and outcome",
            ["tool", "outcome"],
            registry=r,
        )
        self.delegations = Counter(
            "kaos_agent_delegations",
            "Delegations to peer agents, by peer and outcome",
            ["peer", "outcome"],
            registry=r,
        )
        self.a2a_tasks = Counter(
            "kaos_agent_a2a_tasks",
            "A2A tasks that ended, by final state (completed, failed, canceled)",
            ["state"],
            registry=r,
        )
        self.errors = Counter("kaos_agent_errors", "Errors, by kind", ["kind"], registry=r)
        self.tokens = Counter(
            "kaos_agent_tokens", "Model tokens, by type (prompt, completion)", ["type"], registry=r
        )
        self.loop_steps = Histogram(
            "kaos_agent_loop_steps",
            "Model calls per chat completion",
            buckets=(1, 2, 3, 4, 5, 7, 10, 15, 20),
            registry=r,
        )
        # Pre-create the common series so dashboards see zeros rather than gaps.
        for kind in ("prompt", "completion"):
            self.tokens.labels(kind)
        for outcome in ("ok", "error"):
            self.model_calls.labels(outcome)

    def render(self) -> bytes:
        return generate_latest(self.registry)
