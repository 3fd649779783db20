"""What an audit found, as a rich table per function and as the JSON document of `--json`."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from grader.audit.mutants import Dropped
from grader.audit.run import Outcome


def killed(outcomes: list[Outcome]) -> int:
    return sum(o.caught for o in outcomes if not o.mutant.equivalent)


def non_equivalent(outcomes: list[Outcome]) -> int:
    return sum(not o.mutant.equivalent for o in outcomes)


def caught_percent(outcomes: list[Outcome]) -> float:
    total = non_equivalent(outcomes)
    return 100.0 * killed(outcomes) / total if total else 100.0


def _lost(lost: Any) -> dict[str, Any]:
    return {"test": lost.test, "lost": lost.lost, "message": lost.reason, "uses": lost.declared}


def document(
    outcomes: list[Outcome], dropped: list[Dropped], *, seconds: float, cpu: float | None = None
) -> dict[str, Any]:
    """`{"mutants": N, "equivalent": E, "killed": K, "survived": [...], "cascades": [...]}`, and
    every mutant's outcome with the messages it got."""

    def named(o: Outcome) -> dict[str, Any]:
        m = o.mutant
        return {"id": m.id, "function": m.function, "mistake": m.says, "line": m.line}

    return {
        "mutants": len(outcomes),
        "equivalent": sum(o.mutant.equivalent for o in outcomes),
        "killed": killed(outcomes),
        "caught_percent": round(caught_percent(outcomes), 2),
        "survived": [
            {**named(o), "edit": [o.mutant.before, o.mutant.after]}
            for o in outcomes
            if not o.caught and not o.mutant.equivalent
        ],
        "cascades": [
            {**named(o), "tests": [_lost(lost) for lost in o.cascades]}
            for o in outcomes
            if o.cascades
        ],
        "equivalent_caught": [named(o) for o in outcomes if o.caught and o.mutant.equivalent],
        "errors": [{**named(o), "error": o.error} for o in outcomes if o.error],
        "dropped": [{"id": d.id, "why": d.why} for d in dropped],
        "seconds": round(seconds, 1),
        "cpu_seconds": None if cpu is None else round(cpu, 1),
        "outcomes": [
            {
                **named(o),
                "generic": o.mutant.generic,
                "equivalent": o.mutant.equivalent,
                "caught": o.caught,
                "tests": [_lost(lost) for lost in o.own],
                "cascades": [_lost(lost) for lost in o.cascades],
            }
            for o in outcomes
        ],
    }


def _function_row(function: str, group: list[Outcome]) -> tuple[str, ...]:
    survived = sum(not o.caught and not o.mutant.equivalent for o in group)
    equivalent = sum(o.mutant.equivalent for o in group)
    odd = sum(o.mutant.equivalent and o.caught for o in group)
    cascades = sum(any(not c.declared for c in o.cascades) for o in group)
    declared = sum(bool(o.cascades) for o in group) - cascades
    return (
        function,
        str(len(group)),
        str(sum(o.caught and not o.mutant.equivalent for o in group)),
        f"[bold red]{survived}[/]" if survived else "0",
        f"{equivalent}" + (f" [yellow]({odd} caught)[/]" if odd else ""),
        (f"[yellow]{cascades}[/]" if cascades else "0")
        + (f" [dim]({declared} declared)[/]" if declared else ""),
    )


def _function_table(outcomes: list[Outcome], functions: list[str]) -> Table:
    table = Table(title="Mutants of the reference, by function", title_justify="left")
    columns = ("function", "mutants", "caught", "survived", "equivalent", "cascades")
    for column in columns:
        table.add_column(column, justify="left" if column == "function" else "right")
    by_function: dict[str, list[Outcome]] = {f: [] for f in functions}
    for o in outcomes:
        by_function.setdefault(o.mutant.function, []).append(o)
    for function, group in by_function.items():
        if group:
            table.add_row(*_function_row(function, group))
    return table


def _print_verdict(console: Console, o: Outcome) -> None:
    m = o.mutant
    if not o.caught and not m.equivalent:
        console.print(
            f"[bold red]survived[/] {escape(m.id)} ({escape(m.says)}), line {m.line}: "
            f"[dim]{escape(m.before)}[/] -> {escape(m.after)}"
        )
    elif o.caught and m.equivalent:
        console.print(
            f"[yellow]declared equivalent but caught[/] {escape(m.id)} ({escape(m.says)}): "
            + escape(o.own[0].reason)
        )
    if o.error:
        console.print(f"[red]could not grade[/] {escape(m.id)}: {escape(o.error)}")


def _print_losses(console: Console, o: Outcome, *, messages: bool) -> None:
    m = o.mutant
    for lost in o.cascades:
        how = "declared dependency" if lost.declared else "[yellow]cascade[/]"
        console.print(
            f"{how}: {escape(m.id)} in {escape(m.function)} cost {escape(lost.test)} "
            f"{lost.lost:g} point(s): {escape(lost.reason)}"
        )
    if messages and o.caught:
        for lost in o.own:
            console.print(
                f"  {escape(m.id)}: {escape(lost.test)} -{lost.lost:g}: {escape(lost.reason)}"
            )


def render(
    console: Console,
    outcomes: list[Outcome],
    dropped: list[Dropped],
    *,
    functions: list[str],
    seconds: float,
    cpu: float | None = None,
    messages: bool = False,
) -> None:
    console.print(_function_table(outcomes, functions))
    for o in outcomes:
        _print_verdict(console, o)
        _print_losses(console, o, messages=messages)
    total = non_equivalent(outcomes)
    equivalent = sum(o.mutant.equivalent for o in outcomes)
    console.print(
        f"{len(outcomes)} mutants graded in {seconds:.0f} s ({len(dropped)} dropped before "
        f"grading): {killed(outcomes)} of {total} non-equivalent caught "
        f"([bold]{caught_percent(outcomes):.1f}%[/]), {equivalent} declared equivalent, "
        f"{sum(any(not c.declared for c in o.cascades) for o in outcomes)} with cascades "
        f"(and {sum(bool(o.cascades) and all(c.declared for c in o.cascades) for o in outcomes)} "
        "through a declared dependency)"
    )
    if cpu is not None:
        console.print(f"[dim]CPU time: {cpu:.0f} s (grading and workers, whatever else ran)[/]")
