// One sample's trajectory on the page: prose, highlighted code, sandbox outputs with their status.
// Live from the SSE stream (`delta`, `output`, `finish`), then redrawn from the final JSON steps.

import { append, clear, el } from "./dom.js";
import { highlightPython } from "./highlight.js";
import { renderProse } from "./prose.js";
import { texSpan } from "./math.js";

const FINISH_LABELS = {
  answered: "answered",
  max_rounds: "stopped: round limit",
  length: "stopped: context full",
  stop_no_answer: "ended without an answer",
  error: "failed",
};

/** Split model text into prose and fenced code; an unclosed fence (still streaming) is code too. */
export function splitFences(text) {
  const parts = [];
  const open = /```([\w+-]*)[ \t]*\n/g;
  let pos = 0;
  for (;;) {
    open.lastIndex = pos;
    const m = open.exec(text);
    if (!m) break;
    if (m.index > pos) parts.push({ type: "text", content: text.slice(pos, m.index) });
    const bodyStart = m.index + m[0].length;
    const close = /^```[ \t]*$/m.exec(text.slice(bodyStart));
    if (!close) {
      parts.push({ type: "code", lang: m[1], content: text.slice(bodyStart), streaming: true });
      pos = text.length;
      break;
    }
    parts.push({
      type: "code",
      lang: m[1],
      content: text.slice(bodyStart, bodyStart + close.index).replace(/\n$/, ""),
    });
    pos = bodyStart + close.index + close[0].length;
  }
  if (pos < text.length) parts.push({ type: "text", content: text.slice(pos) });
  return parts.filter((p) => p.type === "code" || p.content.trim());
}

/** A highlighted code block (python unless told otherwise). */
export function codeBlock(code, lang = "python", streaming = false) {
  const pre = el("pre", { class: "code", "data-lang": lang || "code" });
  const codeEl = el("code");
  if (!lang || lang === "python" || lang === "py") codeEl.append(highlightPython(code));
  else codeEl.textContent = code;
  pre.append(codeEl);
  if (streaming) pre.classList.add("streaming");
  return el("figure", { class: "code-block" }, el("figcaption", {}, lang || "code"), pre);
}

/** The sandbox output of a code block, with a status badge that says its status in words. */
export function outputBlock({ output, status, duration_ms: durationMs, truncated }) {
  const caption = el(
    "figcaption",
    {},
    "Output ",
    statusBadge(status || "ok"),
    durationMs !== null && durationMs !== undefined
      ? el("span", { class: "duration" }, ` ${formatMs(durationMs)}`)
      : null,
    truncated ? el("span", { class: "hint" }, " (truncated)") : null,
  );
  return el(
    "figure",
    { class: `output output-${cssWord(status || "ok")}` },
    caption,
    el("pre", {}, output || ""),
  );
}

export function statusBadge(status) {
  return el("span", { class: `badge status-${cssWord(status)}` }, status);
}

function stepNodes(step) {
  if (step.type === "code") return [codeBlock(step.content)];
  if (step.type === "output") return [outputBlock({ ...step, output: step.content })];
  return splitFences(step.content).map(partNode);
}

function partNode(part) {
  return part.type === "code"
    ? codeBlock(part.content, part.lang, part.streaming)
    : renderProse(part.content);
}

/** The view of sample `index` inside `container`: a disclosure with its state in the summary. */
export class SampleView {
  constructor(container, index, { open = false, label = `Sample ${index + 1}` } = {}) {
    this.pending = "";
    this.frame = 0;
    this.state = el("span", { class: "sample-state" }, "running");
    this.answer = el("span", { class: "sample-answer" });
    this.meta = el("span", { class: "sample-meta" });
    this.steps = el("div", { class: "steps" });
    this.live = el("div", { class: "live" });
    this.root = el(
      "details",
      { class: "sample", "data-sample": index, open },
      el(
        "summary",
        {},
        el("span", { class: "sample-label" }, label),
        " ",
        this.state,
        " ",
        this.answer,
        this.meta,
      ),
      this.steps,
      this.live,
    );
    container.append(this.root);
  }

  /** More model text: redraw the current round once per animation frame. */
  delta(text) {
    this.pending += text;
    if (!this.frame) this.frame = requestAnimationFrame(() => this.drawLive());
  }

  drawLive() {
    this.frame = 0;
    clear(this.live);
    append(this.live, splitFences(this.pending).map(partNode));
  }

  /** An execution result ends the round: keep its text, then show the output. */
  output(event) {
    this.commit();
    this.steps.append(outputBlock(event));
  }

  commit() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    append(this.steps, splitFences(this.pending).map(partNode));
    this.pending = "";
    clear(this.live);
  }

  /** The sample is done: its answer and how it ended. */
  finish({ answer, finish }) {
    this.commit();
    this.root.dataset.finish = finish;
    this.state.textContent = FINISH_LABELS[finish] || finish;
    this.state.className = `sample-state finish-${cssWord(finish)}`;
    clear(this.answer);
    if (answer !== null && answer !== undefined) append(this.answer, "→ ", texSpan(answer));
  }

  /** The solve ended early (stopped, or an error): a sample still running says so. */
  stop() {
    if (this.root.dataset.finish) return;
    this.commit();
    this.root.dataset.finish = "stopped";
    this.state.textContent = "stopped";
    this.state.className = "sample-state finish-stopped";
  }

  /** Redraw from the final JSON (the server's own split of the text). */
  showSteps(sample) {
    clear(this.live);
    clear(this.steps);
    this.pending = "";
    for (const step of sample.steps) append(this.steps, stepNodes(step));
    if (sample.error) this.steps.append(el("p", { class: "error" }, sample.error));
    this.finish(sample);
    const runs = `${sample.rounds} code run${sample.rounds === 1 ? "" : "s"}`;
    this.meta.textContent = ` · ${runs} · ${formatMs(sample.timing_ms.total)}`;
  }
}

export function formatMs(ms) {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function cssWord(word) {
  return String(word).replace(/[^a-z0-9_-]/gi, "");
}
