// Temporal's HTTP API on this origin. The token a user signs in with lives in this tab's
// session storage and goes out as the authorization header; it is never logged.

const TOKEN_KEY = 'sundial.token';

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(value) {
  const t = (value || '').trim();
  if (!t) sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, /^\S+\s/.test(t) ? t : `Bearer ${t}`);
}

/** An error the server answered: its HTTP status and the google.rpc.Status it sent. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body && body.message ? body.message : `HTTP ${status}`);
    this.status = status;
    this.code = body ? body.code : undefined;
  }
  get needsSignIn() {
    return this.status === 401 || this.status === 403;
  }
}

/** Listeners told when a call is refused for want of (valid) credentials. */
const refusedListeners = [];
export function onRefused(fn) {
  refusedListeners.push(fn);
}

/**
 * GET or POST `path` (query parameters from `params`, skipping empty ones). A refusal is
 * told to the listeners unless `quiet` (for calls the page can do without).
 */
export async function call(method, path, params = {}, body = undefined, quiet = false) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== '') url.searchParams.set(k, v);
  }
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const t = token();
  if (t) headers.Authorization = t;
  const reply = await fetch(url, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await reply.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = { message: text };
  }
  if (!reply.ok) {
    const e = new ApiError(reply.status, json);
    if (e.needsSignIn && !quiet) refusedListeners.forEach((fn) => fn(e));
    throw e;
  }
  return json;
}

export const get = (path, params, quiet = false) => call('GET', path, params, undefined, quiet);
export const post = (path, body) => call('POST', path, {}, body || {});

/** A path segment: every character that is not plain is escaped, a slash too. */
export const seg = (s) => encodeURIComponent(s);
export const nsPath = (ns) => `/api/v1/namespaces/${seg(ns)}`;
