"""Which sockets of a snapshot a person asked for: by port, process, state, role, transport and family.

The vocabulary of the filters is the one the table is written in: the roles of :mod:`.roles`, the
kernel's TCP state names (:data:`portscope.host._netlink.TCP_STATE_NAMES`) and ``UNCONN`` for an
unconnected UDP socket. A value outside it is a UsageError listing the valid ones.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from portscope.errors import UsageError
from portscope.host.roles import ROLES
from portscope.host.table import SocketTable

__all__ = ["ROLES", "STATES", "SocketFilter"]

# include/net/tcp_states.h's names (BOUND_INACTIVE: inet_diag's, Linux 6.6+), then UDP's unconnected state.
STATES = (
    "ESTABLISHED", "SYN_SENT", "SYN_RECV", "FIN_WAIT1", "FIN_WAIT2", "TIME_WAIT", "CLOSE", "CLOSE_WAIT",
    "LAST_ACK", "LISTEN", "CLOSING", "NEW_SYN_RECV", "BOUND_INACTIVE", "UNCONN",
)  # fmt: skip


def _choices(option: str, text: str | None, valid: tuple[str, ...], upper: bool) -> frozenset[str] | None:
    """The comma-separated values of ``option`` (``ESTAB`` and dashes accepted for states)."""
    if text is None:
        return None
    wanted = {(v.strip().upper() if upper else v.strip().lower()) for v in text.split(",") if v.strip()}
    if upper:
        wanted = {"ESTABLISHED" if v == "ESTAB" else v.replace("-", "_") for v in wanted}
    bad = sorted(wanted - set(valid))
    if bad or not wanted:
        raise UsageError(f"{option}: unknown value {', '.join(bad) or repr(text)}; valid ones are: {', '.join(valid)}")
    return frozenset(wanted)


def _ports(given: int | str) -> range:
    """The ports one ``--port`` names: a number, a range or a service name, as ``explain`` reads them."""
    from portscope.ports.spec import parse_port_spec

    if isinstance(given, int):
        if not 0 <= given <= 65535:
            raise UsageError(f"--port: {given} is out of range; ports are 0-65535")
        return range(given, given + 1)
    try:
        queries = parse_port_spec(given)
    except UsageError as error:
        raise UsageError(f"--port: {error}") from error
    low, high = min(q.low for q in queries), max(q.high for q in queries)
    return range(low, high + 1)


@dataclass(frozen=True)
class SocketFilter:
    """Every given condition must hold; an empty filter keeps every socket."""

    ports: frozenset[int] = frozenset()  # local or remote port
    pids: frozenset[int] = frozenset()  # any of the socket's processes
    process: str | None = None  # lower-cased; the process name contains it
    states: frozenset[str] | None = None
    roles: frozenset[str] | None = None
    protocols: frozenset[str] = frozenset()
    families: frozenset[int] = frozenset()

    @classmethod
    def parse(
        cls,
        *,
        ports: Iterable[int | str] = (),
        pids: Iterable[int] = (),
        process: str | None = None,
        states: str | None = None,
        roles: str | None = None,
        listen: bool = False,
        tcp: bool = False,
        udp: bool = False,
        ipv4: bool = False,
        ipv6: bool = False,
    ) -> SocketFilter:
        """A filter from the options as a person types them (``--state estab,time-wait``, ``--port ssh``,
        ``--port 8000-8010``)."""
        chosen_ports = frozenset(port for given in ports for port in _ports(given))
        chosen_roles = _choices("--role", roles, ROLES, upper=False)
        if listen:
            chosen_roles = (chosen_roles or frozenset()) | {"listen"}
        return cls(
            ports=chosen_ports,
            pids=frozenset(pids),
            process=process.lower() if process else None,
            states=_choices("--state", states, STATES, upper=True),
            roles=chosen_roles,
            protocols=frozenset(p for p, on in (("tcp", tcp), ("udp", udp)) if on),
            families=frozenset(f for f, on in ((4, ipv4), (6, ipv6)) if on),
        )

    def __bool__(self) -> bool:
        return bool(
            self.ports or self.pids or self.process or self.states or self.roles or self.protocols or self.families
        )

    def select(self, table: SocketTable) -> list[int]:
        """The indices of the rows every condition accepts, in table order."""
        if not self:
            return list(range(len(table)))
        keep = []
        for i in range(len(table)):
            if self.ports and table.local_port[i] not in self.ports and table.remote_port[i] not in self.ports:
                continue
            if self.pids and not self.pids.intersection(table.pids[i]):
                continue
            process = table.process[i]
            if self.process is not None and (process is None or self.process not in process.lower()):
                continue
            if self.states is not None and table.state[i] not in self.states:
                continue
            if self.roles is not None and table.role[i] not in self.roles:
                continue
            if self.protocols and table.protocol[i] not in self.protocols:
                continue
            if self.families and table.family[i] not in self.families:
                continue
            keep.append(i)
        return keep
