"""Every typed record portscope hands to its callers, in one place (psutil's ``_ntuples.py`` is the model).

Small user-facing values are typed NamedTuples, never dicts keyed by strings: a misspelt field is a
type error, not a silent ``None``. NamedTuples rather than dataclasses because start-up time is a
feature: twelve frozen dataclasses cost ~13 ms to define (``dataclasses`` imports ``inspect``), and
even ``typing`` costs ~4 ms, so at run time they come from :mod:`portscope._namedtuple`. Bulk data
(flows, sockets by the thousand) is columnar and lives in Arrow tables; these are values a person
reads one by one.
"""

from __future__ import annotations

TYPE_CHECKING = False  # mypy treats this name as True (see portscope._namedtuple for why not typing's)
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "ClientRange",
    "ConntrackUsage",
    "ContainerRef",
    "CuratedService",
    "DestinationUse",
    "DnatRule",
    "EphemeralHealth",
    "EphemeralRange",
    "FlowEvidence",
    "HostPortRange",
    "IanaEntry",
    "NatMapping",
    "NetNamespace",
    "PortClass",
    "PortExplanation",
    "PortQuery",
    "PortUse",
    "RangeExplanation",
    "RangeMembership",
    "RangeOverlap",
    "ServiceDbEntry",
    "Socket",
    "Subject",
]


class PortQuery(NamedTuple):
    """What the user asked about: ports ``low``..``high`` over ``protocols``.

    ``protocol_given`` is False when the user named no protocol, so both TCP and UDP are explained.
    ``label`` is the argument as typed (``ssh``, ``443/udp``, ``49152-49160``) for messages.
    """

    low: int
    high: int
    protocols: tuple[str, ...]
    protocol_given: bool
    label: str
    service_name: str | None = None

    @property
    def is_range(self) -> bool:
        return self.high != self.low


class IanaEntry(NamedTuple):
    """One row of the IANA Service Name and Transport Protocol Port Number Registry (RFC 6335).

    ``protocol`` is None for rows that cover every transport (the registry's reserved/unassigned blocks).
    """

    low: int
    high: int
    protocol: str | None
    name: str | None
    description: str
    reference: str | None
    unauthorized_use: str | None
    notes: str | None

    @property
    def assigned(self) -> bool:
        """True for a real assignment; False for the registry's 'Unassigned' and 'Reserved' rows."""
        return self.description.lower() not in ("unassigned", "reserved")


class ServiceDbEntry(NamedTuple):
    """A port's entry in a system database (/etc/services, nmap-services), marked by ``source``.

    ``open_frequency`` is nmap's measured share of scanned hosts with that port open (0..1), when known.
    """

    source: str
    name: str
    port: int
    protocol: str
    aliases: tuple[str, ...] = ()
    comment: str | None = None
    open_frequency: float | None = None


class EphemeralRange(NamedTuple):
    """An operating system's default ephemeral (dynamic, 'anonymous') port range, with where that is said.

    ``os`` is the ``--os`` key, ``label`` a short name for people (OS and era); ``protocols`` is empty
    when the range applies to every transport.
    """

    os: str
    label: str
    low: int
    high: int
    source: str
    protocols: tuple[str, ...] = ()

    def contains(self, port: int) -> bool:
        return self.low <= port <= self.high

    @property
    def size(self) -> int:
        return self.high - self.low + 1


class ClientRange(NamedTuple):
    """The ports clients are picked from, as :mod:`portscope.ports.classify` judges a port by.

    ``reserved`` are ports inside it that the OS never hands out (Linux ip_local_reserved_ports): they
    are not ephemeral. ``label`` says whose range it is (``this host``, ``Linux``, ``--os any``...),
    ``source`` where its numbers come from.
    """

    low: int
    high: int
    label: str = "IANA dynamic"
    source: str = "RFC 6335 section 6: the Dynamic Ports 49152-65535"
    reserved: tuple[tuple[int, int], ...] = ()

    def contains(self, port: int) -> bool:
        """Inside the range and not reserved: a port the OS may hand to a client."""
        if not self.low <= port <= self.high:
            return False
        return not any(low <= port <= high for low, high in self.reserved)

    @property
    def size(self) -> int:
        """How many ports the OS may hand out: the range less its reserved ports."""
        held = sum(
            min(hi, self.high) - max(lo, self.low) + 1 for lo, hi in self.reserved if lo <= self.high and hi >= self.low
        )
        return self.high - self.low + 1 - held


class CuratedService(NamedTuple):
    """A well-known service port that IANA does not make a service where people meet it (ports/curated.py).

    ``low``..``high`` over ``protocols``; ``name`` is the service's usual short name, ``source`` where
    its port is documented.
    """

    low: int
    high: int
    protocols: tuple[str, ...]
    name: str
    description: str
    source: str


class PortClass(NamedTuple):
    """A port's class for one protocol, and which step of the precedence decided it (ports/classify.py).

    ``port_class`` is ``service``, ``ephemeral`` or ``other``; ``reason`` the deciding step's code
    (``observed``, ``curated``, ``client-range``, ``iana``, ``unassigned``); ``source`` what said so
    (the IANA registry, a curated entry's documentation, the client range's origin, the fact seen).
    ``service`` names the service where one is known; ``note`` adds what did not decide but a person
    should know (an IANA name on a port that is ephemeral in this range).
    """

    port: int
    protocol: str
    port_class: str
    reason: str
    source: str
    service: str | None = None
    note: str | None = None


class HostPortRange(NamedTuple):
    """This host's real ephemeral range for one protocol, read from the kernel, and the ports it holds back.

    ``reserved`` are ports inside the range the OS will never hand out (Linux ip_local_reserved_ports,
    Windows excluded port ranges, which Hyper-V and WinNAT take without any socket in netstat).
    ``unprivileged_port_start`` is the first port an unprivileged process may bind (Linux), if known.
    """

    platform: str
    protocol: str
    low: int
    high: int
    source: str
    reserved: tuple[tuple[int, int], ...] = ()
    reserved_source: str | None = None
    unprivileged_port_start: int | None = None

    def contains(self, port: int) -> bool:
        return self.low <= port <= self.high

    def reserved_range_of(self, port: int) -> tuple[int, int] | None:
        for low, high in self.reserved:
            if low <= port <= high:
                return (low, high)
        return None

    def client_range(self, label: str = "this host") -> ClientRange:
        """This range as :mod:`portscope.ports.classify` takes it, its reserved ports left out."""
        return ClientRange(self.low, self.high, label, self.source, self.reserved)

    @property
    def size(self) -> int:
        return self.high - self.low + 1


class RangeMembership(NamedTuple):
    """Whether a port lies in one OS's (or this host's) ephemeral range."""

    os: str
    label: str
    low: int
    high: int
    inside: bool
    source: str
    protocol: str | None = None
    reserved: bool = False


class PortExplanation(NamedTuple):
    """Everything portscope knows about one port number over the asked protocols.

    ``role`` is a short machine-readable verdict (``service``, ``ephemeral-client``, ``ambiguous``,
    ``ephemeral-elsewhere``, ``special``, ``unknown``); ``role_text`` says it in plain words, ``reasons``
    why, and ``in_logs`` what a line carrying this port most likely means.
    """

    port: int
    protocols: tuple[str, ...]
    iana_range: str
    iana_range_text: str
    iana: tuple[IanaEntry, ...]
    system_services: tuple[ServiceDbEntry, ...]
    os_ranges: tuple[RangeMembership, ...]
    host_ranges: tuple[RangeMembership, ...]
    role: str
    role_text: str
    reasons: tuple[str, ...]
    in_logs: str
    notes: tuple[str, ...]
    who_uses_it: tuple[str, ...]
    host_notes: tuple[str, ...] = ()


class RangeOverlap(NamedTuple):
    """How much of an asked range lies inside one OS's (or this host's) ephemeral range."""

    os: str
    label: str
    low: int
    high: int
    overlap_low: int
    overlap_high: int
    source: str

    @property
    def ports(self) -> int:
        """How many ports of the asked range lie in this OS's range."""
        return self.overlap_high - self.overlap_low + 1


class RangeExplanation(NamedTuple):
    """A summary of a port range: the IANA ranges and OS ephemeral ranges it overlaps, what is assigned."""

    low: int
    high: int
    protocols: tuple[str, ...]
    iana_ranges: tuple[str, ...]
    assigned: tuple[IanaEntry, ...]
    unassigned_count: int
    os_overlaps: tuple[RangeOverlap, ...]
    host_overlaps: tuple[RangeOverlap, ...]


class Socket(NamedTuple):
    """One TCP or UDP socket of this host, classified; a row of a live snapshot.

    ``state`` is the kernel's TCP state name; an unconnected UDP socket is ``UNCONN`` (as ss says).
    ``role`` is ``listen``, ``inbound``, ``outbound``, ``client`` (a UDP socket a client bound to an
    ephemeral port: a resolver's, a browser's QUIC; not a listener), ``peer`` (both sides ephemeral)
    or ``unknown``; ``role_basis`` is ``fact`` when the kernel's own data decide it (a LISTEN state,
    a local port that a listener holds, a SYN we sent) and ``inferred`` when port numbers do;
    ``role_reason`` says which. ``exposure`` (listeners only): ``loopback``, ``all`` (a wildcard
    address) or ``addresses`` (specific ones); ``dual_stack`` is True for an IPv6 wildcard listener
    without IPV6_V6ONLY, which IPv4 clients reach too. ``role_reason`` and ``owner_note`` (why
    ``pid`` is None) are stable codes; docs/live.md lists their sentences. ``namespace`` labels the
    network namespace (``host``, an ``ip netns`` name, ``docker:0123456789ab``...). ``published``
    names the DNAT rule that exposes a listener beyond its namespace (a Docker published port, a
    Kubernetes NodePort): such a port is a rule, not a socket, and no socket tool shows it alone.
    """

    # BEGIN generated from portscope.host.columns: python scripts/generate.py
    protocol: str
    family: int
    state: str
    local_address: str
    local_port: int
    remote_address: str | None
    remote_port: int | None
    role: str
    role_basis: str
    role_reason: str
    exposure: str | None
    dual_stack: bool | None
    local_service: str | None
    remote_service: str | None
    local_ephemeral: bool
    remote_ephemeral: bool | None
    pid: int | None
    pids: tuple[int, ...]
    process: str | None
    exe: str | None
    user: str | None
    cmdline: str | None
    owner_note: str | None
    inode: int | None
    uid: int | None
    netns: int | None
    namespace: str
    receive_queue: int | None
    send_queue: int | None
    published: str | None = None
    # END generated


class DestinationUse(NamedTuple):
    """How many local ephemeral ports one destination (remote ip:port) holds: the space that runs out.

    Linux picks a connection's source port so that the 4-tuple is unique (RFC 6056, net/ipv4/
    inet_hashtables.c ``__inet_hash_connect``), so the pool is the whole ephemeral range *per
    destination*; ``fraction`` is ``ports`` over the range's usable size. TIME_WAIT sockets hold their
    port for 60 s (TCP_TIMEWAIT_LEN) and count.
    """

    protocol: str
    remote_address: str
    remote_port: int
    ports: int
    time_wait: int
    fraction: float


class EphemeralHealth(NamedTuple):
    """The ephemeral port pool of one network namespace, and how full it is."""

    namespace: str
    low: int
    high: int
    size: int
    reserved: tuple[tuple[int, int], ...]
    source: str
    in_use: tuple[tuple[str, int], ...]
    time_wait: int
    destinations: tuple[DestinationUse, ...]
    worst: DestinationUse | None


class Subject(NamedTuple):
    """What a :class:`~portscope.findings.Finding` is about: the parties, the port, the transport.

    ``src`` is the acting side (a scanner, a client), ``dst`` the side acted on; ``namespace`` labels
    the network namespace or container of a finding about this host. ``ephemeral`` says ``port`` is
    a client's ephemeral port, which the finding's identifier buckets rather than names.
    """

    src: str | None = None
    dst: str | None = None
    port: int | None = None
    protocol: str | None = None
    namespace: str | None = None
    ephemeral: bool = False


class FlowEvidence(NamedTuple):
    """One flow behind a finding, as recorded, and where: ``file`` and ``line`` (or packet number)."""

    start: str | None
    src: str | None
    src_port: int | None
    dst: str | None
    dst_port: int | None
    protocol: str | None
    action: str | None
    tcp_flags: str | None
    file: str | None
    line: int | None


class ContainerRef(NamedTuple):
    """The container a process runs in, as its cgroup path tells (cgroups(7)).

    ``runtime`` is ``docker``, ``containerd``, ``cri-o``, ``podman``, ``lxc``, or ``kubernetes`` when a
    kubelet's cgroupfs path names the pod but not the runtime. ``id`` is the runtime's container id
    (64 hex digits) or the LXC container's name; ``pod_uid`` the Kubernetes pod's uid, if any.
    """

    runtime: str
    id: str
    pod_uid: str | None = None


class NetNamespace(NamedTuple):
    """One network namespace of this host (namespaces(7), network_namespaces(7)).

    ``inode`` names it (``readlink /proc/PID/ns/net`` prints ``net:[INODE]``); ``path`` is a file that
    setns(2) can open: ``/run/netns/NAME`` when ``ip netns`` named it, else ``/proc/PID/ns/net`` of a
    member. ``names`` are its ``ip netns`` names, ``pids`` the processes in it that we could see.
    ``is_current``: the calling thread is in it; ``is_host``: pid 1 is in it (None when pid 1 could
    not be inspected). ``container``: the container its processes belong to, when their cgroup says.
    """

    inode: int
    path: str
    names: tuple[str, ...]
    pids: tuple[int, ...]
    is_current: bool
    is_host: bool | None
    container: ContainerRef | None = None


class ConntrackUsage(NamedTuple):
    """How full the connection tracking table is (/proc/sys/net/netfilter, nf_conntrack-sysctl(7)).

    ``entries`` is nf_conntrack_count, the entries of the namespace we read in; ``maximum`` is
    nf_conntrack_max, which that count is checked against (one global value, read-only outside the
    initial namespace, as of Linux 6.18), None when it is 0 (no limit). A full table drops new
    connections' first packets with "nf_conntrack: table full, dropping packet" in the kernel log.
    """

    entries: int
    maximum: int | None
    source: str

    @property
    def fill(self) -> float | None:
        """entries / maximum, or None when there is no limit."""
        return None if self.maximum is None else self.entries / self.maximum


class DnatRule(NamedTuple):
    """A destination NAT rule: traffic to ``ports`` is sent on to ``to_address``:``to_ports``.

    The published ports of Docker and Kubernetes' NodePorts are such rules. ``family`` is ``ipv4``
    or ``ipv6``; ``protocol`` None matches every protocol, ``ports`` None every port (low, high).
    ``address`` and ``interface`` are the destination address (or prefix) and input interface the rule
    matches, None for any, written ``!X`` for "anything but X" as iptables does. ``to_address`` is None
    for a REDIRECT (to this host); ``to_ports`` None keeps the port. ``source`` is ``nft`` or
    ``iptables``; ``chain`` the chains followed to the rule (``PREROUTING > DOCKER``); ``evidence`` the
    rule as iptables-save prints it, or nft's table, chain and ``handle``.
    """

    family: str
    protocol: str | None
    ports: tuple[int, int] | None
    address: str | None
    interface: str | None
    to_address: str | None
    to_ports: tuple[int, int] | None
    source: str
    chain: str
    evidence: str
    handle: int | None = None


class NatMapping(NamedTuple):
    """One tracked connection whose addresses NAT rewrote (a conntrack entry, conntrack(8)).

    ``src``:``sport`` -> ``dst``:``dport`` is the connection as its first packet left the client.
    ``dnat_dst``:``dnat_dport`` is where DNAT sent it (the reply's source), None without DNAT;
    ``snat_src``:``snat_sport`` the source SNAT or MASQUERADE gave it (the reply's destination), None
    without SNAT. ``state`` is the TCP state (``ESTABLISHED``...), None for other protocols.
    """

    family: str
    protocol: str
    src: str
    sport: int
    dst: str
    dport: int
    dnat_dst: str | None
    dnat_dport: int | None
    snat_src: str | None
    snat_sport: int | None
    state: str | None = None

    @property
    def is_dnat(self) -> bool:
        return self.dnat_dst is not None

    @property
    def is_snat(self) -> bool:
        return self.snat_src is not None


class PortUse(NamedTuple):
    """A socket of this host using a port right now, as ``explain`` reports it.

    ``side`` is ``local`` when the port is this socket's own (a listener, or the local end of a
    connection) and ``remote`` when the socket talks to that port elsewhere.
    """

    protocol: str
    state: str
    side: str
    local_address: str
    local_port: int
    remote_address: str | None
    remote_port: int | None
    pid: int | None
    process: str | None
    user: str | None
