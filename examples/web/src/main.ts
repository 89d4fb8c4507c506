// The example page: sign in, submit a profile to the ingest API, follow the job's
// progress (Server-Sent Events read with fetch, see clients/typescript/src/events.ts), then
// read the recommendations from Convex with the official `convex` client.
import { createIngestClient, type JobView, ProblemError } from "@career-agents/ingest-client";
import { ConvexHttpClient } from "convex/browser";

import { api } from "../../../deploy/convex/convex/_generated/api.js";
import exampleProfile from "../../profile.json";
import { signIn, type Session } from "./auth";
import { config } from "./config";
import "./style.css";

type RecommendationsDoc = NonNullable<Awaited<ReturnType<typeof readRecommendations>>>;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const who = $<HTMLParagraphElement>("who");
const profileInput = $<HTMLTextAreaElement>("profile");
const submitButton = $<HTMLButtonElement>("submit");
const errorBox = $<HTMLParagraphElement>("error");
const progressBar = $<HTMLProgressElement>("progress");
const progressLog = $<HTMLOListElement>("progress-log");
const results = $<HTMLOListElement>("results");

let session: Session;
const convex = new ConvexHttpClient(config.convexUrl);

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  attributes: Record<string, string> = {},
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

function showError(message: string): void {
  errorBox.textContent = message;
  errorBox.hidden = false;
}

function showProgress(job: JobView): void {
  progressBar.value = job.progress;
  progressLog.append(
    element("li", `${job.status} · ${job.progress}% · ${job.message}`, { "data-status": job.status }),
  );
}

async function readRecommendations(jobId: string) {
  convex.setAuth((await session.getToken({ template: "convex" })) ?? "");
  return convex.query(api.careerRecommendations.getByJob, { jobId });
}

/** convex-sync writes the document right after the job completes: poll briefly for it. */
async function waitForRecommendations(jobId: string, timeoutMs = 30_000): Promise<RecommendationsDoc> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const doc = await readRecommendations(jobId);
    if (doc) return doc;
    if (Date.now() > deadline) throw new Error("the recommendations did not arrive in Convex in time");
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

const money = new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", maximumFractionDigits: 0 });

function renderRecommendations(doc: RecommendationsDoc): void {
  $("results-section").hidden = false;
  $("results-source").textContent = "(from Convex)";
  $("results-summary").textContent = doc.summary ?? "";
  results.replaceChildren(
    ...doc.recommendations.map((rec) => {
      const item = element("li", undefined, { "data-testid": "recommendation" });
      const heading = element("h3");
      heading.append(
        element("span", rec.title, { class: "title" }),
        element("span", ` ${rec.occupationCode}`, { class: "code" }),
        element("span", ` ${(rec.score * 100).toFixed(0)}%`, { class: "score", title: "match score" }),
      );
      item.append(heading, element("p", rec.explanation, { class: "explanation" }));
      if (rec.matchedSkills.length)
        item.append(element("p", `Matched skills: ${rec.matchedSkills.join(", ")}`, { class: "matched" }));
      if (rec.skillGaps.length)
        item.append(element("p", `Skills to build: ${rec.skillGaps.join(", ")}`, { class: "gaps" }));
      const wages = rec.wages;
      if (wages && (wages.annualMedian ?? wages.annualMean) != null) {
        const annual = wages.annualMedian ?? wages.annualMean ?? 0;
        const kind = wages.annualMedian != null ? "median" : "mean";
        item.append(
          element("p", `US annual ${kind} wage: ${money.format(annual)}${wages.year ? ` (${wages.year})` : ""}`, {
            class: "wages",
          }),
        );
      }
      return item;
    }),
  );
}

async function analyze(): Promise<void> {
  errorBox.hidden = true;
  let profile: unknown;
  try {
    profile = JSON.parse(profileInput.value);
  } catch {
    showError("The profile is not valid JSON.");
    return;
  }
  submitButton.disabled = true;
  progressLog.replaceChildren();
  results.replaceChildren();
  $("results-section").hidden = true;
  $("progress-section").hidden = false;
  const ingest = createIngestClient({ baseUrl: config.ingestUrl, getToken: () => session.getToken() });
  try {
    const accepted = await ingest.analyze(profile as Parameters<typeof ingest.analyze>[0], {
      idempotencyKey: crypto.randomUUID(),
    });
    document.body.dataset.jobId = accepted.jobId;
    const final = await ingest.followJob(accepted.jobId, { onStatus: showProgress });
    if (final.status !== "completed") {
      showError(`The job ended as ${final.status}: ${final.reason ?? final.message}`);
      return;
    }
    renderRecommendations(await waitForRecommendations(accepted.jobId));
  } catch (error) {
    if (error instanceof ProblemError) {
      const fields = error.problem?.errors?.map((e) => `${JSON.stringify(e.loc ?? "")}: ${e.msg ?? ""}`) ?? [];
      showError([error.message, ...fields].join("\n"));
    } else {
      showError((error as Error).message);
    }
  } finally {
    submitButton.disabled = false;
  }
}

async function start(): Promise<void> {
  profileInput.value = JSON.stringify(exampleProfile, null, 2);
  session = await signIn({
    clerkPublishableKey: config.clerkPublishableKey,
    devUserId: config.devUserId,
    signInElement: $("sign-in"),
  });
  document.body.dataset.userId = session.userId;
  who.textContent = `Signed in as ${session.userId}${config.clerkPublishableKey ? "" : " (dev issuer)"}`;
  submitButton.disabled = false;
  submitButton.addEventListener("click", () => void analyze());
}

start().catch((error: Error) => showError(error.message));
