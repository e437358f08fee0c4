// Building DOM from data. Every string becomes a text node: model output and student answers are hostile,
// so nothing here ever parses a string as HTML.

/** `el("td", {class: "ok", title: reason}, "✓")`: attributes are set one by one, children appended as text. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  append(node, ...children);
  return node;
}

/** Append nodes and strings (as text) to `parent`; null and undefined are skipped. */
export function append(parent, ...children) {
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return parent;
}

/** Remove every child of `node`. */
export function clear(node) {
  node.replaceChildren();
  return node;
}

/** Show a message in a hidden-by-default alert element (or hide it with an empty message). */
export function setMessage(node, message) {
  node.textContent = message || "";
  node.hidden = !message;
}

/** The human message of an error response: our `{error: {message}}` or FastAPI's `{detail: [...]}`. */
export async function errorMessage(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    return `HTTP ${response.status} ${response.statusText}`;
  }
  if (body && body.error && body.error.message) return body.error.message;
  if (body && Array.isArray(body.detail)) {
    return body.detail
      .slice(0, 5)
      .map((d) => `${(d.loc || []).filter((p) => p !== "body").join(".") || "request"}: ${d.msg}`)
      .join("; ");
  }
  if (body && typeof body.detail === "string") return body.detail;
  return `HTTP ${response.status}`;
}
