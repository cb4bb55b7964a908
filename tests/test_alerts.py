"""The alerts and the workbook (infra/modules/alerts.bicep, workbook.bicep, queries/*.kql, workbook.json).

Nothing here can deploy them, so the checks are the ones that catch what silently breaks an alert:
- real resource types and api versions;
- metric alerts name metrics (and dimensions) that Microsoft.EventGrid/systemTopics publishes;
- every KQL query is balanced, reads a table Application Insights has, and leaves no placeholder
  unfilled;
- every field a query extracts from a log line is one the code writes: the lines are produced by
  running the code (archive_event for every outcome, the sweep against the ACS test server), and each
  query's extract() patterns are applied to them.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from datetime import timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from pycep import BicepParser

from archiving.ingest.archiver import archive_event
from archiving.ops import logfields
from archiving.timefmt import iso, utcnow

from .conftest import HASH_KEY, ROOT, load_vector

MODULES = ROOT / "infra" / "modules"
QUERIES = MODULES / "queries"

# Resource types of this feature and the api versions used (all published, non-preview).
EXPECTED_TYPES = {
    ("Microsoft.Insights/actionGroups", "2023-01-01"),
    ("Microsoft.Insights/metricAlerts", "2018-03-01"),
    ("Microsoft.Insights/scheduledQueryRules", "2023-12-01"),
    ("Microsoft.Insights/workbooks", "2023-06-01"),
}
# Platform metrics of Microsoft.EventGrid/systemTopics and their dimensions, from "Supported metrics -
# Microsoft.EventGrid/systemTopics" (learn.microsoft.com/azure/azure-monitor/reference/supported-metrics/
# microsoft-eventgrid-systemtopics-metrics) and the Event Grid push delivery monitoring reference.
SYSTEM_TOPIC_METRICS = {
    "AdvancedFilterEvaluationCount", "DeadLetteredCount", "DeliveryAttemptFailCount", "DeliverySuccessCount",
    "DestinationProcessingDurationInMs", "DroppedEventCount", "MatchedEventCount", "PublishFailCount",
    "PublishSuccessCount", "PublishSuccessLatencyInMs",
}
SYSTEM_TOPIC_DIMENSIONS = {"EventSubscriptionName", "DeadLetterReason", "DropReason", "Error", "ErrorType"}
# Tables of a workspace-based Application Insights resource queried in its own scope (the alerts'
# scope is the component, so the classic names apply, not AppTraces/AppRequests).
APP_INSIGHTS_TABLES = {"traces", "requests", "exceptions", "dependencies", "customEvents", "customMetrics",
                       "pageViews", "availabilityResults", "performanceCounters"}
# What the Functions host writes when it gives up on a queue message (azure-webjobs-sdk QueueProcessor).
HOST_POISON_LINE = "Message has reached MaxDequeueCount of 5. Moving message to queue '{queue}'."
PLACEHOLDER = re.compile(r"\{\{([A-Z_]+)\}\}")
EXTRACT = re.compile(r'extract\(@"((?:[^"]|"")*)"')


@lru_cache(maxsize=None)
def parse(path: Path) -> dict:
    return BicepParser().parse(file_path=path)


def loaded_texts(node) -> list[str]:
    """Every file name given to loadTextContent anywhere in a parse tree."""
    found = []
    if isinstance(node, dict):
        fn = node.get("function")
        if isinstance(fn, dict) and fn.get("type") == "load_text_content":
            found.append(fn["parameters"]["file_path"])
        for value in node.values():
            found += loaded_texts(value)
    elif isinstance(node, list):
        for value in node:
            found += loaded_texts(value)
    return found


def replaced_placeholders(path: Path) -> set[str]:
    return set(PLACEHOLDER.findall(path.read_text(encoding="utf-8")))


# -- the queries --------------------------------------------------------------------------------------


def kql_files() -> list[Path]:
    return sorted(QUERIES.glob("*.kql"))


def workbook_queries() -> dict[str, str]:
    doc = json.loads((MODULES / "workbook.json").read_text(encoding="utf-8"))
    return {item["name"]: item["content"]["query"] for item in doc["items"] if item["type"] == 3}


def all_queries() -> dict[str, str]:
    queries = {f"queries/{p.name}": p.read_text(encoding="utf-8") for p in kql_files()}
    queries.update({f"workbook.json#{name}": text for name, text in workbook_queries().items()})
    return queries


def strip_kql(text: str) -> str:
    """The query without comments and string literals (KQL: "…", '…', verbatim @"…" and @'…')."""
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else len(text)
            continue
        if c == "@" and i + 1 < len(text) and text[i + 1] in "\"'":
            quote = text[i + 1]
            j = i + 2
            while True:
                j = text.find(quote, j)
                if j < 0:
                    raise ValueError("unterminated verbatim string")
                if text.startswith(quote * 2, j):
                    j += 2
                    continue
                break
            out.append('""')
            i = j + 1
            continue
        if c in "\"'":
            j = i + 1
            while j < len(text) and text[j] != c:
                if text[j] == "\\":
                    j += 1
                if text[j] == "\n":
                    raise ValueError("string literal runs past the end of the line")
                j += 1
            if j >= len(text):
                raise ValueError("unterminated string")
            out.append('""')
            i = j + 1
            continue
        out.append(c)
        i += 1
    return "".join(out)


def kql_problems(text: str) -> list[str]:
    try:
        code = strip_kql(text)
    except ValueError as exc:
        return [str(exc)]
    problems = []
    stack: list[str] = []
    pairs = {")": "(", "]": "[", "}": "{"}
    for ch in code:
        if ch in "([{":
            stack.append(ch)
        elif ch in pairs:
            if not stack or stack.pop() != pairs[ch]:
                problems.append(f"unbalanced {ch!r}")
                break
    if stack:
        problems.append(f"unclosed {''.join(stack)!r}")
    match = re.match(r"\s*(\w+)", code)
    first = match.group(1) if match else code[:20]
    if first not in APP_INSIGHTS_TABLES:
        problems.append(f"does not start with a known table: {first!r}")
    for line in code.strip().split("\n")[1:]:
        if line.strip() and not line.strip().startswith("|") and not line.startswith(" "):
            problems.append(f"line is neither a pipe nor a continuation: {line.strip()!r}")
    return problems


def extracted_fields(text: str) -> list[tuple[str, re.Pattern]]:
    """(field name, pattern as Python re) of every extract(@"…name=(…)…") of a query."""
    found = []
    for pattern in EXTRACT.findall(text):
        python = pattern.replace('""', '"')
        match = re.search(r"(\w+)=\(", python)
        assert match, f"extract pattern without a name=(...) group: {pattern}"
        found.append((match.group(1), re.compile(python)))
    return found


def line_kind(text: str) -> str | None:
    code = strip_kql(text)
    if 'startswith ""' not in code:
        return None
    match = re.search(r'startswith "([^"]*)"', text)
    return match.group(1) if match else None


# -- log lines the code writes -----------------------------------------------------------------------


def chat_event(when, message_id: str, body: str = "hello") -> dict:
    event = load_vector("eventgrid/event-grid-schema/chat_message_received_in_thread.json")
    event["id"] = str(uuid.uuid4())
    event["eventTime"] = iso(when + timedelta(milliseconds=250))
    event["data"].update(messageId=message_id, version=message_id, composeTime=iso(when), messageBody=body)
    return event


@pytest.fixture
def event_lines(services, caplog) -> list[str]:
    """One line per outcome: archived, duplicate, conflict, rejected, skipped, as archive_event logs them."""
    now = utcnow() - timedelta(seconds=2)  # sent 2 s ago: the lag is about 1.75 s
    key = HASH_KEY.encode()
    first = chat_event(now, "1700000000001")
    conflicting = chat_event(now, "1700000000001", body="something else")
    bad = chat_event(now, "1700000000002")
    bad["data"]["threadId"] = "bad/thread"
    skipped = load_vector("eventgrid/event-grid-schema/chat_typing_indicator_received_in_thread.json")
    with caplog.at_level(logging.INFO, logger="archiving.ingest.events"):
        outcomes = [archive_event(e, services.store, key).status for e in (first, first, conflicting, bad, skipped)]
    assert outcomes == ["archived", "duplicate", "conflict", "rejected", "skipped"]
    return [r.getMessage() for r in caplog.records if r.name == "archiving.ingest.events"]


@pytest.fixture
def sweep_lines(acs_services, caplog) -> list[str]:
    from archiving.threads.sweep import select_threads

    with caplog.at_level(logging.INFO, logger="archiving.threads.sweep"):
        select_threads(acs_services)
    return [r.getMessage() for r in caplog.records if r.name == "archiving.threads.sweep"]


@pytest.fixture
def poison_lines(acs_env, app_functions, caplog) -> list[str]:
    """The sweep timer, called as the host calls it, with one message in the poison queue."""
    from azure.functions.timer import TimerRequest

    from archiving import bootstrap

    from .host import Out

    poison = bootstrap.services().queue_service.get_queue_client(f"{acs_env['SWEEP_QUEUE']}-poison")
    poison.create_queue()
    poison.send_message("x")
    with caplog.at_level(logging.INFO, logger="archiving"):
        app_functions["sweep_inactive_threads"].get_user_function()(timer=TimerRequest(past_due=False), queue=Out())
    return [r.getMessage() for r in caplog.records if r.name == "archiving.ops.status"]


def transcript_line_fields() -> set[str]:
    """Field names of the transcript writer's outcome lines (their format strings in the source)."""
    source = (ROOT / "archiving" / "threads" / "transcripts.py").read_text(encoding="utf-8")
    formats = re.findall(r'log\.\w+\(\s*"(thread=[^"]*)"', source)
    assert formats, "no thread=… log line found in archiving/threads/transcripts.py"
    return {name for fmt in formats for name in re.findall(r"(\w+)=%", fmt)}


# -- resources -----------------------------------------------------------------------------------------


def test_resource_types_and_api_versions():
    found = set()
    for name in ("alerts.bicep", "workbook.bicep"):
        for res in parse(MODULES / name)["resources"].values():
            if not res.get("existing"):
                found.add((res["type"], res["api_version"]))
    assert found == EXPECTED_TYPES


def test_main_deploys_both_modules_behind_one_switch():
    main = parse(ROOT / "infra" / "main.bicep")
    for name, path in (("alerts", "modules/alerts.bicep"), ("workbook", "modules/workbook.bicep")):
        module = main["modules"][name]
        assert module["detail"]["path"] == path
        assert module["config"]["condition"] == "deployMonitoring"
    assert main["parameters"]["deployMonitoring"]["default"] is True
    assert any(d.get("type") == "secure" for d in main["parameters"]["alertWebhookUrl"]["decorators"])


def test_action_group_routes_to_the_email_and_webhook_parameters():
    tree = parse(MODULES / "alerts.bicep")
    group = tree["resources"]["actionGroup"]["config"]
    assert group["location"] == "global" and len(group["properties"]["groupShortName"]) > 0
    text = (MODULES / "alerts.bicep").read_text(encoding="utf-8")
    assert "emailAddress: alertEmail" in text and "serviceUri: alertWebhookUrl" in text
    # Every rule sends to it.
    assert text.count("actionGroupId: actionGroup.id") == 1  # metric alerts
    assert text.count("actions: actions") == 2  # both log search rule loops


def test_metric_alerts_name_real_system_topic_metrics():
    tree = parse(MODULES / "alerts.bicep")
    alerts = tree["variables"]["topicMetricAlerts"]["value"]
    names = {a["metricName"] for a in alerts}
    assert names == {"DeadLetteredCount", "DroppedEventCount", "DeliveryAttemptFailCount"}
    assert names <= SYSTEM_TOPIC_METRICS
    (criterion,) = tree["resources"]["topicAlerts"]["config"]["config"]["properties"]["criteria"]["allOf"]
    assert criterion["metricNamespace"] == "Microsoft.EventGrid/systemTopics"
    assert {d["name"] for d in criterion["dimensions"]} <= SYSTEM_TOPIC_DIMENSIONS
    # The workbook's metric chart too.
    doc = json.loads((MODULES / "workbook.json").read_text(encoding="utf-8"))
    metrics = [m for item in doc["items"] if item["type"] == 10 for m in item["content"]["metrics"]]
    assert metrics
    for m in metrics:
        namespace, _, name = m["metric"].partition("--")
        assert namespace == m["namespace"] == "microsoft.eventgrid/systemtopics"
        assert name in SYSTEM_TOPIC_METRICS, name


def test_every_query_file_is_used_and_exists():
    loaded = set(loaded_texts(parse(MODULES / "alerts.bicep")))
    assert loaded == {f"queries/{p.name}" for p in kql_files()}
    assert loaded_texts(parse(MODULES / "workbook.bicep")) == ["workbook.json"]


def test_every_placeholder_is_filled_by_the_module_that_loads_it():
    alerts = (MODULES / "alerts.bicep").read_text(encoding="utf-8")
    for path in kql_files():
        for name in replaced_placeholders(path):
            assert f"'{{{{{name}}}}}'" in alerts, f"{path.name}: {{{{{name}}}}} is never replaced in alerts.bicep"
    workbook = (MODULES / "workbook.bicep").read_text(encoding="utf-8")
    for name in replaced_placeholders(MODULES / "workbook.json"):
        assert f"'{{{{{name}}}}}'" in workbook, f"workbook.json: {{{{{name}}}}} is never replaced"


@pytest.mark.parametrize("name", sorted(all_queries()))
def test_query_is_balanced_and_reads_a_known_table(name):
    assert kql_problems(all_queries()[name]) == []


def test_the_kql_check_can_fail():
    assert kql_problems("traces | where (x") == ["unclosed '('"]
    assert kql_problems('traces\n| where message == "a)"') == []
    assert kql_problems("AppTraces\n| take 1") == ["does not start with a known table: 'AppTraces'"]
    assert kql_problems('traces\n| where message startswith "x') != []


# -- fields: every name a query extracts is one the code writes -----------------------------------------


def queries_reading(prefix: str) -> dict[str, str]:
    return {name: text for name, text in all_queries().items() if line_kind(text) == prefix}


def test_queries_of_event_lines_extract_what_archive_event_writes(event_lines):
    queries = queries_reading("event=")
    assert len(queries) >= 7, sorted(queries)  # 3 alerts, 4 workbook parts
    parsed = [logfields.parse(line) for line in event_lines]
    written = {name for fields in parsed for name in fields}
    assert written <= set(logfields.EVENT_FIELDS)
    outcomes = {fields["outcome"] for fields in parsed}
    for name, text in queries.items():
        for field, pattern in extracted_fields(text):
            assert field in written, f"{name} extracts {field}=, which no event line carries"
            values = [m.group(1) for line in event_lines if (m := pattern.search(line))]
            assert values, f"{name}: {pattern.pattern} matches no line the code writes"
            expected = [fields[field] for fields in parsed if field in fields]
            assert values == expected, f"{name}: {pattern.pattern} extracts {values}, not {expected}"
        for literal in re.findall(r'outcome (?:==|in) \(?"([^"]+)"(?:, "([^"]+)")?', text):
            assert set(filter(None, literal)) <= outcomes, f"{name} compares outcome with {literal}"


def test_lag_is_extracted_as_a_number(event_lines):
    (text,) = [t for n, t in all_queries().items() if n == "queries/archiving-lag.kql"]
    pattern = dict(extracted_fields(text))["lag_ms"]
    archived = next(line for line in event_lines if "outcome=archived" in line)
    assert 1_000 <= int(pattern.search(archived).group(1)) < 60_000


def test_queries_of_sweep_lines_extract_what_the_sweep_writes(sweep_lines):
    queries = queries_reading("sweep listed=")
    assert {"queries/sweep-unsafe.kql", "workbook.json#sweeps"} <= set(queries)
    (line,) = [line for line in sweep_lines if line.startswith("sweep listed=")]
    for name, text in queries.items():
        for field, pattern in extracted_fields(text):
            match = pattern.search(line)
            assert match and match.group(1).isdigit(), f"{name}: {field}= not in the sweep's line {line!r}"


def test_queries_of_transcript_lines_extract_what_the_transcripts_write():
    queries = queries_reading("thread=")
    assert queries
    fields = transcript_line_fields()
    for name, text in queries.items():
        for field, _ in extracted_fields(text):
            assert field in fields, f"{name} extracts {field}=, not in the transcript lines {sorted(fields)}"


def test_poison_queries_match_the_hosts_line():
    line = HOST_POISON_LINE.format(queue="archive-threads-poison")
    for name, text in all_queries().items():
        if "MaxDequeueCount" not in text:
            continue
        filled = text.replace("{{POISON_QUEUE}}", "archive-threads-poison")
        assert "MaxDequeueCount" in line
        (needle,) = re.findall(r"contains \"([^\"]+)\"", filled)
        assert needle in line, name


def test_field_check_fails_for_a_field_the_code_does_not_write(event_lines):
    text = 'traces\n| where message startswith "event="\n| extend x = extract(@"(?:^| )sender=(\\S+)", 1, message)'
    (field, _), = extracted_fields(text)
    written = {name for line in event_lines for name in logfields.parse(line)}
    assert field not in written


def test_every_runbook_an_alert_or_status_names_exists():
    headings = set(re.findall(r"^#{2,4} (.+)$", (ROOT / "docs" / "operations.md").read_text(encoding="utf-8"), re.M))
    alerts = (MODULES / "alerts.bicep").read_text(encoding="utf-8")
    cited = re.findall(r'Runbook: docs/operations.md, "([^"]+)"', alerts)
    status = (ROOT / "archiving" / "ops" / "status.py").read_text(encoding="utf-8")
    cited_by_status = re.findall(r"docs/operations.md, '([^']+)'", status)
    assert len(cited) >= 11 and len(cited_by_status) >= 5
    missing = sorted(set(cited + cited_by_status) - headings)
    assert missing == [], f"no such section in docs/operations.md: {missing}"
    # Every alert rule has a row in the table of alerts.
    tree = parse(MODULES / "alerts.bicep")
    keys = [f"eventgrid-{a['key']}" for a in tree["variables"]["topicMetricAlerts"]["value"]]
    keys += [a["key"] for a in tree["variables"]["logAlerts"]["value"]]
    table = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    assert [k for k in keys if f"| `{k}` |" not in table] == []


def test_duration_alert_watches_every_event_grid_function(indexed):
    """eventGridFunctionNames (alerts.bicep) must name exactly the app's Event Grid-triggered functions."""
    triggered = {name for name, doc in indexed.items()
                 if any(b.get("type") == "eventGridTrigger" for b in doc.get("bindings", []))}
    default = parse(MODULES / "alerts.bicep")["parameters"]["eventGridFunctionNames"]["default"]
    assert triggered and set(default) == triggered


def test_poison_depth_queries_read_the_sweeps_line(poison_lines, acs_env):
    (line,) = poison_lines
    queue = f"{acs_env['SWEEP_QUEUE']}-poison"
    assert logfields.parse(line) == {"poison_queue": queue, "messages": "1"}
    queries = queries_reading("poison_queue=")
    assert {"queries/poison-depth.kql", "workbook.json#poison-depth"} <= set(queries)
    for name, text in queries.items():
        got = {field: pattern.search(line).group(1) for field, pattern in extracted_fields(text)}
        assert got == {"poison_queue": queue, "messages": "1"}, name
        assert 'queue == "{{POISON_QUEUE}}"' in text, name  # compared with the deployed queue's name


def test_every_query_that_extracts_fields_reads_a_known_line():
    known = {"event=", "sweep listed=", "thread=", "poison_queue=", "seal outcome=",  # seal: tests/test_seal_feed.py
             "recording="}  # recording=: tests/test_calls.py
    for name, text in all_queries().items():
        if extracted_fields(text):
            assert line_kind(text) in known, f"{name}: its fields are checked against no line the code writes"
