// The Step Functions API, as boto3 calls it: POST / with X-Amz-Target.
// The browser's session cookie (when the server requires credentials)
// stands in for the SigV4 signature.

/** An error the API answered with (`__type`, `message`). */
export class ApiError extends Error {
  constructor(type, message, status) {
    super(`${type}: ${message}`);
    this.type = type;
    this.status = status;
  }
}

/** Calls one operation and returns its JSON answer. */
export async function call(op, body = {}) {
  const r = await fetch("/", {
    method: "POST",
    headers: {
      "Content-Type": "application/x-amz-json-1.0",
      "X-Amz-Target": `AWSStepFunctions.${op}`,
    },
    body: JSON.stringify(body),
    credentials: "same-origin",
  });
  const text = await r.text();
  let json = {};
  try { json = text ? JSON.parse(text) : {}; } catch (_) { json = { __type: "InvalidResponse", message: text }; }
  if (!r.ok) {
    const type = String(json.__type || "Error").split("#").pop();
    // The session ended (a restarted server has a new token): the page
    // itself now answers with the login form.
    if (r.status === 403 && type === "MissingAuthenticationToken") location.reload();
    throw new ApiError(type, json.message || json.Message || r.statusText, r.status);
  }
  return json;
}

/** Every event of an execution's history, in order (pages of 1,000). */
export async function history(executionArn) {
  const events = [];
  let nextToken;
  do {
    const r = await call("GetExecutionHistory", { executionArn, maxResults: 1000, nextToken });
    events.push(...r.events);
    nextToken = r.nextToken;
  } while (nextToken);
  return events;
}

/**
 * The events after `lastId`, read from the tail of the history: a poll of
 * an execution with nothing new costs one page of at most 100 events.
 */
export async function eventsAfter(executionArn, lastId) {
  const fresh = [];
  let nextToken;
  for (;;) {
    const r = await call("GetExecutionHistory", { executionArn, reverseOrder: true, maxResults: 100, nextToken });
    let reached = false;
    for (const e of r.events) {
      if (e.id <= lastId) { reached = true; break; }
      fresh.push(e);
    }
    nextToken = r.nextToken;
    if (reached || !nextToken) break;
  }
  return fresh.reverse();
}
