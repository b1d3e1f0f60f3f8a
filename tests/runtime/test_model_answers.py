"""`StreamReader` on its own: the cost of reading an answer does not grow with the square of
its size, however the upstream (or a proxy re-chunking it) cuts it into pieces."""

from __future__ import annotations

import json
import time

from kaos_runtime.model_answers import MAX_LINE_BYTES, StreamReader


def _stream(text: str) -> bytes:
    chunk = {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": "stop"}]}
    return b"data: " + json.dumps(chunk).encode() + b"\n\ndata: [DONE]\n\n"


def test_a_long_line_in_small_pieces_is_read_in_linear_time():
    text = "x" * (MAX_LINE_BYTES - 1024)  # one chunk of nearly the longest line allowed
    body = _stream(text)
    reader = StreamReader("text/event-stream")
    started = time.process_time()
    out = []
    for start in range(0, len(body), 1024):  # 1 KiB pieces, as a trickling upstream sends
        out.extend(reader.feed(body[start : start + 1024]))
    elapsed = time.process_time() - started
    assert "".join(out) == text and reader.done
    assert reader.result().content == text
    # Joining the pending line anew for each piece took 4.4 s of CPU here (the event
    # loop's, every other request waiting); read once, it takes a few milliseconds.
    assert elapsed < 1.0, f"{elapsed:.2f}s of CPU"
