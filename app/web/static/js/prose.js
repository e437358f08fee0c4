// Model prose as DOM: paragraphs, `inline code` and **bold**, then math typeset by KaTeX auto-render.

import { el } from "./dom.js";
import { renderMath } from "./math.js";

const INLINE = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;

/** A `<div class="prose">` for `text`: built from text nodes, then typeset. */
export function renderProse(text) {
  const div = el("div", { class: "prose" });
  for (const paragraph of text.split(/\n{2,}/)) {
    if (!paragraph.trim()) continue;
    div.append(inline(paragraph.replace(/^\n+|\n+$/g, "")));
  }
  return renderMath(div);
}

function inline(text) {
  const p = el("p");
  let last = 0;
  for (const match of text.matchAll(INLINE)) {
    if (match.index > last) p.append(text.slice(last, match.index));
    p.append(match[1] !== undefined ? el("code", {}, match[1]) : el("strong", {}, match[2]));
    last = match.index + match[0].length;
  }
  if (last < text.length) p.append(text.slice(last));
  return p;
}
