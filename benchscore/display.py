"""How scores read on the terminal: the one-line headline, and a table of every breakdown."""

from __future__ import annotations

from rich.table import Table


def score_text(value: float | None, scale: float) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if scale == 1.0 else f"{value:.2f}"


def interval_text(interval: list[float] | None, scale: float) -> str:
    if not interval:
        return "n/a"
    return f"{score_text(interval[0], scale)} to {score_text(interval[1], scale)}"


def headline_line(document: dict) -> str:
    """e.g. "tomato v1.0.0 all/test, openai:gpt-4o-mini: accuracy 45.0% (95% CI 25.0% to 65.0%), n=20,
    unparseable 0" (one line)."""
    headline, scale = document["headline"], document["protocol"]["scale"]
    release = document["release"]
    extra = f", silent {headline['silent']}" if "silent" in headline else ""
    return (f"{document['benchmark']} v{release['version']} {','.join(release['configs'])}/{release['split']}, "
            f"{document['model']}: {document['protocol']['metric']} {score_text(headline['value'], scale)} "
            f"(95% CI {interval_text(headline['interval'], scale)}), n={headline['n']}, "
            f"unparseable {headline['unparseable']}{extra}")


def breakdown_table(document: dict) -> Table:
    scale = document["protocol"]["scale"]
    table = Table(title="Scores by breakdown", show_header=True)
    for column in ("breakdown", "score", "95% interval", "n"):
        table.add_column(column, justify="left" if column == "breakdown" else "right")
    for path, value in _leaves(document["breakdowns"]):
        if isinstance(value, dict) and {"value", "interval", "n"} <= set(value):
            # Ranks and Brier scores are not shares: shown as they are.
            leaf_scale = scale if not path.endswith(("mean_rank", "brier_score")) else 0.0
            table.add_row(path, score_text(value["value"], leaf_scale), interval_text(value["interval"], leaf_scale),
                          _count_text(value))
        else:
            table.add_row(path, str(value), "", "")
    return table


def _count_text(block: dict) -> str:
    """n, and for Moral RolePlay levels the portrayals that were not scored and why."""
    unscored = [f"{block[key]} {key}" for key in ("silent", "unjudged") if block.get(key)]
    return f"{block['n']} (+{', '.join(unscored)})" if unscored else str(block["n"])


def _leaves(tree: dict, prefix: str = ""):
    """(dotted path, value) of every score block and plain value, depth first, in order."""
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and not ({"value", "interval", "n"} <= set(value)) and _has_nested(value):
            yield from _leaves(value, path + ".")
        else:
            yield path, value


def _has_nested(value: dict) -> bool:
    return any(isinstance(v, dict) for v in value.values())
