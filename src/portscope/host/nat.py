"""NAT on this host: the published ports (DNAT rules) and the connections they rewrite (conntrack).

Everything here reads the network namespace of the calling *thread*: call it inside
:func:`portscope.host.namespaces.enter` for another one. /proc/net is the thread-group leader's
namespace (see namespaces.py), so the table is read from /proc/thread-self/net/nf_conntrack, and the
tools run as subprocesses, which start in the caller's namespace.

Rules come from two places, because neither shows them all:

- ``nft -j list ruleset`` (libnftables-json(5)) for native nftables rules. Rules that iptables-nft
  wrote (Docker, kube-proxy on Debian 11+ and RHEL 8+) are in it too, but their DNAT targets are
  opaque: nft 1.0.6 prints ``{"xt": {"type": "target", "name": "DNAT"}}`` with no address.
- ``iptables-save -t nat`` / ``ip6tables-save`` for those tables, read instead of nft's view of
  them, and for the legacy backend, whose rules nft never sees. Legacy tables are read only when
  /proc/thread-self/net/ip_tables_names lists ``nat``: asking iptables-legacy for a table that is
  not there makes the kernel load the modules for it.

How rules are read, chains followed and what is left out: :mod:`portscope.host._natrules`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from portscope.host._natrules import (
    L4_PROTOCOLS,
    DnatRuleList,
    nft_document_rules,
    parse_iptables_save,
    parse_nft_ruleset,
    xtables_tables,
)
from portscope.records import ConntrackUsage, NatMapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "DnatRuleList",
    "NatMappingList",
    "conntrack_usage",
    "dnat_rules",
    "nat_mappings",
    "parse_conntrack_line",
    "parse_iptables_save",
    "parse_nft_ruleset",
]

_NETFILTER = "/proc/sys/net/netfilter/"
_ROOT_HINT = "needs root (CAP_NET_ADMIN)"


class NatMappingList(list[NatMapping]):
    """:func:`nat_mappings`' answer: the NAT'd entries among the ``scanned`` conntrack entries.

    ``truncated``: the table had more than the limit; ``bad``: lines not understood; ``source``: the
    file or command read (None if none could be); ``reasons``: why it may be incomplete.
    """

    def __init__(self) -> None:
        super().__init__()
        self.scanned = 0
        self.bad = 0
        self.truncated = False
        self.source: str | None = None
        self.reasons: list[str] = []


# ---- conntrack ----------------------------------------------------------------------------------


def _read(path: str) -> str:
    with open(path, encoding="ascii", errors="replace") as handle:
        return handle.read()


def conntrack_usage() -> ConntrackUsage | None:
    """nf_conntrack_count and nf_conntrack_max of the caller's namespace; None when nf_conntrack is not loaded.

    A max of 0 means no limit: ``__nf_conntrack_alloc()`` (nf_conntrack_core.c) checks only a non-zero max.
    """
    try:
        count = int(_read(_NETFILTER + "nf_conntrack_count"))
    except FileNotFoundError:
        return None
    try:
        maximum = int(_read(_NETFILTER + "nf_conntrack_max")) or None
    except FileNotFoundError:
        maximum = None
    return ConntrackUsage(count, maximum, _NETFILTER + "nf_conntrack_count")


def _ipv6(text: str) -> str:
    import ipaddress  # /proc prints every IPv6 address in full: 0000:...:0001

    return ipaddress.IPv6Address(text).compressed


def parse_conntrack_line(line: str) -> NatMapping | None:
    """One line of /proc/net/nf_conntrack or ``conntrack -L [-o extended]``; None when not NAT'd.

    The first ``src= dst= sport= dport=`` are the original direction, the second the reply's: DNAT
    shows as a reply source other than the original destination, SNAT as a reply destination other
    than the original source (conntrack(8)). Entries without ports (icmp) give None.
    Raises ValueError on a line that is not a conntrack entry.
    """
    parts = line.split()
    family: str | None = None
    if parts and parts[0] in ("ipv4", "ipv6"):
        family, parts = parts[0], parts[2:]
    if len(parts) < 4 or not parts[1].isdigit():
        raise ValueError(f"not a conntrack entry: {line.strip()!r}")
    protocol = parts[0]
    if protocol not in L4_PROTOCOLS:
        return None
    state = parts[3] if "=" not in parts[3] and not parts[3].startswith("[") else None
    orig: dict[str, str] = {}
    reply: dict[str, str] = {}
    for token in parts[3:]:
        key, sep, value = token.partition("=")
        if sep and key in ("src", "dst", "sport", "dport"):
            (orig if key not in orig else reply).setdefault(key, value)
    if len(orig) < 4 or len(reply) < 4:
        raise ValueError(f"conntrack entry without both tuples: {line.strip()!r}")
    dnat = reply["src"] != orig["dst"] or reply["sport"] != orig["dport"]
    snat = reply["dst"] != orig["src"] or reply["dport"] != orig["sport"]
    if not (dnat or snat):
        return None
    family = family or ("ipv6" if ":" in orig["src"] else "ipv4")
    addr = _ipv6 if family == "ipv6" else str
    return NatMapping(
        family,
        protocol,
        addr(orig["src"]),
        int(orig["sport"]),
        addr(orig["dst"]),
        int(orig["dport"]),
        addr(reply["src"]) if dnat else None,
        int(reply["sport"]) if dnat else None,
        addr(reply["dst"]) if snat else None,
        int(reply["dport"]) if snat else None,
        state,
    )


def _collect(lines: Iterable[str], limit: int, out: NatMappingList) -> None:
    for line in lines:
        if out.scanned >= limit:
            out.truncated = True
            return
        out.scanned += 1
        try:
            mapping = parse_conntrack_line(line)
        except ValueError:
            out.bad += 1
            continue
        if mapping is not None:
            out.append(mapping)


def _stream_conntrack(tool: str, limit: int, timeout: float, out: NatMappingList) -> str | None:
    """Read ``conntrack -L -o extended`` line by line (a big table is hundreds of MB); a reason on failure."""
    import subprocess
    import threading

    argv = [tool, "-L", "-o", "extended"]
    try:
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, errors="replace")
    except OSError as exc:
        return f"conntrack -L: {exc.strerror}"
    expired = threading.Event()

    def expire() -> None:  # a stalled read cannot outlive the timeout
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None  # noqa: S101 (PIPE was asked for)
        _collect(proc.stdout, limit, out)
        if out.truncated:
            proc.kill()
        error = proc.stderr.read()
        code = proc.wait(timeout=5)
    finally:
        timer.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=5)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    if out.truncated or (code == 0 and not expired.is_set()):
        out.source = "conntrack -L -o extended"
        return None
    if expired.is_set():
        return f"conntrack -L did not finish in {timeout:g} s"
    denied = " " + _ROOT_HINT if "root" in error or "not permitted" in error.lower() else ""
    last = (error.strip().splitlines() or [f"exit status {code}"])[-1]
    return f"conntrack -L{denied}: {last}"


def nat_mappings(*, limit: int = 100_000, timeout: float = 10.0) -> NatMappingList:
    """The NAT'd connections (DNAT, SNAT or both) among the first ``limit`` conntrack entries.

    Reads /proc/thread-self/net/nf_conntrack (root only, mode 0440), else ``conntrack -L -o extended``
    (CAP_NET_ADMIN), which prints the same lines. A bigger table is cut at ``limit`` and says so.
    """
    out = NatMappingList()
    usage = conntrack_usage()
    if usage is None:
        out.reasons.append("nf_conntrack is not loaded: no connection is tracked, none is NAT'd")
        return out
    proc_file = "/proc/thread-self/net/nf_conntrack"
    if not os.path.exists("/proc/thread-self"):  # Linux < 3.17: the process's namespace
        proc_file = "/proc/net/nf_conntrack"
    try:
        with open(proc_file, encoding="ascii", errors="replace") as handle:
            _collect(handle, limit, out)
        out.source = proc_file
    except FileNotFoundError:  # kernels built without CONFIG_NF_CONNTRACK_PROCFS
        pass
    except PermissionError:
        out.reasons.append(f"reading {proc_file} needs root (it is mode 0440)")
    if out.source is None:
        tool = _which("conntrack")
        reason = "conntrack(8) is not installed" if tool is None else _stream_conntrack(tool, limit, timeout, out)
        if reason is not None:
            out.reasons.append(reason)
    if out.truncated:
        out.reasons.append(f"stopped after {limit} of about {usage.entries} conntrack entries")
    if out.bad:
        out.reasons.append(f"{out.bad} conntrack lines were not understood")
    return out


# ---- rules --------------------------------------------------------------------------------------


def _which(name: str) -> str | None:
    import shutil

    # /usr/sbin is often missing from a user's PATH, and nft, iptables-save and conntrack live there.
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", os.defpath), "/usr/sbin", "/sbin"]))


def _run(argv: list[str], timeout: float) -> tuple[str | None, str | None]:
    """(stdout, None), or (None, a reason to print) when the tool is missing, refused or too slow."""
    import subprocess

    command = " ".join(argv)
    tool = _which(argv[0])
    if tool is None:
        return None, f"{argv[0]} is not installed"
    try:
        done = subprocess.run(
            [tool, *argv[1:]], capture_output=True, text=True, errors="replace", timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return None, f"{command} did not finish in {timeout:g} s"
    except OSError as exc:
        return None, f"{command}: {exc.strerror}"
    if done.returncode != 0:
        error = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        denied = any(word in done.stderr.lower() for word in ("not permitted", "permission denied", "must be root"))
        return None, f"{command}{' ' + _ROOT_HINT if denied else ''}: {error}"
    return done.stdout, None


def _backend(save: str, timeout: float) -> str | None:
    """``legacy`` or ``nft``: which kernel API an iptables-save talks to; None when not installed."""
    path = _which(save)
    if path is None:
        return None
    name = os.path.basename(os.path.realpath(path))  # Debian: iptables-save -> ... -> xtables-nft-multi
    if "legacy" in name or "nft" in name:
        return "legacy" if "legacy" in name else "nft"
    version, _ = _run([save, "--version"], timeout)
    return "nft" if version is not None and "nf_tables" in version else "legacy"  # before 1.8: legacy only


def _legacy_nat_in_use(nft_family: str) -> bool:
    name = "ip_tables_names" if nft_family == "ip" else "ip6_tables_names"
    for directory in ("/proc/thread-self/net/", "/proc/net/"):
        try:
            return "nat" in _read(directory + name).split()
        except FileNotFoundError:
            continue
        except PermissionError:
            return False
    return False


def dnat_rules(*, timeout: float = 10.0) -> DnatRuleList:
    """Every DNAT and REDIRECT rule of the caller's namespace, from nft and iptables (see the module doc).

    Reading rules needs CAP_NET_ADMIN: without it the list is empty and ``reasons`` says so.
    """
    import json

    out = DnatRuleList()
    doc: Any = None
    text, nft_reason = _run(["nft", "-j", "list", "ruleset"], timeout)
    if text is not None:
        try:
            doc = json.loads(text or "{}")
        except ValueError as exc:
            nft_reason = f"nft -j list ruleset printed no JSON: {exc}"
    if nft_reason is not None and not nft_reason.endswith("not installed"):
        out.reasons.append(nft_reason)
    opaque = xtables_tables(doc)
    read_by_iptables: set[tuple[str, str]] = set()
    for nft_family, family in (("ip", "ipv4"), ("ip6", "ipv6")):
        backend = _backend(f"{nft_family}tables-save", timeout)
        runs: list[str] = []
        if backend == "nft" and (doc is None or (nft_family, "nat") in opaque):
            runs.append(f"{nft_family}tables-save")
        if _legacy_nat_in_use(nft_family):
            runs.append(f"{nft_family}tables-{'' if backend == 'legacy' else 'legacy-'}save")
        for save in runs:
            saved, reason = _run([save, "-t", "nat"], timeout)
            if saved is None or "incompatible" in saved:
                out.reasons.append(reason or f"{save} -t nat: the nat table is incompatible with iptables")
                continue
            parsed = parse_iptables_save(saved, family)
            out.extend(parsed)
            out.reasons.extend(parsed.reasons)
            if backend == "nft" and "legacy" not in save:
                read_by_iptables.add((nft_family, "nat"))
    if doc is not None:
        parsed = nft_document_rules(doc, read_by_iptables)
        out.extend(parsed)
        out.reasons.extend(parsed.reasons)
    elif nft_reason is not None and nft_reason.endswith("not installed") and not out:
        out.reasons.insert(0, nft_reason)
    return out
