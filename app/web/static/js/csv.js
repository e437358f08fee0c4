// CSV as RFC 4180 has it: quoted cells may hold commas, quotes ("") and newlines.

/** Rows of cells, each row with the line it starts on: `[{line, cells}]`. A leading BOM is dropped. */
export function parseCsv(text) {
  const rows = [];
  let cells = [];
  let cell = "";
  let quoted = false;
  let line = 1;
  let rowLine = 1;
  const src = text.replace(/^\uFEFF/, "");
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quoted) {
      if (c === '"' && src[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else {
        if (c === "\n") line++;
        cell += c;
      }
    } else if (c === '"' && cell === "") quoted = true;
    else if (c === ",") {
      cells.push(cell);
      cell = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && src[i + 1] === "\n") i++;
      cells.push(cell);
      rows.push({ line: rowLine, cells });
      cells = [];
      cell = "";
      line++;
      rowLine = line;
    } else cell += c;
  }
  if (quoted) throw new Error(`line ${rowLine}: a quoted cell is never closed`);
  if (cell !== "" || cells.length) {
    cells.push(cell);
    rows.push({ line: rowLine, cells });
  }
  return rows.filter((r) => r.cells.some((c) => c.trim() !== ""));
}

/** Records keyed by the header row; empty cells are left out ("not given"). */
export function csvRecords(text) {
  const [header, ...rows] = parseCsv(text);
  if (!header) throw new Error("empty CSV file (a header row is required)");
  const names = header.cells.map((n) => n.trim());
  return rows.map(({ line, cells }) => {
    if (cells.length > names.length) throw new Error(`line ${line}: more cells than header columns`);
    const record = {};
    cells.forEach((value, i) => {
      if (value.trim() !== "") record[names[i]] = value;
    });
    return record;
  });
}
