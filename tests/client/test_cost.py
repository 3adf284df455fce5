"""`trireme cost`'s text (client/cost.py): every line of the bill with its arithmetic."""

import json

from client.cost import render
from ddb.cost import DEFAULT_PRICES, Usage, estimate

PRICES = json.loads(DEFAULT_PRICES.read_text())


def test_the_text_shows_each_line_with_what_was_observed_and_its_arithmetic():
    bill = estimate([Usage("orders", billing="PAY_PER_REQUEST", write_units=1000.0, window_s=3600)], PRICES)
    text = render(bill, "my-prices.json")
    assert text.startswith("prices: my-prices.json (edit a copy, use it with --prices FILE)")
    row = next(line for line in text.splitlines() if "on-demand writes" in line)
    assert "1,000 WRU in 1.0 h" in row and "730,000 WRU x $0.625 per 1M WRU = $0.4562" in row
    assert "backups" in text and "not measured yet" in text
    assert text.endswith(f"estimated monthly total: ${bill['monthly_total']:,.2f}")
