// The solve page: POST /solve with `stream: true`, draw each sample as its events arrive, then the answer.

import { ApiKeyError, apiFetch, mountKeyControl } from "./auth.js";
import { clear, el, errorMessage, setMessage } from "./dom.js";
import { renderMath, renderTex, texSpan } from "./math.js";
import { readEvents } from "./sse.js";
import { formatMs, SampleView } from "./trajectory.js";

const $ = (id) => document.getElementById(id);
const form = $("solve-form");
const problem = $("problem");
const solveButton = $("solve-button");
const stopButton = $("stop-button");
const formError = $("form-error");
const result = $("result");
const status = $("solve-status");
const answer = $("answer");
const votes = $("votes");
const trajectories = $("trajectories");
const samplesList = $("samples-list");

let running = null; // the AbortController of the solve in flight
let views = []; // one SampleView per sample of the current solve
let done = 0; // samples finished so far

/** The request body from the form, or throws an Error naming the field. */
function readForm() {
  const body = { problem: problem.value, mode: $("mode").value, stream: true };
  if (!body.problem.trim()) throw fieldError(problem, "Problem: please write a problem to solve.");
  const samples = Number($("samples").value || "1");
  if (!Number.isInteger(samples) || samples < 1 || samples > 32) {
    throw fieldError($("samples"), "Samples: a whole number from 1 to 32.");
  }
  body.samples = samples;
  const temperature = $("temperature").value.trim();
  if (temperature) {
    const t = Number(temperature);
    if (!Number.isFinite(t) || t < 0 || t > 2)
      throw fieldError($("temperature"), "Temperature: from 0 to 2.");
    body.temperature = t;
  }
  return body;
}

function fieldError(input, message) {
  input.setAttribute("aria-invalid", "true");
  input.focus();
  return new Error(message);
}

async function solve(event) {
  event.preventDefault();
  if (running) return;
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  let body;
  try {
    body = readForm();
  } catch (error) {
    setMessage(formError, error.message);
    return;
  }
  setMessage(formError, "");
  start(body.samples);
  running = new AbortController();
  try {
    const response = await apiFetch("solve", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal: running.signal,
    });
    if (!response.ok) throw new Error(await errorMessage(response));
    await follow(response, body.samples);
  } catch (error) {
    if (error.name === "AbortError") status.textContent = "Stopped.";
    else if (error instanceof ApiKeyError) unstart(); // the key form says why
    else fail(error.message);
  } finally {
    for (const view of views) view.stop(); // no-op for samples that finished
    running = null;
    solveButton.disabled = false;
    stopButton.disabled = true;
    trajectories.setAttribute("aria-busy", "false");
  }
}

function start(samples) {
  solveButton.disabled = true;
  stopButton.disabled = false;
  result.hidden = false;
  trajectories.hidden = false;
  trajectories.setAttribute("aria-busy", "true");
  $("trajectories-heading").textContent = samples > 1 ? `Trajectories (${samples} samples)` : "Trajectory";
  clear(answer);
  clear(votes);
  clear(samplesList);
  answer.classList.remove("no-answer");
  done = 0;
  views = Array.from({ length: samples }, (_, i) => new SampleView(samplesList, i, { open: i === 0 }));
  status.textContent = samples > 1 ? `Solving with ${samples} samples…` : "Solving…";
}

/** Back to the empty page: the solve never started (no key, or a wrong one). */
function unstart() {
  status.textContent = "";
  views = [];
  clear(samplesList);
  result.hidden = true;
  trajectories.hidden = true;
}

async function follow(response, samples) {
  for await (const { event, data } of readEvents(response)) {
    const view = views[data.sample ?? 0];
    if (event === "text") view?.delta(data.delta);
    else if (event === "output") view?.output(data);
    else if (event === "sample") {
      view?.finish(data);
      done += 1;
      if (samples > 1) status.textContent = `Solving… ${done} of ${samples} samples done.`;
    } else if (event === "final") return showFinal(data);
    else if (event === "error") return fail(data.error?.message || "The solve failed.");
  }
  fail("The connection closed before the answer arrived.");
}

function showFinal(body) {
  body.samples.forEach((sample, i) => (views[i] ?? new SampleView(samplesList, i)).showSteps(sample));
  clear(answer);
  if (body.answer === null) {
    answer.classList.add("no-answer");
    answer.textContent = "No answer: no sample reached a boxed answer.";
  } else {
    answer.append(renderTex(el("div", { class: "answer-tex" }), `\\boxed{${body.answer}}`, true));
    answer.append(el("p", { class: "answer-source" }, "Answer as written: ", el("code", {}, body.answer)));
  }
  const n = body.samples.length;
  const share = `${Math.round(body.confidence * 100)}%`;
  status.textContent =
    (body.answer === null
      ? "Finished without an answer"
      : n > 1
        ? `Answered; ${share} of ${n} samples agree`
        : "Answered") + ` in ${formatMs(body.timing_ms.total)}.`;
  if (n > 1 && body.votes.length) votes.append(votesTable(body.votes, n, body.answer));
}

function votesTable(list, n, winner) {
  const rows = list.map((v) =>
    el(
      "tr",
      { class: v.answer === winner ? "winner" : null },
      el("td", {}, texSpan(v.answer)),
      el("td", { class: "num" }, v.count),
      el("td", { class: "num" }, `${Math.round((v.count / n) * 100)}%`),
    ),
  );
  return el(
    "table",
    { class: "votes" },
    el("caption", {}, `Votes over ${n} samples`),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        el("th", { scope: "col" }, "Answer"),
        el("th", { scope: "col" }, "Votes"),
        el("th", { scope: "col" }, "Share"),
      ),
    ),
    el("tbody", {}, rows),
  );
}

function fail(message) {
  status.textContent = "";
  setMessage(formError, message);
  answer.classList.add("no-answer");
}

// Live preview of the problem's math, redrawn at most once per frame.
let previewFrame = 0;
function preview() {
  if (previewFrame) return;
  previewFrame = requestAnimationFrame(() => {
    previewFrame = 0;
    const box = $("problem-preview");
    box.textContent = problem.value;
    box.hidden = !problem.value.trim();
    renderMath(box);
  });
}

mountKeyControl($("api-key"));
form.addEventListener("submit", solve);
stopButton.addEventListener("click", () => running?.abort());
problem.addEventListener("input", preview);
problem.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
});
for (const button of document.querySelectorAll("[data-example]")) {
  button.addEventListener("click", () => {
    problem.value = button.dataset.example;
    preview();
    problem.focus();
  });
}
