"""Identifiers: the right shape, unique, and not repeated by a forked worker."""

from __future__ import annotations

import multiprocessing
import re

from kaos_runtime import ids


def _child_ids(queue: multiprocessing.Queue) -> None:
    queue.put([ids.unique_hex() for _ in range(3)])


def test_ids_have_the_requested_number_of_hex_digits_and_do_not_repeat():
    many = [ids.unique_hex() for _ in range(10_000)]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in many)
    assert len(set(many)) == len(many)
    assert re.fullmatch(r"[0-9a-f]{24}", ids.unique_hex(24))
    assert re.fullmatch(r"[0-9a-f]{8}", ids.unique_hex(8))  # leading zeros kept
    assert {len(ids.unique_hex(4)) for _ in range(2000)} == {4}
    sessions = {ids.session_id() for _ in range(1000)}
    assert len(sessions) == 1000 and all(re.fullmatch(r"[0-9a-f]{32}", s) for s in sessions)


def test_a_forked_process_does_not_repeat_the_parents_sequence():
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    children = [context.Process(target=_child_ids, args=(queue,)) for _ in range(2)]
    for child in children:
        child.start()
    got = [queue.get(timeout=30) for _ in children]
    for child in children:
        child.join(30)
    parent = [ids.unique_hex() for _ in range(3)]
    assert got[0] != got[1] and parent not in got
