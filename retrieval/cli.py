"""`andon ingest`, `andon search` and `andon index`: the document index from the shell."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn
from rich.table import Table

from andon.settings import Settings
from control.plant.loader import PlantModelError, load_plant

from .models import SearchRequest

if TYPE_CHECKING:  # the index's modules load ONNX Runtime, Qdrant and llama-index: only on use
    from .ingest import IngestReport
    from .service import RetrievalService

index_app = typer.Typer(help="The document index (Qdrant).", no_args_is_help=True)
console = Console(stderr=True)


def _open() -> RetrievalService:
    from .service import RetrievalService
    from .store import StoreError
    from .weights import WeightsError

    settings = Settings()
    try:
        return RetrievalService.open(
            url=settings.qdrant_url,
            api_key=settings.qdrant_api_key,
            path=settings.qdrant_path,
            collection=settings.qdrant_collection,
            threads=settings.embed_threads,
        )
    except (StoreError, WeightsError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="files or folders of documents")],
) -> None:
    """Index documents: new and changed ones are (re)indexed, unchanged ones skipped, and
    documents deleted from an ingested folder lose their passages."""
    service = _open()
    try:
        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("parsing", total=None)

            def planned(total: int) -> None:
                progress.update(task, description="embedding passages", total=total)

            report = service.ingestor.sync(
                paths, progress=lambda n: progress.advance(task, n), on_plan=planned
            )
    finally:
        service.close()
    _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(report: IngestReport) -> None:
    for kind in ("added", "updated", "removed"):
        names = getattr(report, kind)
        if names:
            console.print(f"{kind} ({len(names)}): {', '.join(names)}")
    console.print(
        f"{report.passages} passages written; {len(report.unchanged)} documents unchanged"
    )
    for error in report.errors:
        console.print(f"[red]error:[/red] {error}")


def search(
    query: Annotated[str, typer.Argument(help="the question or keywords")],
    role: Annotated[str, typer.Option(help="search as this role (its document groups)")],
    top_k: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Search the index as a role would, and show the cited passages."""
    settings = Settings()
    try:
        plant = load_plant(settings.plant_file)
    except PlantModelError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    found = plant.role(role)
    if found is None:
        console.print(f"[red]error:[/red] no role {role!r}; roles: {[r.id for r in plant.roles]}")
        raise typer.Exit(2)
    service = _open()
    try:
        result = service.searcher.search(
            SearchRequest(query=query, top_k=top_k), found.document_groups
        )
    finally:
        service.close()
    if result.abstain:
        console.print("[yellow]no passage is close enough to answer this[/yellow]")
    for hit in result.hits:
        typer.echo(f"\n[{hit.citation_id}]  sim {hit.similarity:.2f}  {hit.title}")
        typer.echo(hit.text)


@index_app.command("list")
def list_documents() -> None:
    """Documents in the index with their revision, access groups and passage count."""
    service = _open()
    try:
        records = service.store.all_documents()
    finally:
        service.close()
    table = Table()
    for column in ("doc_id", "type", "rev", "groups", "passages", "source"):
        table.add_column(column)
    for r in records:
        table.add_row(
            r.doc_id, r.doc_type, r.revision, ",".join(r.access_groups), str(r.passages), r.source
        )
    Console().print(table)


@index_app.command("remove")
def remove(doc_ids: Annotated[list[str], typer.Argument(help="document ids")]) -> None:
    """Remove documents and all their passages from the index."""
    service = _open()
    try:
        missing = [d for d in doc_ids if not asyncio.run(service.remove(d))]
    finally:
        service.close()
    if missing:
        console.print(f"[red]error:[/red] not in the index: {', '.join(missing)}")
        raise typer.Exit(1)
