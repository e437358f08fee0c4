// Typesetting with the vendored KaTeX (globals `katex` and `renderMathInElement` from classic scripts).
// KaTeX runs with `trust: false`, so \href, \url and friends cannot produce links or scripts.

const OPTIONS = { throwOnError: false, trust: false, strict: "ignore", maxExpand: 500, maxSize: 50 };

const DELIMITERS = [
  { left: "$$", right: "$$", display: true },
  { left: "\\[", right: "\\]", display: true },
  { left: "\\(", right: "\\)", display: false },
  { left: "$", right: "$", display: false },
  { left: "\\begin{equation}", right: "\\end{equation}", display: true },
  { left: "\\begin{align}", right: "\\end{align}", display: true },
  { left: "\\begin{align*}", right: "\\end{align*}", display: true },
];

/** Typeset the math delimited in the text of `node` (auto-render); `\$` stays a dollar sign. */
export function renderMath(node) {
  if (typeof window.renderMathInElement === "function") {
    window.renderMathInElement(node, { ...OPTIONS, delimiters: DELIMITERS, ignoredTags: ["code", "pre"] });
  }
  unescapeDollars(node);
  return node;
}

/** Typeset `tex` (no delimiters) into `node`; falls back to the source as text. */
export function renderTex(node, tex, displayMode = false) {
  if (typeof window.katex === "undefined") {
    node.textContent = tex;
    return node;
  }
  try {
    window.katex.render(tex, node, { ...OPTIONS, displayMode });
  } catch {
    node.textContent = tex;
  }
  return node;
}

/** A span holding `tex` typeset inline, or an em dash for nothing. */
export function texSpan(tex, className = "tex") {
  const span = document.createElement("span");
  span.className = className;
  if (tex === null || tex === undefined || tex === "") {
    span.textContent = "—";
    return span;
  }
  return renderTex(span, String(tex));
}

// Prose writes a literal dollar as `\$`; once math is typeset, show it as `$` (text nodes only).
function unescapeDollars(node) {
  node.normalize(); // auto-render leaves `\` and `$12` of an unpaired `\$12` in separate text nodes
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT, {
    acceptNode: (text) =>
      text.parentElement && text.parentElement.closest(".katex, code, pre")
        ? NodeFilter.FILTER_REJECT
        : NodeFilter.FILTER_ACCEPT,
  });
  const texts = [];
  while (walker.nextNode()) texts.push(walker.currentNode);
  for (const text of texts) {
    if (text.data.includes("\\$")) text.data = text.data.replaceAll("\\$", "$");
  }
}
