"""`trireme cost`'s text: the bill (ddb/cost.py's `estimate`) as a table a
person reads, every line with its arithmetic."""

from __future__ import annotations

from client.status import table
from ddb.cost import explained


def render(report: dict, prices_path: str) -> str:
    """The bill as a table a person reads, each line with its arithmetic."""
    rows = [[x["table"], x["item"], x["observed_text"], x["arithmetic"]] for x in explained(report)]
    parts = [f"prices: {prices_path} (edit a copy, use it with --prices FILE)",
             f"a month = {report['hours_per_month']} hours; requests are projected from the rate observed "
             "since each table was created, capacity and storage are what the table has now", "",
             table(["TABLE", "ITEM", "OBSERVED", "PER MONTH x PRICE = COST"], rows), "",
             f"estimated monthly total: ${report['monthly_total']:,.2f}"]
    return "\n".join(parts)
