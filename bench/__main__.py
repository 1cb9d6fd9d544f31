from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench import assistant, control, perception, retrieval

SUITES = {
    "assistant": assistant.run,
    "control": control.run,
    "perception": perception.run,
    "retrieval": retrieval.run,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("suite", choices=sorted(SUITES))
    parser.add_argument("--json", type=Path, required=True, help="where to write the results")
    parser.add_argument("--quick", action="store_true", help="a shorter run (smoke test)")
    parser.add_argument(
        "--backend",
        choices=("embedded", "vllm"),
        default="embedded",
        help="assistant: the language model backend",
    )
    parser.add_argument("--llm-url", default="", help="assistant --backend vllm: base URL")
    parser.add_argument(
        "--sets",
        default="requests,questions,adversarial",
        help="assistant: which evaluation sets to run, comma-separated (the others report null)",
    )
    parser.add_argument(
        "--cases", default="", help="assistant: only these case ids, comma-separated (e.g. q004)"
    )
    parser.add_argument(
        "--model", default="1.5b", help="assistant: embedded 1.5b or 0.5b; vllm: the served model"
    )
    args = parser.parse_args(argv)
    console = Console()
    extra = assistant.options(args) if args.suite == "assistant" else {}
    results = SUITES[args.suite](quick=args.quick, console=console, **extra)
    table = Table(title=f"bench {args.suite}{' (quick)' if args.quick else ''}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in results.items():
        if isinstance(value, dict | list):
            continue  # details: in the JSON only
        table.add_row(key, f"{value:.2f}" if isinstance(value, float) else str(value))
    console.print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
