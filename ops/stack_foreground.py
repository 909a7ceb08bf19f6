"""`silobridge airflow`: the local Airflow (and province gateway) until Ctrl-C.

Starts an AirflowStack, prints where the UI is and how to log in, then waits. Ctrl-C or
SIGTERM stops the whole stack (every process either child started) and the command says
whether anything was left running.
"""

from __future__ import annotations

import signal
import time
from types import FrameType

from rich.console import Console

from silobridge.settings import Settings

from .stack import AirflowStack, StackError


class _StopRequested(Exception):
    pass


def airflow_command(settings: Settings, console: Console, port: int) -> int:
    """Run the stack in the foreground; return the exit code (0 when it stopped clean).
    A port in use raises PortTaken before anything starts (the caller says it in one
    line)."""
    stack = AirflowStack(settings, port=port)
    stack.check_ports()
    stopping = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # raise only once: a second Ctrl-C must not interrupt the clean-up itself
        nonlocal stopping
        if not stopping:
            stopping = True
            raise _StopRequested(signal.Signals(signum).name)

    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    code, left = 0, []
    try:
        code = _run(stack, console)
    except _StopRequested as e:
        console.print(f"\n{e} received: stopping Airflow and the gateway…")
    finally:
        stopping = True
        try:
            left = stack.stop()
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
    if left:
        console.print(f"[bold red]error:[/] still running after stop: pids "
                      f"{', '.join(map(str, left))}", highlight=False)
        return 1
    console.print("stopped: no process of the stack is left running")
    return code


def _run(stack: AirflowStack, console: Console) -> int:
    """Start, show how to log in, wait; return 1 when something failed on its own."""
    console.print(f"starting Airflow on {stack.url} (about a minute)", highlight=False)
    console.print(f"logs: {stack.log_dir}", highlight=False)
    try:
        stack.start()
        if stack.gateway_url:
            console.print(f"province gateway on {stack.gateway_url}", highlight=False)
        stack.wait_ready()
    except StackError as e:
        console.print(f"[bold red]error:[/] {e}", highlight=False)
        return 1
    console.print(f"\nAirflow is ready: [bold]{stack.url}[/]", highlight=False)
    console.print(f"  user:     {stack.username}", highlight=False)
    console.print(f"  password: {stack.password}", highlight=False)
    console.print("Ctrl-C stops everything.")
    _wait_while_running(stack)
    console.print("[bold red]error:[/] a process of the stack exited on its own; stopping "
                  "the rest", highlight=False)
    return 1


def _wait_while_running(stack: AirflowStack) -> None:
    """Return when a child of the stack has exited by itself."""
    while True:
        try:
            stack.check_children()
        except StackError:
            return
        time.sleep(1.0)
