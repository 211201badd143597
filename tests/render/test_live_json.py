"""live --json's socket array: the same bytes whether encoded in one process or split with a helper."""

from __future__ import annotations

import orjson
import pytest

from portscope.host.sockets import snapshot
from portscope.render import live_json


def test_parallel_encoding_equals_plain_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    table = snapshot(all_namespaces=False).table
    big = table.take([i % len(table) for i in range(3000)])
    plain = orjson.dumps(live_json._sockets(big))
    monkeypatch.setattr(live_json, "_PARALLEL_FROM", 100)  # force the forked path on a small table
    assert live_json.sockets_json(big) == plain
    assert orjson.loads(live_json.sockets_json(big.take([0, 1]))) == orjson.loads(
        orjson.dumps(live_json._sockets(big.take([0, 1])))
    )
