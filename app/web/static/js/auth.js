// API keys for the pages. With TIRSOLVE_API_KEYS set every API call needs `Authorization: Bearer <key>`:
// `apiFetch` sends the key kept in sessionStorage (it ends with the tab, never in localStorage), and a 401
// opens the key form with a message saying so instead of failing with a generic error.

import { el, errorMessage, setMessage } from "./dom.js";

const STORAGE_KEY = "tirsolve.api-key";
const NEEDED = "This server needs an API key. Enter it here; it is kept for this browser tab only.";
const REFUSED = "This server needs an API key, and the one entered was not accepted. Check it and try again.";

/** Thrown by `apiFetch` on a 401. The key form already shows the message: callers show nothing more. */
export class ApiKeyError extends Error {
  constructor(code) {
    super(code === "invalid_api_key" ? REFUSED : NEEDED);
    this.name = "ApiKeyError";
    this.code = code;
  }
}

let control = null; // the mounted key form, if the page has one
const listeners = [];

export function storedKey() {
  try {
    return sessionStorage.getItem(STORAGE_KEY) || "";
  } catch {
    return ""; // storage disabled: every call goes without a key
  }
}

function storeKey(key) {
  if (key) sessionStorage.setItem(STORAGE_KEY, key);
  else sessionStorage.removeItem(STORAGE_KEY);
}

/** Call `listener(key)` after the key is set or forgotten (to retry what a 401 stopped). */
export function onKeyChange(listener) {
  listeners.push(listener);
}

/** `fetch` with the stored key; a 401 shows the key form and throws ApiKeyError. */
export async function apiFetch(url, init = {}) {
  const headers = new Headers(init.headers);
  const key = storedKey();
  if (key) headers.set("Authorization", `Bearer ${key}`);
  const response = await fetch(url, { ...init, headers });
  if (response.status !== 401) return response;
  let code = null;
  try {
    code = (await response.json()).error.code;
  } catch {
    // a 401 without our error body (a proxy in front): still a key problem
  }
  const error = new ApiKeyError(code);
  control?.ask(error.message);
  throw error;
}

/** `apiFetch` that also throws an Error with the service's message on any other failure. */
async function fetchOk(url) {
  const response = await apiFetch(url);
  if (!response.ok) throw new Error(await errorMessage(response));
  return response;
}

/** Save an API resource as a file: fetched with the key, handed to the browser as a Blob object URL. */
export async function downloadFile(url, filename) {
  saveBlob(await (await fetchOk(url)).blob(), filename);
}

/** Show an API resource (an HTML report) in a new tab from a Blob object URL; saved as a file if blocked. */
export async function openFile(url, filename) {
  const blob = await (await fetchOk(url)).blob();
  const href = URL.createObjectURL(blob);
  const tab = window.open(href, "_blank");
  if (tab) tab.opener = null;
  else saveBlob(blob, filename); // a popup blocker said no
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

function saveBlob(blob, filename) {
  const href = URL.createObjectURL(blob);
  const link = el("a", { href, download: filename, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000); // the download has long started by then
}

/** Build the key form into `container`: a disclosure that opens by itself when a call gets a 401. */
export function mountKeyControl(container) {
  const input = el("input", {
    id: "api-key-input",
    type: "password",
    autocomplete: "off",
    spellcheck: "false",
    "aria-describedby": "api-key-help",
  });
  const state = el("span", { class: "api-key-state" });
  const message = el("p", { class: "error", role: "alert", hidden: true });
  const saved = el("p", { class: "hint", role: "status" });
  const forget = el("button", { type: "button" }, "Forget key");
  const form = el(
    "form",
    { class: "api-key-form", novalidate: true },
    el("label", { for: "api-key-input" }, "API key"),
    input,
    el("button", { type: "submit" }, "Use key"),
    forget,
  );
  const details = el(
    "details",
    { class: "api-key" },
    el("summary", {}, "API key", state),
    form,
    el(
      "p",
      { id: "api-key-help", class: "hint" },
      "Only needed when the server asks for one. Kept for this tab only and sent as ",
      el("code", {}, "Authorization: Bearer"),
      ".",
    ),
    message,
    saved,
  );
  container.append(details);

  const showState = () => {
    state.textContent = storedKey() ? " (set for this tab)" : "";
    forget.hidden = !storedKey();
  };
  const changed = (key) => {
    showState();
    for (const listener of listeners) listener(key);
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      setMessage(message, "Enter the key first.");
      input.focus();
      return;
    }
    try {
      new Headers({ Authorization: `Bearer ${key}` }); // throws on what a header cannot carry
      storeKey(key);
    } catch (error) {
      setMessage(
        message,
        error instanceof TypeError
          ? "This key has characters an HTTP header cannot carry."
          : "This browser does not let the page keep the key (session storage is off).",
      );
      return;
    }
    input.value = "";
    setMessage(message, "");
    saved.textContent = "Key saved for this tab; it is sent with every request.";
    changed(key);
  });
  forget.addEventListener("click", () => {
    try {
      storeKey("");
    } catch {
      // storage is off: there was no key to forget
    }
    setMessage(message, "");
    saved.textContent = "Key forgotten.";
    changed("");
  });
  showState();
  control = {
    ask(text) {
      saved.textContent = "";
      setMessage(message, text);
      details.open = true;
      input.focus();
    },
  };
}
