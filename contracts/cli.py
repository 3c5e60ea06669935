"""``servicelab contracts``: consumer-driven contract tests of the live stack, run from the command line.

* ``test``: the consumer tests write a fresh set of pacts into ``--pacts`` (default
  ``contracts/pacts/``); each provider is started on loopback and verified against them; the results
  are recorded there (``verifications.jsonl``) and the can-i-deploy matrix is printed. Exit 1 when a
  consumer test or a verification fails, or the current versions may not be deployed together.
* ``verify --provider orders --url http://127.0.0.1:PORT``: verify a provider that is already running
  (``servicelab live up``), seeding the databases in its stack state folder (``--state-dir``; its
  states reset them after every interaction: use a stack started for the purpose). Pacts come from
  ``--pacts`` (written by the consumer tests first if there are none); ``--broker-url`` adds the pacts
  a Pact Broker holds for the provider and publishes the results there. Nothing needs a broker.
* ``consumers``: the consumer tests alone (a pipeline's consumer stage: the pacts are its artifact).
* ``matrix``: the can-i-deploy matrix from the pacts and the recorded results; exit 1 unless every
  pact is verified by its provider's version in this checkout (a pipeline's can-i-deploy gate).

Pact is told ``PACT_DO_NOT_TRACK=true`` before it loads (:mod:`contracts.offline`).
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from contracts.matrix import can_i_deploy, matrix
from contracts.offline import go_offline
from contracts.pactfiles import PactFile, PactFileError, pact_files
from contracts.providers import PROVIDERS
from contracts.results import load_records, record_verification
from contracts.versions import version_of

__all__ = ["DEFAULT_PACTS", "app"]

DEFAULT_PACTS = Path(__file__).resolve().parent / "pacts"
DEFAULT_STATE_DIR = Path(".servicelab/live")

app = typer.Typer(
    help="Contract tests (Pact): consumer tests, provider verification, can-i-deploy.",
    callback=go_offline,  # before any command runs Pact
)
console = Console(highlight=False)
errors = Console(stderr=True)

PactsOpt = Annotated[Path, typer.Option(help="Folder of the pact files and the verification results.")]


def _fail(message: str) -> NoReturn:
    errors.print(message, markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def _consumers(folder: Path) -> tuple[list[PactFile], int]:
    """Run the consumer tests into ``folder``; the pacts and the number of failed tests."""
    from contracts.consumers import ConsumerTest, generate

    failed = 0

    def report(test: ConsumerTest, failure: BaseException | None) -> None:
        nonlocal failed
        if failure is None:
            console.print(f"  [green]passed[/]  {test.id}")
        else:
            failed += 1
            console.print(f"  [red]FAILED[/]  {test.id}: {type(failure).__name__}: {failure}", markup=True)

    console.print(f"[bold]Consumer tests[/] (pacts into {folder})")
    return generate(folder, report), failed


def _verify(provider: str, pacts: Sequence[PactFile], folder: Path, broker_url: str | None = None) -> bool:
    from contracts.providers import serve
    from contracts.providers.verification import verify

    with (
        tempfile.TemporaryDirectory(prefix=f"contracts-{provider}-") as state,
        serve(provider, Path(state)) as serving,
    ):
        verification = verify(
            provider, serving, pacts, provider_version=version_of(provider), broker_url=broker_url
        )
    record_verification(verification, folder)
    _print_verification(verification.summary(), verification.ok)
    return verification.ok


def _print_verification(summary: str, ok: bool) -> None:
    console.print(f"  {'[green]' if ok else '[red]'}{summary.splitlines()[0]}[/]")
    for line in summary.splitlines()[1:]:
        console.print(line, markup=False, soft_wrap=True)


def _matrix(folder: Path) -> bool:
    """Print the matrix and the can-i-deploy answer for the current versions; True if yes."""
    try:
        pacts, records = pact_files(folder), load_records(folder)
    except (PactFileError, ValueError) as error:
        _fail(f"servicelab contracts: {error}")
    current = {provider: version_of(provider) for provider in {p.provider for p in pacts}}
    rows = matrix(pacts, records, current)
    table = Table(
        title="can-i-deploy matrix (consumer version x provider version)",
        caption="* the provider's version in this checkout",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for column in ("consumer", "version", "provider", "version", "verified", "when (UTC)"):
        table.add_column(column, no_wrap=True)
    marks = {True: "[green]yes[/]", False: "[red]FAILED[/]", None: "[yellow]never[/]"}
    for row in rows:
        now = " *" if current.get(row.provider) == row.provider_version else ""
        table.add_row(
            row.consumer,
            row.consumer_version,
            row.provider,
            row.provider_version + now,
            marks[row.verified],
            row.verified_at[5:16].replace("T", " "),
        )
    console.print(table)
    decision = can_i_deploy(rows, pacts, current)
    if decision.ok:
        console.print(
            "[green]can-i-deploy: yes[/] -- every pact is verified by its provider's current version"
        )
    else:
        console.print("[red]can-i-deploy: no[/]")
        for reason in decision.reasons:
            console.print(f"  - {reason}", markup=False)
    return decision.ok


@app.command()
def consumers(pacts: PactsOpt = DEFAULT_PACTS) -> None:
    """Run the consumer tests only, writing a fresh set of pacts (a pipeline's consumer stage)."""
    _, failed = _consumers(pacts)
    if failed:
        raise typer.Exit(1)


@app.command("test")
def run_all(pacts: PactsOpt = DEFAULT_PACTS) -> None:
    """Run the consumer tests, verify every provider, print the can-i-deploy matrix."""
    written, failed = _consumers(pacts)
    console.print("[bold]Provider verification[/] (each provider on loopback, its own database)")
    verified = [_verify(provider, written, pacts) for provider in PROVIDERS]
    deployable = _matrix(pacts)
    if failed or not all(verified) or not deployable:
        raise typer.Exit(1)


@app.command()
def verify(
    provider: Annotated[str, typer.Option(help=f"The provider: {', '.join(PROVIDERS)}.")],
    url: Annotated[
        str | None, typer.Option(help="Base URL of the running provider (default: start one).")
    ] = None,
    state_dir: Annotated[
        Path, typer.Option(help="The running provider's stack state folder (its databases, its key).")
    ] = DEFAULT_STATE_DIR,
    pacts: PactsOpt = DEFAULT_PACTS,
    broker_url: Annotated[
        str | None, typer.Option(help="A Pact Broker: verify its pacts too and publish the results.")
    ] = None,
) -> None:
    """Verify PROVIDER (running at --url, or started here) against the pacts that name it."""
    if provider not in PROVIDERS:
        _fail(f"servicelab contracts verify: --provider {provider!r} is not one of {', '.join(PROVIDERS)}")
    if url is not None and not url.startswith(("http://", "https://")):
        _fail(f"servicelab contracts verify: --url {url!r} is not an http(s) URL")
    if url is not None and not (state_dir / "data").is_dir():
        _fail(f"servicelab contracts verify: {state_dir} is not a stack state folder (it has no data/)")
    try:
        found = pact_files(pacts, provider)
    except PactFileError as error:
        _fail(f"servicelab contracts verify: {error}")
    if not found and broker_url is None:
        found = [p for p in _consumers(pacts)[0] if p.provider == provider]
    if url is None:
        ok = _verify(provider, found, pacts, broker_url)
    else:
        ok = _verify_running(provider, url, state_dir, found, pacts, broker_url)
    if not ok:
        raise typer.Exit(1)


def _verify_running(
    provider: str, url: str, state_dir: Path, found: list[PactFile], pacts: Path, broker_url: str | None
) -> bool:
    from contracts.providers import attach
    from contracts.providers.verification import verify as run_verification

    with tempfile.TemporaryDirectory(prefix="contracts-scratch-") as scratch:
        try:
            with attach(provider, url, state_dir, Path(scratch)) as serving:
                verification = run_verification(
                    provider, serving, found, provider_version=version_of(provider), broker_url=broker_url
                )
        except (OSError, ValueError) as error:
            _fail(f"servicelab contracts verify: {error}")
    record_verification(verification, pacts)
    _print_verification(verification.summary(), verification.ok)
    return verification.ok


@app.command("matrix")
def show_matrix(pacts: PactsOpt = DEFAULT_PACTS) -> None:
    """Print the can-i-deploy matrix from the pact files and the recorded verification results."""
    if not _matrix(pacts):
        raise typer.Exit(1)
