"""Writes samples/conversation.json: one realistic support conversation as Event Grid delivers it.

The shapes follow the published payloads (tests/vectors/eventgrid/event-grid-schema):
every change arrives once at thread level and once per recipient at user level, versions are
sometimes numbers and sometimes strings, times carry offsets and 3 to 7 fractional digits.
Run `python samples/generate.py` to regenerate; the output is deterministic.
"""

import json
import uuid
from pathlib import Path

RESOURCE = "7b5e2f4c-1d3a-4c8e-9f60-2a1b3c4d5e6f"
TOPIC = ("/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/support-rg/providers/"
         "Microsoft.Communication/communicationServices/contoso-chat")
THREAD = "19:3f2504e0d4f14c7a9b1c6e2a5d7f8a90@thread.v2"
P = "Microsoft.Communication."
ids = iter(uuid.UUID(int=i) for i in range(1, 10_000))


def user(n):
    raw = f"8:acs:{RESOURCE}_00000020-{n:04d}-4e2a-8c1b-0a1b2c3d4e5f"
    return {"rawId": raw, "communicationUser": {"id": raw}}


ALICE, BOB, CAROL = user(1), user(2), user(3)
NAMES = {ALICE["rawId"]: "Alice (Contoso support)", BOB["rawId"]: "Bob Jones", CAROL["rawId"]: "Carol (supervisor)"}
members = [ALICE, BOB]
events = []


def emit(thread_type, user_type, subject, data, time, recipients):
    base = {"topic": TOPIC, "dataVersion": "1.0", "metadataVersion": "1", "eventTime": time}
    events.append({"id": str(next(ids)), "subject": subject, "data": data, "eventType": P + thread_type, **base})
    for r in recipients:
        d = dict(data, recipientCommunicationIdentifier=r)
        events.append({"id": str(next(ids)), "subject": subject + f"/recipient/{r['rawId']}", "data": d,
                       "eventType": P + user_type, **base})


def participant(u):
    return {"displayName": NAMES[u["rawId"]], "participantCommunicationIdentifier": u, "metadata": {}}


emit("ChatThreadCreated", "ChatThreadCreatedWithUser", f"thread/{THREAD}/createdBy/{ALICE['rawId']}", {
    "createdByCommunicationIdentifier": ALICE, "properties": {"topic": "Order 4711: late delivery"},
    "participants": [participant(ALICE), participant(BOB)], "metadata": {"ticket": "CS-4711"},
    "createTime": "2026-10-31T23:58:02.1234567Z", "version": 1761955082123, "threadId": THREAD,
    "transactionId": "sample-1"}, "2026-10-31T23:58:02.3Z", [BOB])


def message(kind, sender, message_id, body, compose, version, time, **extra):
    data = {"messageId": message_id, "senderCommunicationIdentifier": sender,
            "senderDisplayName": NAMES[sender["rawId"]], "composeTime": compose, "type": "Text",
            "version": version, "threadId": THREAD, "transactionId": f"sample-{message_id}-{version}", **extra}
    if body is not None:
        data["messageBody"] = body
        data["metadata"] = {}
    others = [m for m in members if m is not sender]
    emit(f"ChatMessage{kind}InThread", f"ChatMessage{kind}",
         f"thread/{THREAD}/sender/{sender['rawId']}", data, time, others)


message("Received", ALICE, "1761955100000", "Hello Bob, I'm Alice from Contoso. How can I help?",
        "2026-10-31T23:58:20.000Z", 1761955100000, "2026-10-31T23:58:20.4Z")
message("Received", BOB, "1761955150000", "My order 4711 was due yesterday, \"express\" shipping, still nothing.",
        "2026-10-31T16:59:10.000-08:00", "1761955150000", "2026-11-01T00:59:10.21Z")
message("Edited", BOB, "1761955150000", "My order 4711 was due yesterday (express shipping), still nothing. 📦",
        "2026-10-31T16:59:10.000-08:00", 1761958800000, "2026-11-01T01:00:00.5Z",
        editTime="2026-11-01T01:00:00.0000000+00:00")
message("Received", ALICE, "1761958900000", "Sorry about that! Let me check with the warehouse, one moment.",
        "2026-11-01T01:01:40.12Z", 1761958900000, "2026-11-01T01:01:40.3Z")
message("Received", ALICE, "1761958960000", "Oops, wrong window.",
        "2026-11-01T01:02:40Z", 1761958960000, "2026-11-01T01:02:40.1Z")
message("Deleted", ALICE, "1761958960000", None, "2026-11-01T01:02:40Z", "1761958970000",
        "2026-11-01T01:02:50.2Z", deleteTime="2026-11-01T01:02:50.000Z")

emit("ChatThreadParticipantAdded", "ChatParticipantAddedToThreadWithUser",
     f"thread/{THREAD}/participantadded/{CAROL['rawId']}", {
         "time": "2026-11-01T01:03:00.8622646+00:00", "addedByCommunicationIdentifier": ALICE,
         "participantAdded": participant(CAROL), "createTime": "2026-10-31T23:58:02.1234567Z",
         "version": 1761958980862, "threadId": THREAD, "transactionId": "sample-add"},
     "2026-11-01T01:03:01Z", [BOB, CAROL])
members.append(CAROL)
message("Received", CAROL, "1761959000000", "Hi Bob, Carol here. A courier will deliver it today by 5 pm, "
        "and we've refunded the shipping fee.", "2026-11-01T01:03:20.000Z", 1761959000000, "2026-11-01T01:03:20.7Z")
emit("ChatThreadPropertiesUpdated", "ChatThreadPropertiesUpdatedPerUser", f"thread/{THREAD}/editedBy/{ALICE['rawId']}", {
    "editedByCommunicationIdentifier": ALICE, "editTime": "2026-11-01T01:04:00.7152073+00:00",
    "properties": {"topic": "Order 4711: late delivery (resolved)"}, "metadata": {"ticket": "CS-4711", "status": "resolved"},
    "createTime": "2026-10-31T23:58:02.1234567Z", "version": 1761959040715, "threadId": THREAD,
    "transactionId": "sample-topic"}, "2026-11-01T01:04:01Z", [BOB, CAROL])
message("Received", BOB, "1761959100000", "Great, thanks both!", "2026-11-01T01:05:00.000Z",
        1761959100000, "2026-11-01T01:05:00.2Z")
emit("ChatThreadParticipantRemoved", "ChatParticipantRemovedFromThreadWithUser",
     f"thread/{THREAD}/participantremoved/{CAROL['rawId']}", {
         "time": "2026-11-01T01:06:00.1118825+00:00", "removedByCommunicationIdentifier": ALICE,
         "participantRemoved": participant(CAROL), "createTime": "2026-10-31T23:58:02.1234567Z",
         "version": 1761959160111, "threadId": THREAD, "transactionId": "sample-remove"},
     "2026-11-01T01:06:01Z", [BOB, CAROL])
# Not archive content: skipped with one log line.
events.append({"id": str(next(ids)), "topic": TOPIC, "subject": f"thread/{THREAD}/sender/{BOB['rawId']}",
               "eventType": P + "ChatTypingIndicatorReceivedInThread", "dataVersion": "1.0", "metadataVersion": "1",
               "eventTime": "2026-11-01T01:04:58Z",
               "data": {"senderCommunicationIdentifier": BOB, "senderDisplayName": NAMES[BOB["rawId"]],
                        "threadId": THREAD, "transactionId": "sample-typing"}})

out = Path(__file__).with_name("conversation.json")
out.write_text(json.dumps(events, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
print(f"{len(events)} events -> {out}")
