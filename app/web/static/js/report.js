// A grading report (GET /homework/{id}/report?format=json) as tables: scores, answer keys, every item.
// Problem statements and keys are typeset; student answers are hostile and shown as text.

import { el } from "./dom.js";
import { texSpan } from "./math.js";
import { renderProse } from "./prose.js";

/** The report's sections as one fragment. */
export function renderReport(report) {
  const fragment = document.createDocumentFragment();
  fragment.append(
    el("p", { class: "summary-line" }, summaryText(report)),
    scoresTable(report),
    keysTable(report),
    el("h3", {}, "Answers by student"),
    ...report.students.map((s) => studentDetails(s, report)),
  );
  return fragment;
}

function summaryText({ job, students, strict }) {
  const p = job.progress;
  return (
    `${students.length} students; ${p.submissions_checked} of ${p.submissions_total} answers checked, ` +
    `${p.problems_keyed} of ${p.problems_total} problems keyed${strict ? " (strict mode)" : ""}.`
  );
}

function th(text) {
  return el("th", { scope: "col" }, text);
}

function scoresTable(report) {
  const head = el(
    "tr",
    {},
    th("Student"),
    report.problems.map((p) => th(p.id)),
    th("Score"),
  );
  const rows = report.students.map((student) => {
    const byProblem = new Map(student.items.map((item) => [item.problem_id, item]));
    return el(
      "tr",
      { "data-student": student.student },
      el("th", { scope: "row" }, student.student),
      report.problems.map((p) => markCell(byProblem.get(p.id))),
      el("td", { class: "num score" }, `${fmt(student.score)} / ${fmt(student.max_score)}`),
    );
  });
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "scores" },
      el("caption", {}, "Scores"),
      el("thead", {}, head),
      el("tbody", {}, rows),
    ),
  );
}

function markCell(item) {
  if (!item)
    return el("td", { class: "mark" }, "—", el("span", { class: "visually-hidden" }, "not answered"));
  const ok = item.equivalent;
  return el(
    "td",
    { class: `mark ${ok ? "ok" : "bad"}`, title: item.reason },
    el("span", { "aria-hidden": "true" }, ok ? "✓" : "✗"),
    el("span", { class: "visually-hidden" }, ok ? "correct" : `wrong (${item.reason})`),
  );
}

function keysTable(report) {
  const head = el(
    "tr",
    {},
    th("Problem"),
    th("Statement"),
    th("Key"),
    th("Source"),
    th("Confidence"),
    th("Points"),
  );
  const rows = report.problems.map((p) => {
    const key = p.key;
    const review = Boolean(key && key.needs_review);
    return el(
      "tr",
      { class: review ? "needs-review" : null, "data-problem": p.id },
      el("th", { scope: "row" }, p.id),
      el("td", {}, p.problem ? renderProse(p.problem) : "—"),
      el(
        "td",
        {},
        key ? texSpan(key.answer) : "pending",
        key && key.error ? el("div", { class: "reason" }, key.error) : null,
      ),
      el("td", {}, key ? key.source : "pending"),
      el(
        "td",
        { class: "confidence" },
        key ? `${Math.round(key.confidence * 100)}%` : "—",
        review ? [" ", el("span", { class: "badge review" }, "needs review")] : null,
      ),
      el("td", { class: "num" }, fmt(p.points)),
    );
  });
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { class: "keys" },
      el("caption", {}, "Answer keys"),
      el("thead", {}, head),
      el("tbody", {}, rows),
    ),
  );
}

function studentDetails(student, report) {
  const review = new Set(report.problems.filter((p) => p.key && p.key.needs_review).map((p) => p.id));
  const head = el(
    "tr",
    {},
    th("Problem"),
    th("Answer"),
    th("Read as"),
    th("Verdict"),
    th("Reason"),
    th("Points"),
  );
  const rows = student.items.map((item) =>
    el(
      "tr",
      { class: review.has(item.problem_id) ? "needs-review" : null },
      el("th", { scope: "row" }, item.problem_id),
      el("td", { class: "student-answer" }, item.answer || "(empty)"),
      el("td", {}, texSpan(item.answer_parsed)),
      el(
        "td",
        {},
        el(
          "span",
          { class: `badge ${item.equivalent ? "ok" : "bad"}` },
          item.equivalent ? "correct" : "wrong",
        ),
      ),
      el("td", { class: "reason" }, item.reason, item.message ? `: ${item.message}` : ""),
      el("td", { class: "num" }, `${fmt(item.points)} / ${fmt(item.max_points)}`),
    ),
  );
  return el(
    "details",
    { class: "student", "data-student": student.student },
    el("summary", {}, `${student.student}: ${fmt(student.score)} / ${fmt(student.max_score)}`),
    el(
      "div",
      { class: "table-wrap" },
      el("table", { class: "items" }, el("thead", {}, head), el("tbody", {}, rows)),
    ),
  );
}

function fmt(n) {
  return Number.isInteger(n) ? String(n) : String(Math.round(n * 100) / 100);
}
