// The homework page: read the files, POST /homework, poll the job, then draw the report.

import { ApiKeyError, apiFetch, downloadFile, mountKeyControl, onKeyChange, openFile } from "./auth.js";
import { append, clear, el, errorMessage, setMessage } from "./dom.js";
import { readHomework } from "./homework-files.js";
import { renderReport } from "./report.js";

const $ = (id) => document.getElementById(id);
const form = $("homework-form");
const formError = $("form-error");
const summary = $("set-summary");
const gradeButton = $("grade-button");
const cancelButton = $("cancel-button");
const FINAL = new Set(["completed", "failed", "cancelled"]);
const POLL_MS = 400;

let following = null; // id of the job being watched
let stalled = null; // id of a job whose following a 401 stopped: retried once a key is given

async function submit(event) {
  event.preventDefault();
  setMessage(formError, "");
  let body;
  try {
    body = await readHomework($("set-file").files[0], $("submissions-file").files[0], {
      title: $("title").value,
      strict: $("strict").checked,
    });
  } catch (error) {
    setMessage(formError, error.message);
    return;
  }
  const students = new Set(body.submissions.map((s) => s.student)).size;
  summary.textContent = `${body.problems.length} problems, ${body.submissions.length} answers from ${students} students.`;
  gradeButton.disabled = true;
  try {
    const response = await apiFetch("homework", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    const job = await response.json();
    location.hash = `job=${encodeURIComponent(job.id)}`; // hashchange starts following it
  } catch (error) {
    showError(error);
    gradeButton.disabled = false;
  }
}

/** Poll the job until it ends, showing progress; then fetch and draw its report. */
async function follow(id) {
  following = id;
  $("job").hidden = false;
  $("report").hidden = true;
  gradeButton.disabled = true;
  cancelButton.hidden = false;
  try {
    for (;;) {
      const response = await apiFetch(`homework/${encodeURIComponent(id)}`);
      if (!response.ok) throw new Error(await errorMessage(response));
      const job = await response.json();
      if (following !== id) return;
      showProgress(job);
      if (FINAL.has(job.status)) break;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    await showReport(id);
  } catch (error) {
    if (following === id) showError(error);
    if (error instanceof ApiKeyError) {
      stalled = id;
      $("job").hidden = true;
    }
  } finally {
    if (following === id) {
      gradeButton.disabled = false;
      cancelButton.hidden = true;
      loadRecent();
    }
  }
}

function showProgress(job) {
  const p = job.progress;
  setBar("keyed", p.problems_keyed, p.problems_total);
  setBar("checked", p.submissions_checked, p.submissions_total);
  const title = job.title ? `“${job.title}”` : `Job ${job.id}`;
  $("job-status").textContent = `${title}: ${job.status}${job.error ? ` (${job.error})` : ""}.`;
}

function setBar(id, value, max) {
  const bar = $(id);
  bar.max = Math.max(max, 1);
  bar.value = value;
  $(`${id}-count`).textContent = `${value} / ${max}`;
}

async function showReport(id) {
  const response = await apiFetch(`homework/${encodeURIComponent(id)}/report?format=json`);
  if (!response.ok) throw new Error(await errorMessage(response));
  const report = await response.json();
  const base = `homework/${encodeURIComponent(id)}/report`;
  const name = `report-${id}`;
  append(
    clear($("downloads")),
    fileLink(el("a", { href: `${base}?format=csv`, download: `${name}.csv` }, "Download CSV")),
    fileLink(el("a", { href: `${base}?format=json`, download: `${name}.json` }, "Download JSON")),
    fileLink(
      el("a", { href: `${base}?format=html`, target: "_blank", rel: "noopener" }, "Printable HTML"),
      `${name}.html`,
    ),
  );
  append(clear($("report-body")), renderReport(report));
  $("report").hidden = false;
}

/** A plain link would go without the API key: a click fetches with it and saves (or opens) a Blob instead.
 * A link with `download` is saved under that name; one without opens in a new tab (`fallbackName` if a
 * popup blocker refuses). */
function fileLink(link, fallbackName) {
  link.addEventListener("click", (event) => {
    event.preventDefault();
    setMessage(formError, "");
    const href = link.getAttribute("href");
    const name = link.getAttribute("download");
    (name ? downloadFile(href, name) : openFile(href, fallbackName)).catch(showError);
  });
  return link;
}

async function cancel() {
  if (!following) return;
  try {
    const response = await apiFetch(`homework/${encodeURIComponent(following)}/cancel`, { method: "POST" });
    if (!response.ok) setMessage(formError, await errorMessage(response));
  } catch (error) {
    showError(error);
  }
}

/** An error in the form's alert; a missing or wrong key is said by the key form instead. */
function showError(error) {
  if (!(error instanceof ApiKeyError)) setMessage(formError, error.message);
}

async function loadRecent() {
  const list = $("recent-jobs");
  try {
    const response = await apiFetch("homework?limit=10");
    if (!response.ok) return;
    const jobs = await response.json();
    clear(list);
    if (!jobs.length) list.append(el("li", { class: "hint" }, "No jobs yet."));
    for (const job of jobs) {
      const when = new Date(job.created_at * 1000).toLocaleString();
      list.append(
        el(
          "li",
          {},
          el("a", { href: `#job=${encodeURIComponent(job.id)}` }, job.title || job.id),
          ` (${job.status}, ${when})`,
        ),
      );
    }
  } catch {
    // the list is a convenience; the page works without it
  }
}

function jobFromHash() {
  const match = /^#job=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function onHash() {
  const id = jobFromHash();
  if (id && id !== following) follow(id);
}

mountKeyControl($("api-key"));
onKeyChange(() => {
  loadRecent();
  if (stalled && stalled === jobFromHash()) {
    following = null;
    stalled = null;
    onHash();
  }
});
form.addEventListener("submit", submit);
cancelButton.addEventListener("click", cancel);
window.addEventListener("hashchange", onHash);
onHash();
loadRecent();
