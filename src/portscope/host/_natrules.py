"""Reading DNAT rules: ``nft -j list ruleset`` JSON and ``iptables-save`` text, chains followed (Linux).

The parsers behind :func:`portscope.host.nat.dnat_rules`, plain functions over the tools' output so
that they are tested on fixtures. Both turn a table into chains of the rules that matter (jumps,
DNAT, REDIRECT), then one walk follows the jumps from PREROUTING and OUTPUT (the nat hooks
``prerouting`` and ``output`` for nft), each rule's matches narrowing what reaches the next. Docker:
``PREROUTING > DOCKER``; kube-proxy (iptables mode): ``PREROUTING > KUBE-SERVICES > KUBE-NODEPORTS >
KUBE-EXT-* > KUBE-SVC-* > KUBE-SEP-*``, so a NodePort maps to each endpoint's pod address.

The matches kept are protocol, destination port, destination address and input interface. Others
(source, addrtype, statistic, marks) narrow what is listed without changing it and stay in the
evidence; rule order, RETURN and ACCEPT are not simulated. Verdict maps, negated ports, maps in DNAT
targets (kube-proxy's nftables mode) and iptables-nft's opaque ``xt`` targets are not simple: they
are counted in ``reasons``, never guessed at.
"""

from __future__ import annotations

from collections.abc import Iterable

from portscope._words import count
from portscope.records import DnatRule

TYPE_CHECKING = False  # see portscope._namedtuple
if TYPE_CHECKING:
    from typing import Any, NamedTuple
else:
    from portscope._namedtuple import NamedTuple

__all__ = [
    "L4_PROTOCOLS",
    "DnatRuleList",
    "nft_document_rules",
    "parse_iptables_save",
    "parse_nft_ruleset",
    "xtables_tables",
]

L4_PROTOCOLS = frozenset({"tcp", "udp", "udplite", "sctp", "dccp"})  # the ones with ports
_FAMILY = {"ip": ("ipv4",), "ip6": ("ipv6",), "inet": ("ipv4", "ipv6"), "ipv4": ("ipv4",), "ipv6": ("ipv6",)}
_IGNORED_TARGETS = frozenset({"ACCEPT", "DROP", "RETURN", "MASQUERADE", "SNAT", "MARK", "CONNMARK", "LOG"})
# iptables-nft expressions nft's JSON shows only by name: targets that rewrite, matches that pick ports.
_OPAQUE = {("target", "DNAT"), ("target", "REDIRECT"), ("target", "NETMAP"), ("match", "multiport")}
_OPAQUE |= {("match", proto) for proto in ("tcp", "udp", "sctp", "dccp")}
_MAX_DEPTH = 16  # kube-proxy nests five deep
_MAX_VISITS = 500_000  # rules visited while following jumps, for one table


class DnatRuleList(list[DnatRule]):
    """:func:`dnat_rules`' answer, with ``reasons`` it may be incomplete, each a line to print."""

    def __init__(self, rules: Iterable[DnatRule] = (), reasons: Iterable[str] = ()) -> None:
        super().__init__(rules)
        self.reasons = list(reasons)


class _NotSimple(ValueError):
    """A rule whose match or target this module does not model; the message says where."""


class _Match(NamedTuple):
    protocols: tuple[str, ...] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    address: str | None = None
    interface: str | None = None
    family: str | None = None


class _Step(NamedTuple):
    """One rule of a chain that matters: a jump to ``jump`` or, when ``nat``, a DNAT or REDIRECT."""

    match: _Match
    jump: str | None
    nat: bool
    to_address: str | None
    to_ports: tuple[int, int] | None
    evidence: str
    handle: int | None = None


# ---- walking the chains -------------------------------------------------------------------------


def _narrower(outer: str | None, inner: str | None) -> str | None:
    if inner is None:
        return outer
    if outer is None or outer.startswith("!"):
        return inner
    return outer if inner.startswith("!") else inner


def _combine(outer: _Match, inner: _Match) -> _Match | None:
    """What both matches let through, or None when nothing can (tcp then udp, disjoint ports)."""
    protocols = inner.protocols if outer.protocols is None else outer.protocols
    if outer.protocols is not None and inner.protocols is not None:
        protocols = tuple(p for p in outer.protocols if p in inner.protocols)
    ports = inner.ports if outer.ports is None else outer.ports
    if outer.ports is not None and inner.ports is not None:
        ports = tuple((max(a, c), min(b, d)) for a, b in outer.ports for c, d in inner.ports if max(a, c) <= min(b, d))
    if protocols == () or ports == () or (outer.family and inner.family and outer.family != inner.family):
        return None
    return _Match(
        protocols,
        ports,
        _narrower(outer.address, inner.address),
        _narrower(outer.interface, inner.interface),
        outer.family or inner.family,
    )


def _walk(
    chains: dict[str, list[_Step]], roots: Iterable[str], families: tuple[str, ...], source: str
) -> tuple[list[DnatRule], bool]:
    """Follow jumps from ``roots`` to every DNAT/REDIRECT; also says whether the visit limit cut it short."""
    found: list[DnatRule] = []
    visits = 0

    def visit(chain: str, path: tuple[str, ...], outer: _Match) -> None:
        nonlocal visits
        for step in chains.get(chain, ()):
            visits += 1
            match = _combine(outer, step.match)
            if match is None or visits > _MAX_VISITS:
                continue
            if step.jump is not None and step.jump in chains:
                if step.jump not in path and len(path) < _MAX_DEPTH:
                    visit(step.jump, (*path, step.jump), match)
            elif step.nat:
                for family in (match.family,) if match.family else families:
                    for protocol in match.protocols or (None,):
                        for ports in match.ports or (None,):
                            rule = DnatRule(
                                family, protocol, ports, match.address, match.interface, step.to_address,
                                step.to_ports, source, " > ".join(path), step.evidence, step.handle,
                            )  # fmt: skip
                            found.append(rule)

    for root in roots:
        visit(root, (root,), _Match())
    return _dedupe(found), visits > _MAX_VISITS


def _dedupe(rules: list[DnatRule]) -> list[DnatRule]:
    """One rule per mapping: OUTPUT often reaches the same DNAT as PREROUTING (Docker, kube-proxy).

    A path that narrows the address (Docker's OUTPUT has ``! -d 127.0.0.0/8``) adds nothing when
    another path reaches the same rule for any address.
    """
    first: dict[DnatRule, DnatRule] = {}
    for rule in rules:
        first.setdefault(rule._replace(chain=""), rule)
    anywhere = {key for key in first if key.address is None}
    return [rule for key, rule in first.items() if key.address is None or key._replace(address=None) not in anywhere]


# ---- iptables-save ------------------------------------------------------------------------------


def _port_range(text: str, sep: str) -> tuple[int, int]:
    """``80``, ``80:90`` (iptables matches; an open end is 0 or 65535) or ``80-90`` (targets)."""
    low, found, high = text.partition(sep)
    if not found:
        return int(low), int(low)
    return int(low or 0), int(high or 65535)


def _host(address: str) -> str:
    return address.removesuffix("/32") if ":" not in address else address.removesuffix("/128")


def _to_destination(value: str) -> tuple[str | None, tuple[int, int] | None]:
    """``ADDR[:PORT[-PORT]]``; IPv6 as ``[ADDR]:PORT`` or a bare address (iptables-extensions(8))."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        port = rest.removeprefix(":")
    elif value.count(":") == 1:
        address, port = value.split(":")
    else:
        address, port = value, ""
    return address or None, _port_range(port, "-") if port else None


def _iptables_step(line: str) -> tuple[str, _Step]:
    import shlex

    tokens = shlex.split(line)
    chain: str | None = None
    target = to = to_ports = address = interface = chain
    protocols: tuple[str, ...] | None = None
    ports: tuple[tuple[int, int], ...] | None = None
    negate = False
    problem: str | None = None
    i = 0
    while i < len(tokens):
        option = tokens[i]
        if option == "!":
            negate, i = True, i + 1
            continue
        j = i + 1
        while j < len(tokens) and tokens[j] != "!" and not tokens[j].startswith("-"):
            j += 1
        value = tokens[i + 1] if j > i + 1 else ""
        if negate and option in ("-p", "--protocol", "--dport", "--dports", "--destination-port"):
            problem = f"negated {option}"
        if option == "-A":
            chain = value
        elif option in ("-p", "--protocol"):
            protocols = None if value == "all" else (value,)
        elif option in ("--dport", "--destination-port"):
            ports = (_port_range(value, ":"),)
        elif option in ("--dports", "--destination-ports"):
            ports = tuple(_port_range(part, ":") for part in value.split(","))
        elif option in ("-d", "--destination"):
            address = ("!" if negate else "") + _host(value)
        elif option in ("-i", "--in-interface"):
            interface = ("!" if negate else "") + value
        elif option in ("-j", "--jump", "-g", "--goto"):
            target = value
        elif option == "--to-destination":
            to = value
        elif option == "--to-ports":
            to_ports = value
        negate, i = False, j
    if chain is None or target is None:
        raise _NotSimple(f"no chain or target in {line!r}")
    if problem is not None and target not in _IGNORED_TARGETS:
        raise _NotSimple(f"{problem} in {line!r}")
    match = _Match(protocols, ports, address, interface)
    if target == "DNAT":
        if to is None:
            raise _NotSimple(f"DNAT without --to-destination in {line!r}")
        return chain, _Step(match, None, True, *_to_destination(to), line)
    if target == "REDIRECT":
        return chain, _Step(match, None, True, None, _port_range(to_ports, "-") if to_ports else None, line)
    return chain, _Step(match, target, False, None, None, line)


def parse_iptables_save(text: str, family: str = "ipv4") -> DnatRuleList:
    """The DNAT and REDIRECT rules reached from PREROUTING and OUTPUT in ``iptables-save`` text's nat table."""
    chains: dict[str, list[_Step]] = {}
    skipped: list[str] = []
    in_nat = False
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("*"):
            in_nat = line == "*nat"
        elif in_nat and line.startswith(":"):
            chains.setdefault(line[1:].split()[0], [])
        elif in_nat and line.startswith("-A "):
            try:
                chain, step = _iptables_step(line)
            except (_NotSimple, ValueError):  # ValueError: a port that is not a number
                skipped.append(line)
                continue
            chains.setdefault(chain, []).append(step)
    rules, cut = _walk(chains, ("PREROUTING", "OUTPUT"), _FAMILY[family], "iptables")
    return DnatRuleList(rules, _skip_reasons(skipped, cut))


def _skip_reasons(skipped: list[str], cut: bool) -> list[str]:
    reasons = []
    if skipped:
        reasons.append(f"{count(len(skipped), 'nat rule')} not simple enough to read; the first: {skipped[0]}")
    return [*reasons, f"stopped following jumps after {_MAX_VISITS} rules"] if cut else reasons


# ---- nft JSON -----------------------------------------------------------------------------------


def _nft_ports(value: Any, sets: dict[str, Any]) -> tuple[tuple[int, int], ...]:
    """A port, ``{"range": [lo, hi]}``, an anonymous ``{"set": [...]}`` or a constant named set ``@name``."""
    if isinstance(value, bool):
        raise _NotSimple(f"port {value!r}")
    if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
        return ((int(value), int(value)),)
    if isinstance(value, str) and value.startswith("@") and value[1:] in sets:
        return _nft_ports({"set": sets[value[1:]]}, sets)
    if isinstance(value, dict) and "range" in value:
        low, high = value["range"]
        return ((int(low), int(high)),)
    if isinstance(value, dict) and isinstance(value.get("set"), list):
        return tuple(r for item in value["set"] for r in _nft_ports(_elem(item), sets))
    if isinstance(value, dict) and "elem" in value:
        return _nft_ports(_elem(value), sets)
    raise _NotSimple(f"ports {value!r}")


def _elem(item: Any) -> Any:
    """A set element: bare, or ``{"elem": {"val": ..., "timeout": ...}}`` when it carries options."""
    return item["elem"].get("val") if isinstance(item, dict) and isinstance(item.get("elem"), dict) else item


def _nft_names(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) and not value.startswith("@"):
        return (value,)
    if isinstance(value, dict) and isinstance(value.get("set"), list) and all(isinstance(v, str) for v in value["set"]):
        return tuple(value["set"])
    raise _NotSimple(f"protocols {value!r}")


def _nft_match(match: _Match, body: dict[str, Any], sets: dict[str, Any]) -> _Match:
    left, right = body.get("left"), body.get("right")
    negated = body.get("op") == "!="
    bang = "!" if negated else ""
    meta = left.get("meta", {}).get("key") if isinstance(left, dict) and isinstance(left.get("meta"), dict) else None
    payload: dict[str, Any] = (
        left["payload"] if isinstance(left, dict) and isinstance(left.get("payload"), dict) else {}
    )
    proto, field = payload.get("protocol"), payload.get("field")
    if meta in ("l4proto",) or (proto, field) in (("ip", "protocol"), ("ip6", "nexthdr")):
        if negated:
            raise _NotSimple("negated protocol")
        return match._replace(protocols=_nft_names(right), family=_FAMILY[proto][0] if proto else match.family)
    if meta in ("iifname", "iif") and isinstance(right, str):
        return match._replace(interface=bang + right)
    if meta == "nfproto" and right in ("ipv4", "ipv6") and not negated:
        return match._replace(family=right)
    if field == "dport" and proto in (*L4_PROTOCOLS, "th"):
        if negated:
            raise _NotSimple("negated port")
        protocols = match.protocols if proto == "th" else (proto,)
        return match._replace(protocols=protocols, ports=_nft_ports(right, sets))
    if field == "daddr" and proto in ("ip", "ip6"):
        if isinstance(right, dict) and isinstance(right.get("prefix"), dict):
            right = f"{right['prefix']['addr']}/{right['prefix']['len']}"
        if not isinstance(right, str):
            raise _NotSimple(f"addresses {right!r}")
        return match._replace(address=bang + _host(right), family=_FAMILY[proto][0])
    return match  # other matches (fib, ct, marks, saddr) narrow what we list but do not change it


def _nft_step(rule: dict[str, Any], sets: dict[str, Any]) -> _Step | None:
    evidence = f"table {rule.get('family')} {rule.get('table')} chain {rule.get('chain')} handle {rule.get('handle')}"
    try:
        return _nft_expressions(rule, sets, evidence)
    except (_NotSimple, ValueError, TypeError, KeyError) as exc:  # ValueError...: a malformed value
        what = str(exc) if isinstance(exc, _NotSimple) else f"malformed ({type(exc).__name__}: {exc})"
        raise _NotSimple(f"{what} in {evidence}") from exc


def _nft_expressions(rule: dict[str, Any], sets: dict[str, Any], evidence: str) -> _Step | None:
    match = _Match()
    for expr in rule.get("expr") or ():
        for kind, body in expr.items() if isinstance(expr, dict) else ():
            if kind == "match" and isinstance(body, dict):
                match = _nft_match(match, body, sets)
            elif kind in ("jump", "goto") and isinstance(body, dict):
                return _Step(match, str(body.get("target")), False, None, None, evidence, rule.get("handle"))
            elif kind in ("dnat", "redirect") and isinstance(body, dict):
                address = body.get("addr")
                if isinstance(address, dict) and "range" in address:
                    address = "-".join(str(a) for a in address["range"])
                if address is not None and not isinstance(address, str):
                    raise _NotSimple(f"{kind} to {address!r}")
                port = body.get("port")
                to_ports = _nft_ports(port, {})[0] if port is not None else None
                if body.get("family") in ("ip", "ip6"):
                    match = match._replace(family=_FAMILY[body["family"]][0])
                return _Step(match, None, True, address, to_ports, evidence, rule.get("handle"))
            elif kind == "vmap":
                raise _NotSimple("a verdict map")
            elif kind == "xt" and isinstance(body, dict) and (body.get("type"), body.get("name")) in _OPAQUE:
                raise _NotSimple(f"iptables-nft's {body['name']} {body['type']}, which only iptables-save shows")
    return None


def xtables_tables(doc: Any) -> set[tuple[str, str]]:
    """Tables holding rules iptables-nft wrote with targets nft's JSON cannot show (``xt``)."""
    found: set[tuple[str, str]] = set()
    for item in doc.get("nftables", []) if isinstance(doc, dict) else ():
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict) and any(isinstance(e, dict) and "xt" in e for e in rule.get("expr") or ()):
            found.add((str(rule.get("family")), str(rule.get("table"))))
    return found


def nft_document_rules(doc: Any, skip: set[tuple[str, str]]) -> DnatRuleList:
    """The rules of a parsed ``nft -j`` document, leaving out the tables in ``skip`` (read elsewhere)."""
    tables: dict[tuple[str, str], dict[str, list[_Step]]] = {}
    roots: dict[tuple[str, str], list[tuple[int, int, str]]] = {}
    sets: dict[tuple[str, str], dict[str, Any]] = {}
    rules: list[dict[str, Any]] = []
    for item in doc.get("nftables", []) if isinstance(doc, dict) else ():
        if not isinstance(item, dict):
            continue
        kind, body = next(iter(item.items()), ("", None))
        if not isinstance(body, dict) or body.get("family") not in ("ip", "ip6", "inet"):
            continue
        key = (str(body["family"]), str(body.get("table")))
        if kind == "chain":
            tables.setdefault(key, {}).setdefault(str(body.get("name")), [])
            if body.get("type") == "nat" and body.get("hook") in ("prerouting", "output"):
                hook_order = 0 if body["hook"] == "prerouting" else 1
                prio: int = body["prio"] if isinstance(body.get("prio"), int) else 0
                roots.setdefault(key, []).append((hook_order, prio, str(body.get("name"))))
        elif kind == "set" and isinstance(body.get("elem"), list):
            sets.setdefault(key, {})[str(body.get("name"))] = body["elem"]
        elif kind == "rule" and key not in skip:
            rules.append(body)
    skipped: list[str] = []
    for rule in rules:
        key = (str(rule["family"]), str(rule.get("table")))
        try:
            step = _nft_step(rule, sets.get(key, {}))
        except _NotSimple as exc:
            skipped.append(str(exc))
            continue
        if step is not None:
            tables.setdefault(key, {}).setdefault(str(rule.get("chain")), []).append(step)
    out = DnatRuleList()
    cut = False
    for key, chains in tables.items():
        found, table_cut = _walk(chains, [name for _, _, name in sorted(roots.get(key, []))], _FAMILY[key[0]], "nft")
        out.extend(found)
        cut = cut or table_cut
    out.reasons = _skip_reasons(skipped, cut)
    return out


def parse_nft_ruleset(text: str) -> DnatRuleList:
    """The DNAT and redirect rules reached from the nat hooks in ``nft -j list ruleset`` output."""
    import json

    return nft_document_rules(json.loads(text), set())
