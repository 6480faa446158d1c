"""OpenAPI links: which answer's ids feed which next call.

They document how a console session walks the API (list → open → claim → reply → close → case) and
let a stateful client (schemathesis' state machine in ``tests/handoff/web/test_schemathesis_stateful.py``)
chain real ids instead of guessing them. Links sit on each source operation's success response.
"""

from __future__ import annotations

from typing import Any

# (source path, method) → {link name: (target path, method, {target parameter: runtime expression})}
Target = tuple[str, str, dict[str, str]]

_FIRST = "$response.body#/items/0/id"
_ID = "$response.body#/id"
_CASE_OF_SUMMARY = "$response.body#/case_id"
_CONTACT_OF_SUMMARY = "$response.body#/contact/id"
_CONVERSATION = "/conversations/{id}"

# What a counsellor or supervisor does with a conversation they can see.
_OPEN_CONVERSATION: dict[str, Target] = {
    "GetConversation": (_CONVERSATION, "get", {"id": _ID}),
    "ReadTranscript": (f"{_CONVERSATION}/messages", "get", {"id": _ID}),
    "Claim": (f"{_CONVERSATION}/claim", "post", {"id": _ID}),
    "Join": (f"{_CONVERSATION}/join", "post", {"id": _ID}),
}
# What the owner does next.
_WORK_CONVERSATION: dict[str, Target] = {
    "Reply": (f"{_CONVERSATION}/messages", "post", {"id": _ID}),
    "Note": (f"{_CONVERSATION}/notes", "post", {"id": _ID}),
    "Whisper": (f"{_CONVERSATION}/whisper", "post", {"id": _ID}),
    "AssessRisk": (f"{_CONVERSATION}/risk", "put", {"id": _ID}),
    "Transfer": (f"{_CONVERSATION}/transfer", "post", {"id": _ID}),
    "Close": (f"{_CONVERSATION}/close", "post", {"id": _ID}),
    "GetCase": ("/cases/{id}", "get", {"id": _CASE_OF_SUMMARY}),
    "PreviousCases": ("/contacts/{contact_id}/cases", "get", {"contact_id": _CONTACT_OF_SUMMARY}),
}
_FROM_LIST = {name: (path, method, {"id": _FIRST}) for name, (path, method, _) in _OPEN_CONVERSATION.items()}
_ON_CASE: dict[str, Target] = {
    "Classify": ("/cases/{id}", "patch", {"id": _ID}),
    "Assess": ("/cases/{id}/assessment", "put", {"id": _ID}),
    "Refer": ("/cases/{id}/referrals", "post", {"id": _ID}),
    "AddFollowup": ("/cases/{id}/followups", "post", {"id": _ID}),
    "MandatoryReports": ("/cases/{id}/mandatory-reports", "get", {"id": _ID}),
    "FileMandatoryReport": ("/cases/{id}/mandatory-reports", "post", {"id": _ID}),
    "SafetyPlan": ("/cases/{id}/safety-plan", "get", {"id": _ID}),
    "WriteSafetyPlan": ("/cases/{id}/safety-plan", "put", {"id": _ID}),
    "YouthProfile": ("/cases/{id}/profile", "put", {"id": _ID}),
    "HoldCase": ("/cases/{id}/legal-hold", "post", {"id": _ID}),
    "ReleaseCase": ("/cases/{id}/legal-hold", "delete", {"id": _ID}),
    "Consents": ("/contacts/{id}/consents", "get", {"id": "$response.body#/contact_id"}),
    "SubjectData": ("/contacts/{id}/subject-data", "get", {"id": "$response.body#/contact_id"}),
    "UpdateReferral": ("/cases/{id}/referrals/{rid}", "patch",
                       {"id": _ID, "rid": "$response.body#/referrals/0/id"}),
    "TickFollowup": ("/cases/{id}/followups/{fid}", "patch",
                     {"id": _ID, "fid": "$response.body#/followups/0/id"}),
}

LINKS: dict[tuple[str, str], dict[str, Target]] = {
    ("/conversations", "get"): _FROM_LIST,
    ("/queue", "get"): _FROM_LIST,
    ("/queue/take-next", "post"): _WORK_CONVERSATION,
    (_CONVERSATION, "get"): {**_OPEN_CONVERSATION, **_WORK_CONVERSATION},
    (f"{_CONVERSATION}/claim", "post"): _WORK_CONVERSATION,
    (f"{_CONVERSATION}/join", "post"): _WORK_CONVERSATION,
    (f"{_CONVERSATION}/risk", "put"): _WORK_CONVERSATION,
    (f"{_CONVERSATION}/close", "post"): {"GetCase": _WORK_CONVERSATION["GetCase"],
                                         "GetConversation": _OPEN_CONVERSATION["GetConversation"]},
    ("/cases/{id}", "get"): _ON_CASE,
    ("/cases/{id}", "patch"): _ON_CASE,
    ("/cases/{id}/assessment", "put"): _ON_CASE,
    ("/cases/{id}/referrals", "post"): _ON_CASE,
    ("/cases/{id}/followups", "post"): _ON_CASE,
    ("/tasks", "get"): {"CompleteTask": ("/tasks/{id}/complete", "post", {"id": _FIRST}),
                        "AssignTask": ("/tasks/{id}/assign", "post", {"id": _FIRST})},
    ("/alerts", "get"): {"AcknowledgeAlert": ("/alerts/{id}/ack", "post", {"id": _FIRST})},
    ("/surges", "post"): {"EndSurge": ("/surges/{id}/end", "post", {"id": _ID})},
}


def _pointer(path: str, method: str) -> str:
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"#/paths/{escaped}/{method}"


def add_links(paths: dict[str, Any]) -> None:
    """Put each link on its source's success response; a link to a missing operation is a bug here."""
    for (source, method), targets in LINKS.items():
        responses = paths[source][method]["responses"]
        success = next(code for code in sorted(responses) if code.startswith("2") and "content" in responses[code])
        links = responses[success].setdefault("links", {})
        for name, (target, target_method, parameters) in targets.items():
            assert target_method in paths[target], f"link {name}: no {target_method.upper()} {target}"
            links[name] = {"operationRef": _pointer(target, target_method), "parameters": dict(parameters)}
