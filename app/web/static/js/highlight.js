// A small Python highlighter: one regular expression, one pass, spans built with text nodes only.

const KEYWORDS = new Set(
  (
    "False None True and as assert async await break class continue def del elif else except finally for " +
    "from global if import in is lambda nonlocal not or pass raise return try while with yield match case"
  ).split(" "),
);
const BUILTINS = new Set(
  (
    "abs all any bin bool dict divmod enumerate filter float format frozenset int isinstance len list map " +
    "max min next pow print range repr reversed round set sorted str sum tuple type zip"
  ).split(" "),
);

// Order matters: strings and comments first so that their contents are not read as code.
const TOKEN = new RegExp(
  [
    /(?<comment>#[^\n]*)/,
    /(?<string>[rRbBuUfF]{0,2}(?:"""[\s\S]*?(?:"""|$)|'''[\s\S]*?(?:'''|$)|"(?:\\.|[^"\\\n])*"?|'(?:\\.|[^'\\\n])*'?))/,
    /(?<number>\b(?:0[xX][0-9a-fA-F_]+|0[bB][01_]+|0[oO][0-7_]+|\d[\d_]*\.?[\d_]*(?:[eE][+-]?\d+)?j?|\.\d+(?:[eE][+-]?\d+)?j?)\b)/,
    /(?<decorator>@[A-Za-z_][\w.]*)/,
    /(?<word>[A-Za-z_]\w*)/,
  ]
    .map((r) => r.source)
    .join("|"),
  "g",
);

/** `code` as a fragment of text nodes and `<span class="tok-…">` (kw, builtin, str, num, comment, def). */
export function highlightPython(code) {
  const fragment = document.createDocumentFragment();
  let last = 0;
  let previousWord = "";
  for (const match of code.matchAll(TOKEN)) {
    if (match.index > last) fragment.append(code.slice(last, match.index));
    const kind = tokenKind(match.groups, previousWord);
    const text = match[0];
    if (kind) {
      const span = document.createElement("span");
      span.className = `tok-${kind}`;
      span.textContent = text;
      fragment.append(span);
    } else {
      fragment.append(text);
    }
    previousWord = match.groups.word || "";
    last = match.index + text.length;
  }
  if (last < code.length) fragment.append(code.slice(last));
  return fragment;
}

function tokenKind(groups, previousWord) {
  if (groups.comment !== undefined) return "comment";
  if (groups.string !== undefined) return "str";
  if (groups.number !== undefined) return "num";
  if (groups.decorator !== undefined) return "deco";
  const word = groups.word;
  if (previousWord === "def" || previousWord === "class") return "def";
  if (KEYWORDS.has(word)) return "kw";
  if (BUILTINS.has(word)) return "builtin";
  return null;
}
