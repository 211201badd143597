"""Turning parsed kernel LOG lines into flow-table batches: the fast path's arrays and the reference's rows.

Both end as one Arrow record batch per block, in line order. Columns with few distinct values
(observer, rule, interfaces) are decoded once per distinct value, which is also where the fast
path's last check happens: a value the reference parser would read differently (whitespace inside
an interface name, a host ending in ``:``) sends its lines back to the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from portscope.flows import batch_from_columns
from portscope.sources._kernel_log import _NAMES_BY_NUMBER, Packet, action_of, packet_values

__all__ = ["fast_batch", "rows_batch"]

_PROTOCOL_NAMES = [_NAMES_BY_NUMBER.get(number, str(number)) for number in range(256)]
_ACTIONS = ["allow", "deny", "unknown"]
_DIRECTIONS = ["inbound", "outbound", "forward"]


def _dictionary(indices: np.ndarray, values: Sequence[str | None], mask: np.ndarray | None = None) -> Any:
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(
        pa.array(indices.astype(np.int32), mask=mask), pa.array(values, type=pa.string())
    )


def _decoded(raw: Any, decode: Any) -> tuple[Any, np.ndarray, list[Any]]:
    """Distinct values of a binary array decoded by ``decode`` (None: refuse): (indices, refused rows, values)."""
    import pyarrow.compute as pc

    encoded = pc.dictionary_encode(raw)
    values = [decode(value) for value in encoded.dictionary.to_pylist()]
    indices = encoded.indices.to_numpy(zero_copy_only=False)
    refused = np.array([value is _REFUSE for value in values], dtype=bool)
    return indices, refused[indices] if values else np.zeros(0, dtype=bool), values


_REFUSE = object()


def _interface(raw: bytes) -> Any:
    if not raw:
        return None
    if len(raw.split()) != 1 or raw.split()[0] != raw:
        return _REFUSE
    return raw.decode("utf-8", "replace")


def _host(raw: bytes) -> Any:
    if not raw:
        return None
    if raw.endswith(b":") or len(raw.split()) != 1 or raw.split()[0] != raw:
        return _REFUSE
    return raw.decode("utf-8", "replace")


def _rule(raw: bytes) -> Any:
    return raw.decode("utf-8", "replace").rstrip() or None


def fast_batch(columns: dict[str, Any], lines: np.ndarray, label: str) -> tuple[Any, np.ndarray]:
    """The flow batch of the fast path's lines, and a mask of the lines it hands back to the reference."""
    import pyarrow as pa

    n = len(lines)
    in_idx, in_refused, in_values = _decoded(columns["in_raw"], _interface)
    out_idx, out_refused, out_values = _decoded(columns["out_raw"], _interface)
    host_idx, host_refused, host_values = _decoded(columns["observer_raw"], _host)
    rule_idx, _, rule_values = _decoded(columns["rule_raw"], _rule)
    refused = in_refused | out_refused | host_refused
    actions = np.array([_ACTIONS.index(action_of(rule)) for rule in rule_values], dtype=np.int32)
    has_in = np.array([value is not None for value in in_values], dtype=bool)[in_idx] if n else np.zeros(0, bool)
    has_out = np.array([value is not None for value in out_values], dtype=bool)[out_idx] if n else np.zeros(0, bool)
    direction = np.where(has_in & has_out, 2, np.where(has_in, 0, 1))
    ports = ~columns["ports_valid"]
    icmp = ~columns["icmp_valid"]
    tcp = columns["tcp"]
    batch = batch_from_columns(
        {
            "start": pa.array(columns["start"], type=pa.int64(), mask=~columns["start_valid"]).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "observer": _strings(host_idx, host_values),
            "source_format": _dictionary(np.zeros(n, dtype=np.int32), ["iptables"]),
            "protocol": _dictionary(columns["ip_proto"], _PROTOCOL_NAMES),
            "ip_proto": pa.array(columns["ip_proto"].astype(np.uint8)),
            "src_addr": columns["src_addr"],
            "src_port": pa.array(columns["src_port"].astype(np.uint16), mask=ports),
            "dst_addr": columns["dst_addr"],
            "dst_port": pa.array(columns["dst_port"].astype(np.uint16), mask=ports),
            "icmp_type": pa.array(columns["icmp_type"].astype(np.uint8), mask=icmp),
            "icmp_code": pa.array(columns["icmp_code"].astype(np.uint8), mask=icmp),
            "action": _dictionary(actions[rule_idx] if n else np.zeros(0, np.int32), _ACTIONS),
            "direction": _dictionary(direction, _DIRECTIONS, mask=~(has_in | has_out)),
            "initiator": _dictionary(np.zeros(n, dtype=np.int32), ["observed"], mask=~(tcp & columns["syn_only"])),
            "packets_out": pa.array(np.ones(n, dtype=np.uint64)),
            "bytes_out": pa.array(columns["length"].astype(np.uint64)),
            "tcp_flags": columns["tcp_flags"],
            "in_interface": _strings(in_idx, in_values),
            "out_interface": _strings(out_idx, out_values),
            "rule": _strings(rule_idx, rule_values),
            "evidence_file": _dictionary(np.zeros(n, dtype=np.int32), [label]),
            "evidence_line": pa.array(lines.astype(np.uint64)),
        },
        n,
    )
    return batch, refused


def _strings(indices: np.ndarray, values: list[Any]) -> Any:
    import pyarrow as pa

    clean = [None if value is _REFUSE else value for value in values]
    return pa.DictionaryArray.from_arrays(pa.array(indices.astype(np.int32)), pa.array(clean, type=pa.string())).cast(
        pa.string()
    )


def rows_batch(rows: list[tuple[int, int | None, str | None, Packet]], label: str) -> Any:
    """The flow batch of the reference parser's rows: (line number, start µs, observer, packet) each."""
    import pyarrow as pa

    values = [packet_values(*row) for row in rows]
    columns: dict[str, Any] = {name: [row[name] for row in values] for name in values[0]} if values else {}
    columns["start"] = pa.array(columns.get("start", []), type=pa.int64()).cast(pa.timestamp("us", tz="UTC"))
    columns["evidence_file"] = [label] * len(rows)
    return batch_from_columns(columns, len(rows))
