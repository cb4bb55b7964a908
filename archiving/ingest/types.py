"""Which Event Grid event types are archived, and as what: type -> (record kind, action).

Chat types map user-level events and their thread-level twins to the same change; the other
channels' types map to their own kinds (docs/archive-format.md, sections 4 and 13).
"""

from __future__ import annotations


class _N:
    """The values of ``azure.eventgrid.SystemEventNames`` we archive (tests/test_cold_start.py checks
    them against the SDK): importing azure.eventgrid would cost the cold start ~60 ms for constants."""

    AcsChatMemberAddedToThreadWithUserEventName = "Microsoft.Communication.ChatMemberAddedToThreadWithUser"
    AcsChatMemberRemovedFromThreadWithUserEventName = "Microsoft.Communication.ChatMemberRemovedFromThreadWithUser"
    AcsChatMessageDeletedEventName = "Microsoft.Communication.ChatMessageDeleted"
    AcsChatMessageDeletedInThreadEventName = "Microsoft.Communication.ChatMessageDeletedInThread"
    AcsChatMessageEditedEventName = "Microsoft.Communication.ChatMessageEdited"
    AcsChatMessageEditedInThreadEventName = "Microsoft.Communication.ChatMessageEditedInThread"
    AcsChatMessageReceivedEventName = "Microsoft.Communication.ChatMessageReceived"
    AcsChatMessageReceivedInThreadEventName = "Microsoft.Communication.ChatMessageReceivedInThread"
    AcsChatParticipantAddedToThreadWithUserEventName = "Microsoft.Communication.ChatParticipantAddedToThreadWithUser"
    AcsChatParticipantRemovedFromThreadWithUserEventName = (
        "Microsoft.Communication.ChatParticipantRemovedFromThreadWithUser")
    AcsChatThreadCreatedEventName = "Microsoft.Communication.ChatThreadCreated"
    AcsChatThreadCreatedWithUserEventName = "Microsoft.Communication.ChatThreadCreatedWithUser"
    AcsChatThreadDeletedEventName = "Microsoft.Communication.ChatThreadDeleted"
    AcsChatThreadParticipantAddedEventName = "Microsoft.Communication.ChatThreadParticipantAdded"
    AcsChatThreadParticipantRemovedEventName = "Microsoft.Communication.ChatThreadParticipantRemoved"
    AcsChatThreadPropertiesUpdatedEventName = "Microsoft.Communication.ChatThreadPropertiesUpdated"
    AcsChatThreadPropertiesUpdatedPerUserEventName = "Microsoft.Communication.ChatThreadPropertiesUpdatedPerUser"
    AcsChatThreadWithUserDeletedEventName = "Microsoft.Communication.ChatThreadWithUserDeleted"
    AcsSmsReceivedEventName = "Microsoft.Communication.SMSReceived"
    AcsSmsDeliveryReportReceivedEventName = "Microsoft.Communication.SMSDeliveryReportReceived"
    AcsAdvancedMessageReceivedEventName = "Microsoft.Communication.AdvancedMessageReceived"
    AcsAdvancedMessageDeliveryStatusUpdatedEventName = "Microsoft.Communication.AdvancedMessageDeliveryStatusUpdated"
    AcsEmailDeliveryReportReceivedEventName = "Microsoft.Communication.EmailDeliveryReportReceived"
    AcsEmailEngagementTrackingReportReceivedEventName = (
        "Microsoft.Communication.EmailEngagementTrackingReportReceived")
    AcsCallStartedEventName = "Microsoft.Communication.CallStarted"
    AcsCallEndedEventName = "Microsoft.Communication.CallEnded"
    AcsCallParticipantAddedEventName = "Microsoft.Communication.CallParticipantAdded"
    AcsCallParticipantRemovedEventName = "Microsoft.Communication.CallParticipantRemoved"
    AcsIncomingCallEventName = "Microsoft.Communication.IncomingCall"
    AcsRecordingFileStatusUpdatedEventName = "Microsoft.Communication.RecordingFileStatusUpdated"

CHAT_TYPES: dict[str, tuple[str, str]] = {name: kind for name, kind in {
    _N.AcsChatMessageReceivedEventName: ("message", "received"),
    _N.AcsChatMessageReceivedInThreadEventName: ("message", "received"),
    _N.AcsChatMessageEditedEventName: ("message", "edited"),
    _N.AcsChatMessageEditedInThreadEventName: ("message", "edited"),
    _N.AcsChatMessageDeletedEventName: ("message", "deleted"),
    _N.AcsChatMessageDeletedInThreadEventName: ("message", "deleted"),
    _N.AcsChatThreadCreatedEventName: ("thread", "created"),
    _N.AcsChatThreadCreatedWithUserEventName: ("thread", "created"),
    _N.AcsChatThreadDeletedEventName: ("thread", "deleted"),
    _N.AcsChatThreadWithUserDeletedEventName: ("thread", "deleted"),
    _N.AcsChatThreadPropertiesUpdatedEventName: ("thread", "updated"),
    _N.AcsChatThreadPropertiesUpdatedPerUserEventName: ("thread", "updated"),
    _N.AcsChatThreadParticipantAddedEventName: ("thread", "participant-added"),
    _N.AcsChatParticipantAddedToThreadWithUserEventName: ("thread", "participant-added"),
    _N.AcsChatMemberAddedToThreadWithUserEventName: ("thread", "participant-added"),
    _N.AcsChatThreadParticipantRemovedEventName: ("thread", "participant-removed"),
    _N.AcsChatParticipantRemovedFromThreadWithUserEventName: ("thread", "participant-removed"),
    _N.AcsChatMemberRemovedFromThreadWithUserEventName: ("thread", "participant-removed"),
}.items()}

CHANNEL_TYPES: dict[str, tuple[str, str]] = {name: kind for name, kind in {
    _N.AcsSmsReceivedEventName: ("sms-message", "received"),
    _N.AcsSmsDeliveryReportReceivedEventName: ("sms-report", "reported"),
    _N.AcsAdvancedMessageReceivedEventName: ("whatsapp-message", "received"),
    _N.AcsAdvancedMessageDeliveryStatusUpdatedEventName: ("whatsapp-report", "reported"),
    _N.AcsEmailDeliveryReportReceivedEventName: ("email-report", "reported"),
    _N.AcsEmailEngagementTrackingReportReceivedEventName: ("email-engagement", "reported"),
}.items()}

# Calls (archiving/calls): the call's events and its recordings (docs/archive-format.md, section 15).
CALL_TYPES: dict[str, tuple[str, str]] = {
    _N.AcsCallStartedEventName: ("call-started", "started"),
    _N.AcsCallEndedEventName: ("call-ended", "ended"),
    _N.AcsCallParticipantAddedEventName: ("call-participant", "added"),
    _N.AcsCallParticipantRemovedEventName: ("call-participant", "removed"),
    _N.AcsIncomingCallEventName: ("call-incoming", "incoming"),
    _N.AcsRecordingFileStatusUpdatedEventName: ("call-recording", "recorded"),
}

ARCHIVED_TYPES: dict[str, tuple[str, str]] = {**CHAT_TYPES, **CHANNEL_TYPES, **CALL_TYPES}

# Channel of each archived type (the infra's event type parameter groups them the same way).
CHANNEL_OF: dict[str, str] = {t: ("chat" if t in CHAT_TYPES else kind.split("-", 1)[0])
                              for t, (kind, _) in ARCHIVED_TYPES.items()}
