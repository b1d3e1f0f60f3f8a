"""The per-request model-call budget, shared by the whole delegation tree.

In process (real HTTP between runtimes on loopback, scripted models) for the mechanics;
the runaway case, two agents delegating to each other with every setting at its default,
with real runtime processes (`python -m kaos_runtime`, the image CMD).
"""

from __future__ import annotations

import httpx
import openai
import pytest
from kaos_contract import env as contract
from kaos_runtime.budget import ModelCallBudget, calls_reported, parse_budget_header
from support.process import free_port
from support.runtime_harness import agent_processes, openai_client
from support.scripted_model import Reply, ScriptedModel


def _ask(url: str, text: str, headers: dict[str, str] | None = None) -> str:
    completion = openai_client(url).chat.completions.create(
        model="x", messages=[{"role": "user", "content": text}], extra_headers=headers
    )
    return completion.choices[0].message.content or ""


# --- the arithmetic ---------------------------------------------------------------------


def test_one_call_stays_with_the_agent_and_the_rest_is_split_between_delegations():
    budget = ModelCallBudget(10)
    assert budget.take()
    assert budget.shares(1) == [8]  # 9 left, one kept for the answer after the delegation
    assert budget.shares(3) == [3, 3, 2]
    assert budget.shares(9) == [1] * 8 + [0]  # no share: that delegation is not made
    budget.charge(8)
    assert budget.remaining == 1
    assert budget.shares(1) == [0]
    assert budget.take() and not budget.take()


def test_the_header_can_only_lower_the_budget():
    assert parse_budget_header(None, 30).limit == 30
    assert parse_budget_header(" 7 ", 30).limit == 7
    assert parse_budget_header("500", 30).limit == 30
    for bad in ("0", "-1", "many", ""):
        with pytest.raises(ValueError, match=contract.MODEL_CALL_BUDGET_HEADER):
            parse_budget_header(bad, 30)


def test_a_peer_is_charged_what_it_reports_within_its_share_else_all_of_it():
    assert calls_reported("3", 10) == 3
    assert calls_reported("50", 10) == 10  # a peer cannot spend more than it was given
    assert calls_reported("-4", 10) == 0
    assert calls_reported(None, 10) == 10  # not this runtime (KAOS): charged its share
    assert calls_reported("lots", 10) == 10


# --- in process -------------------------------------------------------------------------


def test_the_peer_gets_its_share_and_reports_what_it_spent(model, make_model, start_runtime):
    writer_model = make_model(default=Reply.tool_call("no_such_tool", {}))  # loops forever
    writer = start_runtime(writer_model.url, AGENT_NAME="writer")
    lead = start_runtime(
        model.url, AGENT_NAME="lead", AGENT_SUB_AGENTS=f"writer:{writer.url}", MODEL_CALL_BUDGET=6
    )
    model.push(
        Reply.tool_call("delegate_to_writer", {"task": "a poem"}), Reply.text("No poem today.")
    )
    response = httpx.post(
        lead.url + "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "write"}]},
        timeout=30,
    )
    assert response.status_code == 200
    assert response.json()["choices"][0]["message"]["content"] == "No poem today."
    # The writer's share: 6 - 1 (lead's first call) - 1 (kept for lead's answer) = 4, below
    # its own AGENTIC_LOOP_MAX_STEPS (5); it says so, and lead charges what it reports.
    assert len(writer_model.requests) == 4
    assert "used up its budget of 4 model calls" in model.requests[1]["messages"][-1]["content"]
    assert response.headers[contract.MODEL_CALLS_HEADER] == "6"


def test_a_spent_budget_ends_the_loop_with_what_the_agent_has(model, start_runtime, mcp_server):
    rt = start_runtime(
        model.url, MCP_SERVERS="calc", MCP_SERVER_CALC_URL=mcp_server.url, MODEL_CALL_BUDGET=2
    )
    model.default = Reply.tool_call("add", {"a": 2, "b": 3}, content="Adding first.")
    answer = _ask(rt.url, "add forever")
    assert len(model.requests) == 2
    assert answer.startswith("I could not finish this request: it used up its budget of 2 model")
    assert "MODEL_CALL_BUDGET" in answer
    assert "What I have so far:\n\nAdding first.\n\nadd: 5" in answer
    events = httpx.get(rt.url + "/memory/events").json()["events"]
    assert events[-1]["type"] == "agent_response"
    assert events[-1]["metadata"]["budget_reached"] is True


def test_a_spent_budget_ends_a_stream_too(model, start_runtime):
    rt = start_runtime(model.url, AGENT_SUB_AGENTS=f"ghost:http://127.0.0.1:{free_port()}")
    model.default = Reply.tool_call("delegate_to_ghost", {"task": "boo"})
    stream = openai_client(rt.url).chat.completions.create(
        model="x",
        messages=[{"role": "user", "content": "go"}],
        stream=True,
        extra_headers={contract.MODEL_CALL_BUDGET_HEADER: "3"},
    )
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert len(model.requests) == 3  # the caller's budget (3) is below the agent's own (30)
    assert "used up its budget of 3 model calls" in text


def test_a_malformed_budget_header_is_refused(model, start_runtime):
    rt = start_runtime(model.url)
    with pytest.raises(openai.BadRequestError) as info:
        _ask(rt.url, "q", headers={contract.MODEL_CALL_BUDGET_HEADER: "0"})
    assert info.value.body["code"] == "invalid_header"
    assert model.requests == []


def test_delegations_of_one_step_share_the_budget(model, make_model, start_runtime):
    """Three peers asked at once may together spend what is left, not three times it."""
    peer_model = make_model(default=Reply.tool_call("nothing_here", {}))
    peers = {name: start_runtime(peer_model.url, AGENT_NAME=name) for name in ("p1", "p2", "p3")}
    lead = start_runtime(
        model.url,
        AGENT_SUB_AGENTS=",".join(f"{n}:{rt.url}" for n, rt in peers.items()),
        MODEL_CALL_BUDGET=9,
    )
    model.push(
        Reply.tool_calls_(*((f"delegate_to_{n}", {"task": "loop"}) for n in peers)),
        Reply.text("Summary."),
    )
    assert _ask(lead.url, "fan out") == "Summary."
    # 9 - 1 taken - 1 kept = 7, split 3/2/2: each peer's loop stops at its share.
    assert len(peer_model.requests) == 7
    assert len(model.requests) == 2


# --- the runaway loop, real processes ------------------------------------------------------


def test_two_agents_delegating_to_each_other_with_defaults_cost_at_most_the_budget(tmp_path):
    """ping and pong are each other's peer and their models always delegate.

    Every setting is the default (AGENTIC_LOOP_MAX_STEPS 5, DELEGATION_MAX_DEPTH 5): without
    the budget this question cost 5 * (1 + 4 + ... + 4**5) = 6,825 model calls.
    """
    ports = {"ping": free_port(), "pong": free_port()}
    with (
        ScriptedModel(default=Reply.tool_call("delegate_to_pong", {"task": "bounce"})) as ping_m,
        ScriptedModel(default=Reply.tool_call("delegate_to_ping", {"task": "bounce"})) as pong_m,
    ):
        envs = [
            {
                "AGENT_NAME": name,
                "MODEL_API_URL": model.url,
                "MODEL_NAME": "scripted",
                "AGENT_PORT": str(ports[name]),
                "AGENT_SUB_AGENTS": f"{other}:http://127.0.0.1:{ports[other]}",
            }
            for name, other, model in (("ping", "pong", ping_m), ("pong", "ping", pong_m))
        ]
        with agent_processes(envs, tmp_path):
            response = httpx.post(
                f"http://127.0.0.1:{ports['ping']}/v1/chat/completions",
                json={"messages": [{"role": "user", "content": "start"}]},
                timeout=120,
            )
        calls = len(ping_m.requests) + len(pong_m.requests)
    assert response.status_code == 200
    assert calls == contract.MODEL_CALL_BUDGET_DEFAULT == 30
    assert response.headers[contract.MODEL_CALLS_HEADER] == "30"
    answer = response.json()["choices"][0]["message"]["content"]
    assert "used up its budget of 30 model calls" in answer
