"""Example Sundial authorizer written in Python, built with componentize-py.

Rules (the same as ../js-authorizer/authorizer.js):
  1. the health check and GetSystemInfo are always allowed;
  2. a caller whose claims.subject is listed in config `admins` is allowed;
  3. a call on a namespace listed in config `namespaces` is allowed;
  4. a read call (method name starting with Describe, Get, List, Count or Query) on a
     namespace listed in config `read-only-namespaces` is allowed;
  5. anything else is denied with a reason.
Lists in config are comma-separated; items are trimmed and empty items ignored.
"""

from typing import Optional

from wit_world import exports
from wit_world.imports import host
from wit_world.imports.types import Authorization, CallTarget, Claims, Decision

LANG = "python"

ALWAYS = (
    "/grpc.health.v1.Health/Check",
    "/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo",
)

READ_PREFIXES = ("Describe", "Get", "List", "Count", "Query")


def config_list(key: str) -> list[str]:
    value = host.config(key) or ""
    return [item.strip() for item in value.split(",") if item.strip()]


def decide(claims: Optional[Claims], target: CallTarget) -> Optional[str]:
    """None to allow, else the reason of the denial."""
    method = target.api_name.rsplit("/", 1)[-1]
    ns = target.namespace
    if target.api_name in ALWAYS:
        return None
    if claims is not None and claims.subject in config_list("admins"):
        return None
    if ns and ns in config_list("namespaces"):
        return None
    if ns and ns in config_list("read-only-namespaces") and method.startswith(READ_PREFIXES):
        return None
    return f'{LANG} example: {method} on namespace "{ns}" is not allowed'


class AccessControl(exports.AccessControl):
    def authorize(self, claims: Optional[Claims], target: CallTarget) -> Authorization:
        reason = decide(claims, target)
        subject = claims.subject if claims is not None else ""
        verdict = "allow" if reason is None else "deny"
        host.log(
            host.LogLevel.DEBUG,
            f'{LANG} example: {verdict} {target.api_name} namespace "{target.namespace}" subject "{subject}"',
        )
        if reason is None:
            return Authorization(decision=Decision.ALLOW, reason=None, principal=None)
        return Authorization(decision=Decision.DENY, reason=reason, principal=None)
