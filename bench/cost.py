"""What a deployment costs per month, a year of retention per tier, and producing one month per tier, from unit
prices and parameters (docs/cost.md).  Run by hand:

    python -m bench.cost                      # the tables of docs/cost.md (markdown)
    python -m bench.cost --record-kb 4 --json # other parameters; machine-readable

Every unit price below names where it comes from and its status:

- ``secondary``: a third-party transcription of Azure's list prices (LRS, US East), api-evangelist/
  microsoft-azure-blob-storage ``plans/microsoft-azure-blob-storage-plans-pricing.yml`` (created 2026-05-04,
  "generated", not harvested from the provider).  Azure's own pricing page renders its prices client-side;
  the search tool available when this was written could not read them, so none is verified against Microsoft.
- ``assumption``: no source could be checked; a figure of the right order, to be replaced by the customer's
  own prices (the Azure pricing calculator or their price sheet) before any decision.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass, field

SECONDARY = "secondary: api-evangelist plans-pricing.yml (2026-05-04), unverified against azure.microsoft.com"
ASSUMED = "assumption: not verified (no readable published source found, 2026-12-06)"


@dataclass(frozen=True)
class Price:
    usd: float
    unit: str
    status: str


PRICES: dict[str, Price] = {
    # Blob capacity, per GB-month (LRS).
    "hot_gb": Price(0.018, "GB-month", SECONDARY),
    "cool_gb": Price(0.01, "GB-month", SECONDARY),
    "cold_gb": Price(0.0036, "GB-month", SECONDARY),
    "archive_gb": Price(0.00099, "GB-month", SECONDARY),
    # Operations, per 10,000.  A lifecycle tier change is billed as a write at the destination tier.
    "hot_write": Price(0.055, "10k ops", SECONDARY),
    "hot_read": Price(0.0044, "10k ops", SECONDARY),
    "cool_write": Price(0.10, "10k ops", ASSUMED),
    "cool_read": Price(0.01, "10k ops", ASSUMED),
    "cold_write": Price(0.18, "10k ops", ASSUMED),
    "cold_read": Price(0.10, "10k ops", ASSUMED),
    "archive_write": Price(0.11, "10k ops", ASSUMED),
    "archive_read_standard": Price(5.50, "10k ops", ASSUMED),  # the Set Blob Tier that rehydrates
    "archive_read_high": Price(60.0, "10k ops", ASSUMED),
    "list": Price(0.055, "10k ops", ASSUMED),  # List Blobs, Find Blobs by Tags ("list and create container")
    "tags": Price(0.0044, "10k ops", ASSUMED),  # Get/Set Blob Tags billed as other/read operations
    # Retrieval, per GB.
    "cool_retrieval": Price(0.01, "GB", SECONDARY),
    "cold_retrieval": Price(0.03, "GB", SECONDARY),
    "archive_retrieval_standard": Price(0.022, "GB", SECONDARY),
    "archive_retrieval_high": Price(0.10, "GB", ASSUMED),
    # Everything else.
    "change_feed": Price(0.0044, "10k changes", ASSUMED),
    "event_grid": Price(0.60, "million operations", ASSUMED),
    "functions_executions": Price(0.40, "million executions", ASSUMED),  # Flex Consumption, on demand
    "functions_gb_s": Price(0.000026, "GB-s", ASSUMED),
    "key_vault_sign": Price(0.03, "10k operations", ASSUMED),  # software EC key
    "log_analytics": Price(2.30, "GB ingested", ASSUMED),
    "log_alert_rule": Price(1.50, "rule-month", ASSUMED),
}

# Early deletion: a blob moved out of (or deleted from) a tier before this many days is charged the rest.
MIN_DAYS = {"cool": 30, "cold": 90, "archive": 180}


@dataclass(frozen=True)
class Params:
    messages: int = 1_000_000  # per month, every channel
    records_per_message: float = 1.5  # a message record, plus delivery reports and thread records
    record_kb: float = 2.0  # stored (LZ4) size of a record
    events_per_message: float = 1.5  # Event Grid deliveries (one per record)
    function_seconds: float = 0.15  # per event
    instance_gb: float = 2.0  # Flex instance memory
    log_lines_per_event: float = 2.0
    log_line_bytes: int = 400
    seal_runs: int = 30 * 96  # every 15 minutes
    alert_rules: int = 8
    retention_days: int = 2555
    # The default chosen from these figures (docs/cost.md): no lifecycle tiering of per-message records.
    cool_after: int = 0
    cold_after: int = 0
    archive_after: int = 0


def p(name: str) -> float:
    return PRICES[name].usd


def monthly(par: Params) -> dict[str, float]:
    """Steady state (the archive full for its retention): USD per month, by line."""
    records = par.messages * par.records_per_message
    gb_month = records * par.record_kb / 1024 / 1024
    months = par.retention_days / 30.4
    first_move = next((d for d in (par.cool_after, par.cold_after, par.archive_after) if d), par.retention_days)
    stored = {  # GB in each tier once the retention is full, by the lifecycle calendar
        "hot": gb_month * min(first_move, par.retention_days) / 30.4,
        "cool": gb_month * (max(0, min(par.cold_after or par.archive_after or par.retention_days, par.retention_days)
                                - par.cool_after) / 30.4 if par.cool_after else 0),
        "cold": gb_month * (max(0, min(par.archive_after or par.retention_days, par.retention_days) - par.cold_after)
                            / 30.4 if par.cold_after else 0),
        "archive": gb_month * (max(0, par.retention_days - par.archive_after) / 30.4 if par.archive_after else 0),
    }
    assert abs(sum(stored.values()) - gb_month * months) < 1e-6 * max(1, gb_month * months)
    events = par.messages * par.events_per_message
    tier_moves = records * sum(p(f"{t}_write") for t, d in (("cool", par.cool_after), ("cold", par.cold_after),
                                                              ("archive", par.archive_after)) if d) / 1e4
    total_blobs = records * months
    out = {
        "Event Grid operations": events / 1e6 * p("event_grid"),
        "Functions executions": events / 1e6 * p("functions_executions"),
        "Functions memory (GB-s)": events * par.function_seconds * par.instance_gb * p("functions_gb_s"),
        "storage writes (one create per record)": records / 1e4 * p("hot_write"),
        "storage reads (seal hashes each blob once)": records / 1e4 * p("hot_read"),
        "listings (daily dispose pass with tags)": total_blobs / 5000 * 30 / 1e4 * p("list"),
        "lifecycle tier changes": tier_moves,
        "capacity Hot": stored["hot"] * p("hot_gb"),
        "capacity Cool": stored["cool"] * p("cool_gb"),
        "capacity Cold": stored["cold"] * p("cold_gb"),
        "capacity Archive": stored["archive"] * p("archive_gb"),
        "change feed": records / 1e4 * p("change_feed"),  # one change event per record created
        "Key Vault signatures": (par.seal_runs + 30) / 1e4 * p("key_vault_sign"),
        "Log Analytics ingestion": events * par.log_lines_per_event * par.log_line_bytes / 1e9 * p("log_analytics"),
        "alerts": par.alert_rules * p("log_alert_rule"),
    }
    return out


def year_in_tier(par: Params) -> dict[str, float]:
    """Keeping one year of records (12 months of writes) for a year in one tier: capacity plus the move into it."""
    records = par.messages * par.records_per_message * 12
    gb = records * par.record_kb / 1024 / 1024
    out = {"hot": gb * p("hot_gb") * 12}
    out.update({t: gb * p(f"{t}_gb") * 12 + records / 1e4 * p(f"{t}_write") for t in ("cool", "cold", "archive")})
    return out


POLICIES = {"Hot only (no lifecycle tiering)": (0, 0, 0), "Cool 30 d": (30, 0, 0),
            "Cool 30 d, Cold 90 d, Archive 180 d (the old default)": (30, 90, 180), "Cool 30 d, Archive 180 d": (30, 0, 180)}


def policies(par: Params) -> dict[str, float]:
    """Storage per month (capacity + tier moves) under each tiering calendar, the retention full."""
    out = {}
    for name, (cool, cold, archive) in POLICIES.items():
        m = monthly(Params(**{**asdict(par), "cool_after": cool, "cold_after": cold, "archive_after": archive}))
        out[name] = m["lifecycle tier changes"] + sum(v for k, v in m.items() if k.startswith("capacity"))
    return out


def produce_month(par: Params) -> dict[str, float]:
    """Reading back one month of records once (an export) from each tier."""
    records = par.messages * par.records_per_message
    gb = records * par.record_kb / 1024 / 1024
    return {
        "hot": records / 1e4 * p("hot_read"),
        "cool": records / 1e4 * p("cool_read") + gb * p("cool_retrieval"),
        "cold": records / 1e4 * p("cold_read") + gb * p("cold_retrieval"),
        "archive (Standard rehydrate, then read from Cool)": records / 1e4 * (p("archive_read_standard")
                                                                              + p("cool_write") + p("cool_read"))
        + gb * (p("archive_retrieval_standard") + p("cool_retrieval")),
        "archive (High)": records / 1e4 * (p("archive_read_high") + p("cool_write") + p("cool_read"))
        + gb * (p("archive_retrieval_high") + p("cool_retrieval")),
    }


def payback_months(par: Params) -> dict[str, float]:
    """Months a record must stay in the cooler tier for the capacity saved to pay for the move into it."""
    gb = par.record_kb / 1024 / 1024
    moves = {"Hot -> Cool": ("hot", "cool"), "Cool -> Cold": ("cool", "cold"), "Cold -> Archive": ("cold", "archive"),
             "Cool -> Archive": ("cool", "archive")}
    return {k: (p(f"{b}_write") / 1e4) / (gb * (p(f"{a}_gb") - p(f"{b}_gb"))) for k, (a, b) in moves.items()}


def render(par: Params) -> str:
    lines = ["| | " + " | ".join(f"{n:,} messages" for n in (1_000_000, 10_000_000, 100_000_000)) + " |",
             "|---|---:|---:|---:|"]
    tables = [monthly(Params(**{**asdict(par), "messages": n})) for n in (1_000_000, 10_000_000, 100_000_000)]
    for key in tables[0]:
        lines.append(f"| {key} | " + " | ".join(f"${t[key]:,.2f}" for t in tables) + " |")
    lines.append("| **total per month** | " + " | ".join(f"**${sum(t.values()):,.2f}**" for t in tables) + " |")
    lines += ["", "A year of records kept a year, per tier (capacity + the move into it), at "
              f"{par.messages:,} messages a month:", "", "| tier | USD |", "|---|---:|"]
    lines += [f"| {k} | ${v:,.2f} |" for k, v in year_in_tier(par).items()]
    lines += ["", f"Producing one month ({par.messages:,} messages) once:", "", "| from | USD |", "|---|---:|"]
    lines += [f"| {k} | ${v:,.2f} |" for k, v in produce_month(par).items()]
    lines += ["", f"Storage per month (capacity and tier moves), the retention full, at {par.messages:,} messages a month:",
              "", "| tiering | USD per month |", "|---|---:|"]
    lines += [f"| {k} | ${v:,.2f} |" for k, v in policies(par).items()]
    lines += ["", f"Payback of a tier move for a {par.record_kb:g} KB record (months in the cooler tier before the "
              "capacity saved pays for the move):", "", "| move | months |", "|---|---:|"]
    lines += [f"| {k} | {v:,.0f} |" for k, v in payback_months(par).items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for f in Params.__dataclass_fields__.values():
        ap.add_argument("--" + f.name.replace("_", "-"), type=type(f.default), default=f.default)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--prices", action="store_true", help="print the unit prices with their status")
    args = ap.parse_args(argv)
    par = Params(**{k: getattr(args, k) for k in Params.__dataclass_fields__})
    if args.prices:
        for k, v in PRICES.items():
            print(f"| `{k}` | ${v.usd:g} per {v.unit} | {v.status} |")
        return 0
    if args.json:
        print(json.dumps({"monthly": monthly(par), "year_in_tier": year_in_tier(par),
                          "produce_month": produce_month(par), "payback_months": payback_months(par),
                          "policies": policies(par)}, indent=2))
    else:
        print(render(par))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
