// Homework files read in the browser into the JSON body of POST /homework (the CLI's layouts: one JSON
// set, or problems plus submissions as CSV or JSONL). The service validates the body and names bad items.

import { csvRecords } from "./csv.js";

/** `{title, strict, problems, submissions}` from the chosen files; throws an Error naming file and line. */
export async function readHomework(setFile, submissionsFile, { title = "", strict = false } = {}) {
  if (!setFile) throw new Error("Homework set: choose a JSON file with the whole set, or a problems file.");
  const main = await records(setFile);
  const body = Array.isArray(main) ? { problems: main } : { ...main };
  if (submissionsFile) {
    const subs = await records(submissionsFile);
    body.submissions = Array.isArray(subs) ? subs : subs.submissions;
  }
  if (!Array.isArray(body.problems)) throw new Error(`${setFile.name}: no "problems" list in this file`);
  if (!Array.isArray(body.submissions)) {
    throw new Error(
      "Submissions: choose a submissions file (CSV or JSONL), or a JSON file holding the whole set.",
    );
  }
  body.problems = body.problems.map(numericPoints);
  body.title = title.trim() || body.title || stem(setFile.name);
  if (strict) body.strict = true;
  return body;
}

async function records(file) {
  const text = await file.text();
  const ext = file.name.toLowerCase().split(".").pop();
  try {
    if (ext === "csv") return csvRecords(text);
    if (ext === "jsonl") return jsonLines(text);
    if (ext === "json") return JSON.parse(text);
  } catch (error) {
    throw new Error(`${file.name}: ${error.message}`);
  }
  throw new Error(`${file.name}: unknown file type ".${ext}" (use .json, .jsonl or .csv)`);
}

function jsonLines(text) {
  const out = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (!line.trim()) return;
    try {
      out.push(JSON.parse(line));
    } catch (error) {
      throw new Error(`line ${i + 1}: invalid JSON (${error.message})`);
    }
  });
  return out;
}

// CSV cells are strings; a number-looking `points` is sent as a number (anything else the service refuses).
function numericPoints(problem) {
  if (
    typeof problem.points === "string" &&
    problem.points.trim() !== "" &&
    Number.isFinite(Number(problem.points))
  ) {
    return { ...problem, points: Number(problem.points) };
  }
  return problem;
}

function stem(name) {
  return name.replace(/\.[^.]+$/, "");
}
