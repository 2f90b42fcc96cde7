"""Example Sundial archiver written in Python, built with componentize-py.

It archives into a "vault": a directory tree the operator grants to the plugin (writable) and
names with config `root` (default `/vault`). A namespace uses it with URIs of the scheme the
server routes to this plugin (`schemes:` in the plugin's YAML entry), e.g.

    temporal operator namespace create -n audit \
        --history-archival-state enabled --history-uri vault://audit/histories \
        --visibility-archival-state enabled --visibility-uri vault://audit/visibility

`vault://<bucket>/<path>` is the directory `<root>/<bucket>/<path>`. The layout:

    <dir>/<namespace id>/<workflow id>/<run id>/<close failover version>.history.json
        {"namespaceId", "workflowId", "runId", "closeFailoverVersion", "nextEventId",
         "batches": [each `History` batch as proto3 JSON, oldest first]}
    <dir>/<namespace id>/<close time ns>_<run id>.visibility.json
        the visibility record as JSON (the memo as proto3 JSON)

(workflow and run ids are base64url-encoded in paths.) The server's `proto-json` import turns
Temporal's protobuf messages into JSON and back, so the files read like
`temporal workflow show -o json` without a protobuf library in the component.

Every file is written to a temporary name and renamed into place, so archiving a run twice
(the server retries, or two attempts overlap) leaves one whole copy.

Visibility queries use this archiver's own small syntax, as Temporal lets each archiver do:
clauses `Key = 'value'` joined with AND, where Key is WorkflowId, RunId, WorkflowType or
ExecutionStatus (e.g. `WorkflowType = 'Order' AND ExecutionStatus = 'Completed'`); an empty
query matches everything. Results come newest close first.
"""

import base64
import json
import os
import re

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.history_archival import ArchiveHistoryRequest, GetHistoryRequest
from wit_world.exports.visibility_archival import (
    QueryVisibilityRequest,
    QueryVisibilityResponse,
    VisibilityRecord,
)
from wit_world.imports import history_source, host, proto_json
from wit_world.imports.history_source import HistoryPage
from wit_world.imports.types import (
    PluginError_InvalidArgument,
    PluginError_NotFound,
    PluginError_NonRetryable,
    PluginError_Retryable,
)

# Events asked of the server per page while archiving.
READ_PAGE = 500

HISTORY = "temporal.api.history.v1.History"
MEMO = "temporal.api.common.v1.Memo"

STATUS_NAMES = [
    "Unspecified", "Running", "Completed", "Failed", "Canceled",
    "Terminated", "ContinuedAsNew", "TimedOut",
]


def log(message: str) -> None:
    host.log(host.LogLevel.DEBUG, f"python archiver: {message}")


def directory(uri: str) -> str:
    """The vault directory a URI names; InvalidArgument for a malformed one."""
    scheme, sep, rest = uri.partition("://")
    if not sep or not scheme:
        raise Err(PluginError_InvalidArgument(f"{uri!r} is not a URI like vault://bucket/path"))
    bucket, _, path = rest.partition("/")
    parts = [bucket] + [p for p in path.split("/") if p]
    if not bucket or any(p in (".", "..") for p in parts):
        raise Err(PluginError_InvalidArgument(f"{uri!r} needs a bucket and no . or .. parts"))
    root = (host.config("root") or "/vault").rstrip("/")
    return "/".join([root] + parts)


def safe(name: str) -> str:
    """A path component for an id (ids may hold any character)."""
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=") or "_"


def write_whole(path: str, data: bytes) -> None:
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{os.getpid()}.{id(data)}.tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except OSError as e:
        raise Err(PluginError_Retryable(f"writing {path}: {e}"))


def read_json(path: str):
    try:
        with open(path, "rb") as f:
            return json.loads(f.read())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise Err(PluginError_NonRetryable(f"reading {path}: {e}"))


class HistoryArchival(exports.HistoryArchival):
    def validate_uri(self, uri: str) -> None:
        directory(uri)

    def archive_history(self, uri: str, request: ArchiveHistoryRequest) -> None:
        run_dir = "/".join([
            directory(uri), request.namespace_id, safe(request.workflow_id), safe(request.run_id),
        ])
        batches: list[bytes] = []
        token = b""
        while True:
            try:
                page = history_source.read_history(
                    request.namespace_id, request.workflow_id, request.run_id, READ_PAGE, token
                )
            except Err as e:
                if isinstance(e.value, PluginError_NotFound):
                    return  # deleted already: nothing left to archive
                raise
            batches.extend(page.batches)
            if not page.next_page_token:
                break
            token = page.next_page_token
        doc = {
            "namespaceId": request.namespace_id,
            "workflowId": request.workflow_id,
            "runId": request.run_id,
            "closeFailoverVersion": request.close_failover_version,
            "nextEventId": request.next_event_id,
            "batches": [json.loads(proto_json.to_json(HISTORY, b)) for b in batches],
        }
        path = f"{run_dir}/{request.close_failover_version}.history.json"
        write_whole(path, json.dumps(doc, indent=1).encode())
        log(f"archived {len(batches)} batches of {request.workflow_id}/{request.run_id}")

    def get_history(self, uri: str, request: GetHistoryRequest) -> HistoryPage:
        if request.page_size == 0:
            raise Err(PluginError_InvalidArgument("page size must be positive"))
        run_dir = "/".join([
            directory(uri), request.namespace_id, safe(request.workflow_id), safe(request.run_id),
        ])
        version = request.close_failover_version
        start = 0
        if request.next_page_token:
            try:
                version, start = json.loads(request.next_page_token)
            except ValueError:
                raise Err(PluginError_InvalidArgument("next page token is corrupted"))
        if version is None:
            try:
                names = os.listdir(run_dir)
            except FileNotFoundError:
                names = []
            versions = [int(n.split(".")[0]) for n in names if n.endswith(".history.json")]
            version = max(versions) if versions else None
        doc = None if version is None else read_json(f"{run_dir}/{version}.history.json")
        if doc is None:
            raise Err(PluginError_NotFound("requested workflow history does not exist"))
        # Whole batches, stopping once the page holds at least page_size events; the number
        # of events per batch is not stored, so this page counts batches instead.
        batches = doc["batches"][start:start + request.page_size]
        end = start + len(batches)
        token = json.dumps([version, end]).encode() if end < len(doc["batches"]) else b""
        return HistoryPage(
            batches=[proto_json.from_json(HISTORY, json.dumps(b)) for b in batches],
            next_page_token=token,
        )


CLAUSE = re.compile(r"^\s*(WorkflowId|RunId|WorkflowType|ExecutionStatus)\s*=\s*'([^']*)'\s*$")


def parse(query: str) -> list[tuple[str, str]]:
    if not query.strip():
        return []
    clauses = []
    for part in re.split(r"\s+AND\s+", query.strip(), flags=re.IGNORECASE):
        m = CLAUSE.match(part)
        if m is None:
            raise Err(PluginError_InvalidArgument(
                f"unsupported query clause {part.strip()!r}: this archiver takes "
                "WorkflowId, RunId, WorkflowType or ExecutionStatus = 'value', joined with AND"
            ))
        clauses.append((m.group(1), m.group(2)))
    return clauses


def matches(record: dict, clauses: list[tuple[str, str]]) -> bool:
    for key, value in clauses:
        if key == "ExecutionStatus":
            status = record["status"]
            name = STATUS_NAMES[status] if 0 <= status < len(STATUS_NAMES) else str(status)
            if name.lower() != value.lower():
                return False
        elif record[{"WorkflowId": "workflowId", "RunId": "runId",
                     "WorkflowType": "workflowType"}[key]] != value:
            return False
    return True


def to_json(r: VisibilityRecord) -> dict:
    return {
        "namespaceId": r.namespace_id, "namespace": r.namespace,
        "workflowId": r.workflow_id, "runId": r.run_id, "workflowType": r.workflow_type,
        "startTime": r.start_time, "executionTime": r.execution_time, "closeTime": r.close_time,
        "status": r.status, "historyLength": r.history_length,
        "memo": json.loads(proto_json.to_json(MEMO, r.memo)),
        "searchAttributes": dict(r.search_attributes),
        "historyArchivalUri": r.history_archival_uri,
        "executionDuration": r.execution_duration,
    }


def from_json(d: dict) -> VisibilityRecord:
    return VisibilityRecord(
        namespace_id=d["namespaceId"], namespace=d["namespace"],
        workflow_id=d["workflowId"], run_id=d["runId"], workflow_type=d["workflowType"],
        start_time=d["startTime"], execution_time=d["executionTime"], close_time=d["closeTime"],
        status=d["status"], history_length=d["historyLength"],
        memo=proto_json.from_json(MEMO, json.dumps(d["memo"])),
        search_attributes=sorted(d["searchAttributes"].items()),
        history_archival_uri=d["historyArchivalUri"],
        execution_duration=d["executionDuration"],
    )


class VisibilityArchival(exports.VisibilityArchival):
    def validate_uri(self, uri: str) -> None:
        directory(uri)

    def archive_visibility(self, uri: str, entry: VisibilityRecord) -> None:
        if not (entry.namespace_id and entry.workflow_id and entry.run_id):
            raise Err(PluginError_InvalidArgument("a record needs namespace, workflow and run ids"))
        path = f"{directory(uri)}/{entry.namespace_id}/{entry.close_time}_{safe(entry.run_id)}.visibility.json"
        write_whole(path, json.dumps(to_json(entry), indent=1).encode())

    def query_visibility(self, uri: str, request: QueryVisibilityRequest) -> QueryVisibilityResponse:
        if request.page_size == 0:
            raise Err(PluginError_InvalidArgument("page size must be positive"))
        clauses = parse(request.query)
        try:
            start = int(request.next_page_token or b"0")
        except ValueError:
            raise Err(PluginError_InvalidArgument("next page token is corrupted"))
        ns_dir = f"{directory(uri)}/{request.namespace_id}"
        try:
            names = os.listdir(ns_dir)
        except FileNotFoundError:
            names = []
        names = sorted((n for n in names if n.endswith(".visibility.json")),
                       key=lambda n: (int(n.split("_", 1)[0]), n), reverse=True)
        found = []
        for name in names:
            record = read_json(f"{ns_dir}/{name}")
            if record is not None and matches(record, clauses):
                found.append(record)
        page = found[start:start + request.page_size]
        end = start + len(page)
        token = str(end).encode() if end < len(found) else b""
        return QueryVisibilityResponse(records=[from_json(d) for d in page], next_page_token=token)
