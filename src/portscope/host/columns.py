"""The socket schema, written once as data: every column of a live snapshot, its types and meaning.

From :data:`SOCKET_COLUMNS` come :class:`~portscope.records.Socket` (the record a caller reads),
:class:`~portscope.host.table.SocketTable` (the columns the pipeline fills), the Arrow schema
(:func:`socket_schema`), the keys of ``live --json``'s socket arrays (:data:`SOCKET_KEYS`) and the
table of docs/live.md; the history store's tables will come from it too. The record and the table
are Python source, so type checkers see them: ``python scripts/generate.py`` writes their
generated blocks (and the docs table), and a test fails when any of them is not what this list
gives. osquery's ``specs/*.table`` and :mod:`portscope.flows` are the models.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing costs start-up time; mypy treats this name as True
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "SOCKET_COLUMNS",
    "SOCKET_KEYS",
    "SocketColumn",
    "record_fields_source",
    "role_fields_source",
    "socket_schema",
    "socket_table_markdown",
    "table_fields_source",
]


class SocketColumn(NamedTuple):
    """One column: its name, a value's Python type (as written in an annotation), its Arrow type (by
    name, :func:`_arrow_type`), what it means, whether ``live --json`` carries it in each socket's
    array (``exe`` and ``cmdline`` are said once per process instead), and whether it is a field of
    :class:`~portscope.records.Socket` (``v6only`` is the table's own: classification turns it into
    ``dual_stack``). ``default`` is the record field's default, as source, if it has one. ``stage`` is
    the step of the pipeline that fills it: ``socket`` (the back-end: netlink or psutil), ``owner``
    (attribution: owners.py), ``role`` (classification: roles.py, whose SocketRole is these
    columns) or ``nat`` (published.py)."""

    name: str
    python: str
    arrow: str
    description: str
    stage: str = "socket"
    json: bool = True
    record: bool = True
    default: str | None = None


SOCKET_COLUMNS: tuple[SocketColumn, ...] = (
    SocketColumn("protocol", "str", "string", "`tcp` or `udp`"),
    SocketColumn("family", "int", "uint8", "4 or 6"),
    SocketColumn(
        "state", "str", "string", "the kernel's TCP state name; `UNCONN` for an unconnected UDP socket (as ss says)"
    ),
    SocketColumn(
        "local_address", "str", "string", "the local address; `::ffff:a.b.c.d` is shown as the IPv4 it carries"
    ),
    SocketColumn("local_port", "int", "uint16", "the local port"),
    SocketColumn("remote_address", "str | None", "string", "the peer's address; null without a peer"),
    SocketColumn("remote_port", "int | None", "uint16", "the peer's port; null without a peer"),
    SocketColumn(
        "role", "str", "string", "`listen`, `inbound`, `outbound`, `client`, `peer` or `unknown` (Roles)", stage="role"
    ),
    SocketColumn(
        "role_basis",
        "str",
        "string",
        "`fact` when the kernel's data decide the role, `inferred` when port numbers do",
        stage="role",
    ),
    SocketColumn("role_reason", "str", "string", "why: one of the codes above", stage="role"),
    SocketColumn(
        "exposure", "str | None", "string", "listeners: `loopback`, `all` or `addresses`; null otherwise", stage="role"
    ),
    SocketColumn(
        "dual_stack",
        "bool | None",
        "bool",
        "a `::` listener without IPV6_V6ONLY, which IPv4 clients reach too",
        stage="role",
    ),
    SocketColumn(
        "local_service",
        "str | None",
        "string",
        "the local port's service name: IANA's, else portscope's curated list's",
        stage="role",
    ),
    SocketColumn(
        "remote_service", "str | None", "string", "the remote port's service name, the same way", stage="role"
    ),
    SocketColumn(
        "local_ephemeral",
        "bool",
        "bool",
        "the local port's class is `ephemeral`: in its namespace's range, not reserved, not curated (ports/classify)",
        stage="role",
    ),
    SocketColumn(
        "remote_ephemeral",
        "bool | None",
        "bool",
        "the remote port's class is `ephemeral`, judged by the same range; null without a peer",
        stage="role",
    ),
    SocketColumn(
        "pid", "int | None", "int32", "the lowest of `pids`; null with `owner_note` saying why", stage="owner"
    ),
    SocketColumn(
        "pids",
        "tuple[int, ...]",
        "list<int32>",
        "every process holding the socket (several after fork())",
        stage="owner",
    ),
    SocketColumn("process", "str | None", "string", "the owning process's name", stage="owner"),
    SocketColumn(
        "exe", "str | None", "string", "its executable (in `processes`, once per process)", json=False, stage="owner"
    ),
    SocketColumn("user", "str | None", "string", "the user the process runs as", stage="owner"),
    SocketColumn(
        "cmdline",
        "str | None",
        "string",
        "its command line (in `processes`, once per process)",
        json=False,
        stage="owner",
    ),
    SocketColumn("owner_note", "str | None", "string", "why `pid` is null: one of the codes above", stage="owner"),
    SocketColumn("inode", "int | None", "uint64", "the socket's inode (null from psutil)"),
    SocketColumn("uid", "int | None", "uint32", "the uid the kernel records for the socket", json=False),
    SocketColumn("netns", "int | None", "uint64", "its network namespace's inode", json=False),
    SocketColumn(
        "namespace",
        "str",
        "string",
        "its network namespace's label: `host`, an `ip netns` name, `docker:0123456789ab`, `netns:[INODE]`",
    ),
    SocketColumn(
        "receive_queue",
        "int | None",
        "uint32",
        "bytes waiting to be read (a listener: connections waiting to be accepted)",
        json=False,
    ),
    SocketColumn(
        "send_queue", "int | None", "uint32", "bytes not yet acknowledged (a listener: its backlog)", json=False
    ),
    SocketColumn(
        "published",
        "str | None",
        "string",
        "the DNAT rule that publishes this listener beyond its namespace, or null",
        default="None",
        stage="nat",
    ),
    SocketColumn(
        "v6only",
        "bool | None",
        "bool",
        "the kernel's IPV6_V6ONLY flag (INET_DIAG_SKV6ONLY), which classification turns into `dual_stack`",
        json=False,
        record=False,
    ),
)

# The keys of each socket's array in ``live --json``, in order.
SOCKET_KEYS: tuple[str, ...] = tuple(c.name for c in SOCKET_COLUMNS if c.json)

_STAGES = {"socket": "the kernel", "owner": "/proc", "role": "classification", "nat": "DNAT rules"}
_BEGIN = "# BEGIN generated from portscope.host.columns: python scripts/generate.py"
_END = "# END generated"


def record_fields_source() -> str:
    """The fields of :class:`~portscope.records.Socket`, as the source between its markers."""
    lines = [f"    {_BEGIN}"]
    for c in SOCKET_COLUMNS:
        if c.record:
            lines.append(f"    {c.name}: {c.python}" + (f" = {c.default}" if c.default is not None else ""))
    lines.append(f"    {_END}")
    return "\n".join(lines)


def role_fields_source() -> str:
    """The fields of :class:`~portscope.host.roles.SocketRole`: the columns classification fills."""
    lines = [f"    {_BEGIN}"]
    lines += [f"    {c.name}: {c.python}" for c in SOCKET_COLUMNS if c.stage == "role"]
    lines.append(f"    {_END}")
    return "\n".join(lines)


def table_fields_source() -> str:
    """The columns of :class:`~portscope.host.table.SocketTable`, as the source between its markers."""
    lines = [f"    {_BEGIN}"]
    for c in SOCKET_COLUMNS:
        lines.append(f"    {c.name}: list[{c.python}] = field(default_factory=list)")
    lines.append(f"    {_END}")
    return "\n".join(lines)


def socket_table_markdown() -> str:
    """docs/live.md's table of socket columns, between its markers."""
    lines = [
        "<!-- BEGIN generated from portscope.host.columns: python scripts/generate.py -->",
        "| field | type | filled by | in `--json` | meaning |",
        "|---|---|---|---|---|",
    ]
    for c in SOCKET_COLUMNS:
        where = "yes" if c.json else ("`--csv`, the library" if c.record else "the library's table")
        lines.append(f"| `{c.name}` | {c.arrow} | {_STAGES[c.stage]} | {where} | {c.description} |")
    lines.append("<!-- END generated -->")
    return "\n".join(lines)


def generated_block(text: str, begin: str, end: str) -> tuple[int, int]:
    """Where the generated block of ``text`` starts and ends (the start of its first line, the end of
    its last), found by the markers' text; ValueError when a marker is missing."""
    first = text.index(begin)
    start = text.rindex("\n", 0, first) + 1
    stop = text.index(end, first) + len(end)
    return start, stop


def _arrow_type(name: str) -> Any:
    import pyarrow as pa

    if name.startswith("list<") and name.endswith(">"):
        return pa.list_(_arrow_type(name[5:-1]))
    return {
        "string": pa.string(),
        "bool": pa.bool_(),
        "uint8": pa.uint8(),
        "uint16": pa.uint16(),
        "int32": pa.int32(),
        "uint32": pa.uint32(),
        "uint64": pa.uint64(),
    }[name]


def socket_schema() -> Any:
    """The ``pyarrow.Schema`` of a snapshot's record columns, each field's meaning in its metadata."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(c.name, _arrow_type(c.arrow), metadata={"description": c.description})
            for c in SOCKET_COLUMNS
            if c.record
        ],
        metadata={"portscope.schema": "sockets/1"},
    )
