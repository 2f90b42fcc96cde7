// Example Sundial authorizer written in JavaScript, built with componentize-js.
//
// Rules (the same as ../python-authorizer/app.py):
//   1. the health check and GetSystemInfo are always allowed;
//   2. a caller whose claims.subject is listed in config `admins` is allowed;
//   3. a call on a namespace listed in config `namespaces` is allowed;
//   4. a read call (method name starting with Describe, Get, List, Count or Query) on a
//      namespace listed in config `read-only-namespaces` is allowed;
//   5. anything else is denied with a reason.
// Lists in config are comma-separated; items are trimmed and empty items ignored.

import { log, config } from 'sundial:plugin/host@0.2.0';

const LANG = 'javascript';

const ALWAYS = [
  '/grpc.health.v1.Health/Check',
  '/temporal.api.workflowservice.v1.WorkflowService/GetSystemInfo',
];

const READ_PREFIXES = ['Describe', 'Get', 'List', 'Count', 'Query'];

// `option<string>` arrives as a string or undefined.
function configList(key) {
  const value = config(key) ?? '';
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

// Undefined to allow, else the reason of the denial.
function decide(claims, target) {
  const method = target.apiName.slice(target.apiName.lastIndexOf('/') + 1);
  const ns = target.namespace;
  if (ALWAYS.includes(target.apiName)) return undefined;
  if (claims != null && configList('admins').includes(claims.subject)) return undefined;
  if (ns !== '' && configList('namespaces').includes(ns)) return undefined;
  if (
    ns !== '' &&
    configList('read-only-namespaces').includes(ns) &&
    READ_PREFIXES.some((prefix) => method.startsWith(prefix))
  ) {
    return undefined;
  }
  return `${LANG} example: ${method} on namespace "${ns}" is not allowed`;
}

// Export of interface `sundial:plugin/access-control@0.2.0`. Returning a value is `ok`;
// throwing would be `err(string)`.
export const accessControl = {
  authorize(claims, target) {
    const reason = decide(claims, target);
    const subject = claims != null ? claims.subject : '';
    const verdict = reason === undefined ? 'allow' : 'deny';
    log(
      'debug',
      `${LANG} example: ${verdict} ${target.apiName} namespace "${target.namespace}" subject "${subject}"`,
    );
    if (reason === undefined) {
      return { decision: 'allow', reason: undefined, principal: undefined };
    }
    return { decision: 'deny', reason, principal: undefined };
  },
};
