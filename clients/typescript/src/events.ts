/**
 * Following a job's Server-Sent Events from a browser with `fetch`.
 *
 * `EventSource` cannot send an `Authorization` header, and a Clerk session token must never
 * travel in a URL (URLs end up in logs). So the stream is read with `fetch` and parsed here:
 * every (re)connection asks `getToken()` for a fresh token, and resumes after the last
 * event seen with the `Last-Event-ID` header, as EventSource itself would. A 204 answer
 * means the terminal event was already delivered.
 */
import type { components } from "./schema.js";

type JobView = components["schemas"]["JobView"];

export interface ServerSentEvent {
  event: string;
  data: string;
  id?: string;
  retry?: number;
}

/** Parses a `text/event-stream` body (the WHATWG event-stream format) into events. */
export async function* parseEventStream(body: ReadableStream<Uint8Array>): AsyncGenerator<ServerSentEvent> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  let event: Partial<ServerSentEvent> & { data?: string } = {};
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let newline: number;
      while ((newline = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + (buffer.startsWith("\r\n", newline) ? 2 : 1));
        if (line === "") {
          if (event.data !== undefined) {
            yield { event: event.event ?? "message", data: event.data, id: event.id, retry: event.retry };
          }
          event = {};
          continue;
        }
        if (line.startsWith(":")) continue; // keep-alive comment
        const colon = line.indexOf(":");
        const field = colon < 0 ? line : line.slice(0, colon);
        let value = colon < 0 ? "" : line.slice(colon + 1);
        if (value.startsWith(" ")) value = value.slice(1);
        if (field === "data") event.data = event.data === undefined ? value : `${event.data}\n${value}`;
        else if (field === "event") event.event = value;
        else if (field === "id") event.id = value;
        else if (field === "retry" && /^\d+$/.test(value)) event.retry = Number(value);
      }
    }
  } finally {
    reader.releaseLock();
  }
}

export interface FollowOptions {
  baseUrl: string;
  getToken: () => Promise<string | null>;
  fetch?: typeof globalThis.fetch;
  /** Called with the job's state on every progress event. */
  onStatus?: (job: JobView) => void;
  /** Resume after this event id (e.g. after a page reload). */
  lastEventId?: string;
  /** Abort to stop following. */
  signal?: AbortSignal;
  /** Give up after this many connection attempts in a row without a new event (default 5). */
  maxAttempts?: number;
}

const TERMINAL = new Set(["completed", "needs_more_information", "failed"]);

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    });
  });
}

/** Follows a job until its terminal state (reconnecting as needed); resolves with it. */
export async function followJob(jobId: string, options: FollowOptions): Promise<JobView> {
  const doFetch = options.fetch ?? globalThis.fetch.bind(globalThis);
  const url = `${options.baseUrl.replace(/\/+$/, "")}/v1/jobs/${encodeURIComponent(jobId)}/events`;
  const maxAttempts = options.maxAttempts ?? 5;
  let lastEventId = options.lastEventId;
  let latest: JobView | undefined;
  let retryMs = 2000;
  let failures = 0;
  for (;;) {
    const token = await options.getToken();
    const headers: Record<string, string> = { Accept: "text/event-stream" };
    if (token) headers.Authorization = `Bearer ${token}`;
    if (lastEventId !== undefined) headers["Last-Event-ID"] = lastEventId;
    let progressed = false;
    try {
      const response = await doFetch(url, { headers, signal: options.signal, cache: "no-store" });
      if (response.status === 204) {
        if (latest) return latest;
        // Already finished before we connected with this Last-Event-ID: read its state.
        const job = await doFetch(url.slice(0, -"/events".length), { headers: { Authorization: headers.Authorization ?? "" } });
        if (job.ok) return (await job.json()) as JobView;
        throw new Error(`job ${jobId}: HTTP ${job.status}`);
      }
      if (!response.ok || !response.body) {
        const problem = await response.json().catch(() => undefined);
        const error = new Error(problem?.detail ?? `HTTP ${response.status}`) as Error & { status?: number };
        error.status = response.status;
        // 4xx other than 401 (a token that expired on the way) will not get better.
        if (response.status !== 401 && response.status < 500) throw error;
        throw Object.assign(error, { retryable: true });
      }
      for await (const event of parseEventStream(response.body)) {
        if (event.retry !== undefined) retryMs = event.retry;
        if (event.id !== undefined) lastEventId = event.id;
        if (event.event !== "status") continue;
        latest = JSON.parse(event.data) as JobView;
        progressed = true;
        options.onStatus?.(latest);
        if (TERMINAL.has(latest.status)) return latest;
      }
    } catch (error) {
      if (options.signal?.aborted) throw error;
      const retryable = (error as { retryable?: boolean }).retryable ?? error instanceof TypeError;
      if (!retryable && (error as { status?: number }).status !== undefined) throw error;
    }
    // The stream ended before the terminal event (network drop, deploy, expired token).
    failures = progressed ? 0 : failures + 1;
    if (failures >= maxAttempts) throw new Error(`job ${jobId}: event stream unavailable`);
    await sleep(retryMs, options.signal);
  }
}
