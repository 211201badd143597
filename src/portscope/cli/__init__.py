"""The ``portscope`` command: thin sub-commands that parse, call the library, render, and set the exit code.

Exit codes (stable, documented in README.md), mapped here and nowhere else (:func:`exit_code`):
    0  success
    1  the command ran and found something at or above the asked severity (audit-style commands)
    2  usage or input error: a bad argument, an unreadable or malformed input (UsageError, DataError)
    3  a privilege or platform limit stopped the command (PlatformError)
  130  interrupted (Ctrl-C)
A sub-command returns 0 or 1 and raises PortscopeError for the rest: :func:`main` prints it as one
line, ``portscope COMMAND: what went wrong``, and exits with its code. Only this package writes to
stdout/stderr or exits; the library raises PortscopeError instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib import import_module
from types import ModuleType

from portscope import __version__
from portscope.errors import PlatformError, PortscopeError

__all__ = ["EXIT_FINDINGS", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_PLATFORM", "EXIT_USAGE", "exit_code", "main"]

EXIT_OK = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_PLATFORM = 3
EXIT_INTERRUPTED = 130


def exit_code(error: PortscopeError) -> int:
    """The exit code of an error: 3 when the platform or a missing privilege stopped us, else 2."""
    return EXIT_PLATFORM if isinstance(error, PlatformError) else EXIT_USAGE


_DESCRIPTION = """\
portscope tells you what a network port is, who uses it, and whether it is normal.
Run without a command, it summarises this host's sockets.
It cares most about ephemeral ports: the random high ports an OS picks for each outgoing connection,
which fill firewall logs, netstat and captures and confuse everyone.
"""

_EPILOG = """\
examples:
  portscope                         this host's ports on one screen: listeners, outbound and
                                    inbound connections grouped by service, ephemeral-port health
  portscope live --listen           every listening socket, its process and exposure
  portscope live --port 443         who uses port 443 right now (either side)
  portscope explain 56744           what is port 56744, and why is it in my logs?
  portscope explain 443/udp 5353/udp  several ports, with a protocol each
  portscope explain ssh             a service name (IANA, or /etc/services aliases such as www)
  portscope explain 49152-49160     a range: which OS ranges and assignments it overlaps
  portscope explain 61000 --os windows   judge the port as a Windows host would
  portscope explain 56744 --json    the same as a JSON document (portscope docs explain-json)
  portscope convert ufw.log* capture.pcap -o flows.parquet
                                    logs and captures into one flow table (portscope docs schema)
  portscope analyze ufw.log --html report.html
                                    every port explained; scans, beacons, backdoors found
  portscope docs live               the guide, shipped with the package (portscope docs: topics)

exit codes: 0 ok, 1 findings, 2 bad usage or input, 3 missing privilege, 130 interrupted.
Every command takes --json. Output is plain text when piped; set NO_COLOR to never colour.
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """argparse's formatter, told the terminal width up front.

    Without a width, argparse imports shutil (and with it bz2, lzma and zlib) for every parser and
    argument it makes: a tenth of ``portscope explain``'s start-up.
    """

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24, width: int | None = None):
        if width is None:
            try:
                width = os.get_terminal_size(sys.stdout.fileno()).columns - 2
            except (OSError, ValueError):
                width = 78
            width = min(width, 110)
        super().__init__(prog, indent_increment, max_help_position, width)


# Sub-commands in the order --help lists them: name -> the module that builds its parser.
# Each sub-command's module, imported only when that command runs or the whole parser is built (help):
# ``portscope explain`` need not load the others' (~1 ms of its start-up).
_COMMANDS = ("live", "explain", "convert", "analyze", "docs")


def _module(command: str) -> ModuleType:
    return import_module(f"portscope.cli.{command}")


def _command_in(argv: Sequence[str]) -> str | None:
    """The sub-command a command line names, if its first word is one (options may not come first);
    ``""`` when it names none and needs none (``portscope``, ``portscope --all``: the summary)."""
    if argv and argv[0] in _COMMANDS:
        return argv[0]
    needs_commands = any(not word.startswith("-") or word in ("-h", "--help") for word in argv)
    return None if needs_commands else ""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole parser, or (``only``) just one sub-command's (``""``: none): building every sub-command's
    options costs start-up time that ``portscope explain`` should not pay for ``live``'s flags, nor the
    summary for any."""
    parser = argparse.ArgumentParser(
        prog="portscope",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=HelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"portscope {__version__}")
    if not only:  # the summary's options; a command given first takes its own (options may not come first)
        _module("live").add_snapshot_options(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in _COMMANDS:
        if only is None or name == only:
            _module(name).add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (the console script exits with it)."""
    words = list(sys.argv[1:] if argv is None else argv)
    command = _command_in(words)
    # A sub-command may start work before its parser is built (``early(words)``): explain's look-up of
    # this host's sockets is kernel time that overlaps the rest of the start-up on the other core.
    early = getattr(_module(command or "live"), "early", None) if command is not None else None
    started = early(words[1:] if command else words) if early is not None else None
    parser = build_parser(only=command)
    args = parser.parse_args(words)
    args.early = started
    run = _module("live").run_summary if args.command is None else args.run
    name = "portscope" if args.command is None else f"portscope {args.command}"
    try:
        code: int = run(args)
        sys.stdout.flush()  # a full disk says so here, not in the interpreter's last flush
    except PortscopeError as error:
        from portscope.render.sanitize import for_terminal

        print(f"{name}: {for_terminal(str(error))}", file=sys.stderr)
        return exit_code(error)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``portscope ... | head``): not an error of ours.
        _stdout_to_devnull()
        return EXIT_OK
    except OSError as error:  # writing standard output failed: a full disk (> /dev/full), a closed terminal
        print(f"{name}: cannot write to standard output: {error.strerror or error}", file=sys.stderr)
        _stdout_to_devnull()
        return EXIT_USAGE
    return code


def _stdout_to_devnull() -> None:
    """Point stdout at devnull, so that the interpreter's final flush of what is left does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
