"""``servicelab live``: the live stack on 127.0.0.1 -- up, status, logs, scale, autoscale, load, trace, down.

A thin layer over :class:`live.supervisor.Stack`: parse, call, render. Mistakes (an unknown service,
a bad ``--replicas``) and failures (an instance that died while starting) print one clear message
and exit with code 1.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

from chaos.hook import ChaosHook, chaos_of
from live.config.client import ConfigClient, ConfigClientError, parse_value
from live.config.environments import ENVIRONMENTS
from live.events.choice import choose_broker
from live.monitoring import PrometheusHook, prometheus_of
from live.stacks import existing_stack
from live.supervisor import READY_TIMEOUT, SERVICES, Stack, StackError, StackState
from live.supervisor.prepare import preparations

__all__ = ["app"]

app = typer.Typer(help="Run the live stack: real services on 127.0.0.1.", no_args_is_help=True)
console = Console(width=120) if not sys.stdout.isatty() else Console()
errors = Console(stderr=True)

StateDirOpt = Annotated[
    Path,
    typer.Option(
        "--state-dir",
        envvar="SERVICELAB_STATE_DIR",
        help="Folder of the stack's state file, logs, traces, data and secrets.",
    ),
]
DEFAULT_STATE_DIR = Path(".servicelab/live")


def _fail(message: str) -> NoReturn:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def parse_replicas(text: str) -> dict[str, int]:
    """``orders=2,inventory=3`` -> ``{"orders": 2, "inventory": 3}`` (ValueError naming the bad part)."""
    counts: dict[str, int] = {}
    for part in filter(None, (piece.strip() for piece in text.split(","))):
        name, equals, number = part.partition("=")
        if not equals or not number.strip().isdigit():
            raise ValueError(f"--replicas: {part!r} is not SERVICE=COUNT (e.g. orders=2)")
        if name.strip() not in SERVICES:
            raise ValueError(
                f"--replicas: unknown service {name.strip()!r}; the stack has {', '.join(SERVICES)}"
            )
        counts[name.strip()] = int(number)
    return counts


def _table(state: StackState) -> Table:
    table = Table(title=f"servicelab live stack ({state.state_dir})")
    for column in ("service", "instance", "pid", "url"):
        table.add_column(column)
    for record in sorted(state.instances, key=lambda r: (SERVICES.index(r.service), r.number)):
        table.add_row(record.service, record.instance, str(record.pid), record.url)
    return table


@app.command()
def up(
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    replicas: Annotated[str, typer.Option(help="Instances per service, e.g. orders=2,inventory=2.")] = "",
    gateway_config: Annotated[
        Path | None, typer.Option(help="The gateway's routes and policies (YAML); default: the bundled one.")
    ] = None,
    timeout: Annotated[
        float, typer.Option(help="Seconds to wait for every instance to be ready.")
    ] = READY_TIMEOUT,
    mtls: Annotated[
        bool, typer.Option(help="Mutual TLS between services, and the mesh access policy enforced.")
    ] = False,
    mesh_policy: Annotated[
        Path | None, typer.Option(help="With --mtls: who may call whom (YAML); default: the bundled one.")
    ] = None,
    prometheus: Annotated[
        bool, typer.Option(help="Also run Prometheus (the `prometheus` program) scraping every instance.")
    ] = False,
    env: Annotated[
        str,
        typer.Option(
            help=f"Configuration environment: {', '.join(ENVIRONMENTS)} (live/config/environments)."
        ),
    ] = "dev",
    broker: Annotated[
        str | None,
        typer.Option(help="Events on Redis Streams at redis://127.0.0.1:PORT; default: the embedded broker."),
    ] = None,
    chaos: Annotated[
        bool, typer.Option(help="A Toxiproxy proxy on every service-to-service edge, for chaos experiments.")
    ] = False,
    toxiproxy_url: Annotated[
        str | None,
        typer.Option(help="With --chaos: a running toxiproxy-server's API; default: the embedded one."),
    ] = None,
) -> None:
    """Start the stack (registry, broker, config, users, inventory, orders, gateway), wait until ready, and
    return."""
    try:
        counts = parse_replicas(replicas)
    except ValueError as error:
        _fail(str(error))
    if gateway_config is not None and not gateway_config.is_file():
        _fail(f"--gateway-config: no file {gateway_config}")
    if mesh_policy is not None and not mtls:
        _fail("--mesh-policy: only with --mtls")
    if mesh_policy is not None and not mesh_policy.is_file():
        _fail(f"--mesh-policy: no file {mesh_policy}")
    if env not in ENVIRONMENTS:
        _fail(f"--env: unknown environment {env!r}; known: {', '.join(ENVIRONMENTS)}")
    try:
        record_broker = choose_broker(broker)
    except ValueError as error:
        _fail(str(error))
    if toxiproxy_url is not None and not chaos:
        _fail("--toxiproxy-url: only with --chaos")
    hooks = [PrometheusHook()] if prometheus else []
    if chaos:
        hooks.append(ChaosHook(toxiproxy_url))
    stack = Stack(
        state_dir,
        gateway_config=gateway_config,
        prepare=(*preparations(env), record_broker),
        hooks=hooks,
        mtls=mtls,
        mesh_policy=mesh_policy,
    )
    stack.state.options["environment"] = env
    try:
        with console.status("starting the stack..."):
            state = stack.up(counts, timeout=timeout)
    except StackError as error:
        _fail(str(error))
    console.print(_table(state))
    if (record := prometheus_of(state)) is not None:
        console.print(f"prometheus: {record.url}   alerts: {record.url}/alerts")
    if (toxiproxy := chaos_of(state)) is not None:
        console.print(f"toxiproxy: {toxiproxy.url}   edges: {state.state_dir}/edges.json")
    console.print(f"gateway: {state.url('gateway')}/api/   state: {state.path}   stop: servicelab live down")
    console.print(f"environment: {env}   change settings live: servicelab live config set KEY VALUE")


@app.command()
def status(state_dir: StateDirOpt = DEFAULT_STATE_DIR) -> None:
    """Every instance of the stack, whether its process runs and whether it is ready."""
    try:
        rows = Stack(state_dir).status()
    except StackError as error:
        _fail(str(error))
    if not rows:
        _fail(f"no stack runs in {state_dir}")
    table = Table(title=f"servicelab live stack ({state_dir})")
    for column in ("service", "instance", "pid", "url", "process", "ready"):
        table.add_column(column)
    for row in sorted(rows, key=lambda row: (SERVICES.index(row["service"]), row["instance"])):
        table.add_row(
            row["service"],
            row["instance"],
            str(row["pid"]),
            row["url"],
            "running" if row["alive"] else "[red]gone[/red]",
            "yes" if row["ready"] else "[red]no[/red]",
        )
    console.print(table)


@app.command()
def logs(
    service: Annotated[
        str, typer.Argument(help="A service (all its instances) or one instance, e.g. orders-2.")
    ],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    lines: Annotated[int, typer.Option("--lines", "-n", min=1, help="Last lines per instance.")] = 50,
) -> None:
    """Print the last JSON log lines of a service's instances."""
    folder = state_dir / "logs"
    files = sorted(folder.glob(f"{service}.log")) or sorted(folder.glob(f"{service}-*.log"))
    if not files:
        known = sorted(path.stem for path in folder.glob("*.log"))
        _fail(f"no logs for {service!r} in {folder}" + (f"; there are: {', '.join(known)}" if known else ""))
    for path in files:
        console.rule(path.stem)
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
        console.print("\n".join(text), markup=False, highlight=False, soft_wrap=True)


@app.command()
def scale(
    service: Annotated[str, typer.Argument(help="users, inventory or orders.")],
    count: Annotated[int, typer.Argument(help="How many instances to run.")],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
) -> None:
    """Start or gracefully stop instances of SERVICE until COUNT run."""
    try:
        state = existing_stack(state_dir).scale(service, count)
    except StackError as error:
        _fail(str(error))
    console.print(_table(state))


@app.command()
def autoscale(
    service: Annotated[str, typer.Argument(help="users, inventory or orders.")],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    target: Annotated[float, typer.Option(help="Requests per second per replica to aim for.")] = 10.0,
    min_replicas: Annotated[int, typer.Option("--min", min=1, help="Never fewer replicas.")] = 1,
    max_replicas: Annotated[int, typer.Option("--max", help="Never more replicas.")] = 4,
    period: Annotated[str, typer.Option(help="Time between measurements (the HPA's sync period).")] = "1s",
    duration: Annotated[str, typer.Option(help="How long to run, e.g. 2min.")] = "60s",
    tolerance: Annotated[float, typer.Option(help="No change while |metric/target - 1| <= this.")] = 0.1,
    up_window: Annotated[str, typer.Option(help="Scale-up stabilization window.")] = "0s",
    down_window: Annotated[str, typer.Option(help="Scale-down stabilization window.")] = "30s",
    max_change: Annotated[int | None, typer.Option(min=1, help="At most this many replicas per period.")] = (
        None
    ),
) -> None:
    """Scale SERVICE with the Kubernetes HPA rule on requests/s per replica, read from its /metrics."""
    from live.autoscaler import Decision, request_rate_hpa
    from live.autoscaler import autoscale as run_autoscaler
    from simulator.units import parse_duration

    try:
        given = {"period": period, "duration": duration, "up-window": up_window, "down-window": down_window}
        seconds = {name: parse_duration(text) for name, text in given.items()}
        hpa = request_rate_hpa(
            target,
            min_replicas,
            max_replicas,
            period=seconds["period"],
            tolerance=tolerance,
            scale_up_window=seconds["up-window"],
            scale_down_window=seconds["down-window"],
            max_change=max_change,
        )
    except ValueError as error:
        _fail(str(error))

    def show(decision: Decision) -> None:
        change = "" if decision.desired == decision.replicas else f" -> {decision.desired}"
        console.print(
            f"{decision.at:7.1f} s  {service}: {decision.replicas}{change} replicas"
            f"  ({decision.per_replica:.1f} req/s per replica, target {target:g})"
        )

    try:
        stack = existing_stack(state_dir)
        decisions = run_autoscaler(
            stack, service, hpa, period=seconds["period"], duration=seconds["duration"], on_decision=show
        )
    except (StackError, ValueError) as error:
        _fail(str(error))
    console.print(f"done after {len(decisions)} decisions: {service} runs {len(stack.state.of(service))}")


def _gateway(state_dir: Path) -> str:
    state = StackState.load(state_dir)
    url = state.url("gateway") if state is not None else None
    if url is None:
        _fail(f"no stack runs in {state_dir}: `servicelab live up` first")
    return url


@app.command()
def load(
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    rate: Annotated[str, typer.Option(help="Offered load, e.g. 200/s.")] = "50/s",
    duration: Annotated[str, typer.Option(help="How long to send, e.g. 30s.")] = "10s",
    mix: Annotated[str, typer.Option(help="Actions and their shares, e.g. browse=0.7,order=0.3.")] = (
        "browse=0.7,order=0.3"
    ),
    process: Annotated[str, typer.Option(help="Send times: poisson or constant.")] = "poisson",
    seed: Annotated[int, typer.Option(help="Seed of the send times and the actions.")] = 0,
    max_requests: Annotated[int | None, typer.Option(help="Stop after this many requests.")] = None,
    max_in_flight: Annotated[int, typer.Option(help="More at once are dropped, not queued.")] = 500,
    timeout: Annotated[float, typer.Option(help="Seconds before a request counts as timed out.")] = 10.0,
    csv: Annotated[Path | None, typer.Option(help="Write one row per request here.")] = None,
) -> None:
    """Open-loop load through the gateway: send times fixed in advance, so slow answers never slow the
    schedule (no coordinated omission); summarized with the simulator's metrics."""
    from live.loadgen import (  # imported here: the simulator's summary is heavy for the other commands
        Limits,
        SetupError,
        generator_metrics,
        generator_note,
        load_shop,
        load_summary,
        summary_table,
        write_spans,
    )

    gateway = _gateway(state_dir)
    if process not in ("poisson", "constant"):
        _fail(f"--process: {process!r} is not poisson or constant")
    try:
        result = load_shop(
            gateway,
            rate=rate,
            duration=duration,
            mix=mix,
            process=process,  # type: ignore[arg-type]
            seed=seed,
            max_requests=max_requests,
            limits=Limits(max_in_flight=max_in_flight, timeout=timeout),
            progress=sys.stdout.isatty(),
        )
    except (ValueError, SetupError) as error:
        _fail(str(error))
    write_spans(result, state_dir / "traces" / "loadgen.jsonl")
    console.print(summary_table({"live": load_summary(result)}, title=f"load: {rate} for {duration}, {mix}"))
    console.print(generator_note(generator_metrics(result)))
    if csv is not None:
        result.to_csv(csv)
        console.print(f"requests: {csv}")


@app.command()
def trace(
    trace_id: Annotated[
        str | None, typer.Argument(help="A trace id (or a unique prefix); default: the latest trace.")
    ] = None,
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    services: Annotated[
        int, typer.Option(help="Without TRACE_ID: the latest trace touching this many services.")
    ] = 1,
) -> None:
    """Print a request's span tree across gateway, orders and inventory, with timings."""
    from live.traceview import TraceNotFoundError, load_traces, pick_trace, render_trace

    found = load_traces(state_dir)
    for problem in found.problems[:10]:
        errors.print(f"skipped: {problem}", markup=False, highlight=False)
    try:
        chosen = pick_trace(found, trace_id, min_services=services)
    except TraceNotFoundError as error:
        _fail(str(error))
    console.print(render_trace(chosen))


@app.command()
def down(state_dir: StateDirOpt = DEFAULT_STATE_DIR) -> None:
    """Stop every instance (draining first) and remove the state file."""
    try:
        stack = existing_stack(state_dir)
        if not stack.state.instances:
            console.print(f"no stack runs in {state_dir}")
            return
        killed = stack.down()
    except StackError as error:
        _fail(str(error))
    note = f" ({', '.join(killed)} did not drain in time and were killed)" if killed else ""
    console.print(f"stopped{note}")


config_app = typer.Typer(
    help="Read and change the stack's configuration (the config service).", no_args_is_help=True
)
app.add_typer(config_app, name="config")


def _config_client(state_dir: Path) -> ConfigClient:
    try:
        return ConfigClient.for_stack(state_dir)
    except ConfigClientError as error:
        _fail(str(error))


def _entry_line(entry: dict[str, Any]) -> str:
    return f"{entry['key']} = {json.dumps(entry['value'])}   (version {entry['version']}, {entry['source']})"


@config_app.command("get")
def config_get(
    key: Annotated[str, typer.Argument(help="A dotted key, e.g. gateway.rate_limit.rate.")],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
) -> None:
    """Print KEY's value (JSON), its version and where it comes from (environment or runtime)."""
    try:
        entry = _config_client(state_dir).get(key)
    except ConfigClientError as error:
        _fail(str(error))
    console.print(_entry_line(entry), markup=False, highlight=False, soft_wrap=True)


@config_app.command("set")
def config_set(
    key: Annotated[str, typer.Argument(help="A dotted key, e.g. gateway.rate_limit.rate.")],
    value: Annotated[str, typer.Argument(help='JSON (2, true, {"rate": 5}), else taken as a string.')],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
    expect_version: Annotated[
        int | None, typer.Option(min=0, help="Write only if KEY is still at this version (0: never written).")
    ] = None,
) -> None:
    """Write KEY at run time; services that follow it pick it up without a restart."""
    try:
        entry = _config_client(state_dir).set(key, parse_value(value), expect_version)
    except ConfigClientError as error:
        _fail(str(error))
    console.print(_entry_line(entry), markup=False, highlight=False, soft_wrap=True)


@config_app.command("unset")
def config_unset(
    key: Annotated[str, typer.Argument(help="A dotted key with a run-time value.")],
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
) -> None:
    """Drop KEY's run-time value: it falls back to the environment's value, if any."""
    try:
        entry = _config_client(state_dir).unset(key)
    except ConfigClientError as error:
        _fail(str(error))
    gone = entry["source"] == "deleted"
    console.print(
        f"{key} removed" if gone else _entry_line(entry), markup=False, highlight=False, soft_wrap=True
    )


@config_app.command("list")
def config_list(
    prefix: Annotated[str, typer.Argument(help="Only keys starting with this, e.g. gateway.")] = "",
    state_dir: StateDirOpt = DEFAULT_STATE_DIR,
) -> None:
    """Every key (under PREFIX) with its value, version and source."""
    try:
        answer = _config_client(state_dir).list(prefix)
    except ConfigClientError as error:
        _fail(str(error))
    table = Table(title=f"config ({answer['environment']}, version {answer['version']})")
    for column in ("key", "value", "version", "source"):
        table.add_column(column)
    for entry in answer["entries"]:
        table.add_row(entry["key"], json.dumps(entry["value"]), str(entry["version"]), entry["source"])
    console.print(table)
