"""One price table for the cost meter, and the arithmetic that uses it.

Prices are US dollars per million tokens. ``PRICES_TAKEN`` says when the table was written down. They could
not be re-checked against Anthropic's pricing page when written (no network here): Opus/Sonnet/Haiku follow the
last published per-family prices, Fable and Mythos are placeholders. The meter is an *estimate*, not a bill;
correct this table when prices change.
Cache writes (5-minute cache) cost 1.25x the input price; cache reads cost 0.1x the input price.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.events import Usage

PRICES_TAKEN = "2026-11-28"

CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.10


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


# Keyed by model-id prefix; the longest matching prefix wins (so dated ids find their family).
PRICES: dict[str, Price] = {
    "claude-opus-5": Price(5.00, 25.00),
    "claude-opus-4-8": Price(5.00, 25.00),
    "claude-opus-4-7": Price(5.00, 25.00),
    "claude-opus-4-6": Price(5.00, 25.00),
    "claude-opus-4-5": Price(5.00, 25.00),
    "claude-sonnet-5": Price(3.00, 15.00),
    "claude-sonnet-4": Price(3.00, 15.00),
    "claude-haiku-5": Price(1.00, 5.00),
    "claude-haiku-4-5": Price(1.00, 5.00),
    "claude-fable-5": Price(3.00, 15.00),
    "claude-mythos": Price(15.00, 75.00),
}

# Unknown models are priced like Sonnet so the meter never shows zero for real spending.
FALLBACK_PRICE = Price(3.00, 15.00)


def price_for(model: str) -> Price:
    best = ""
    for prefix in PRICES:
        if model.startswith(prefix) and len(prefix) > len(best):
            best = prefix
    return PRICES[best] if best else FALLBACK_PRICE


def estimate_cost(
    model: str,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_write_tokens: int = 0,
    cache_read_tokens: int = 0,
) -> float:
    """Estimated US dollars for one request's token counts (``input_tokens`` excludes cached tokens, as the API reports)."""
    p = price_for(model)
    per_tok_in = p.input_per_mtok / 1_000_000
    per_tok_out = p.output_per_mtok / 1_000_000
    return (
        input_tokens * per_tok_in
        + cache_write_tokens * per_tok_in * CACHE_WRITE_FACTOR
        + cache_read_tokens * per_tok_in * CACHE_READ_FACTOR
        + output_tokens * per_tok_out
    )


def usage_with_cost(model: str, input_tokens: int, output_tokens: int, cache_write: int, cache_read: int) -> Usage:
    """A ``Usage`` with its estimated cost filled in."""
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_write_tokens=cache_write,
        cache_read_tokens=cache_read,
        cost_usd=estimate_cost(model, input_tokens, output_tokens, cache_write, cache_read),
    )
