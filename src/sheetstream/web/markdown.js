// Markdown to HTML for answers, safe by construction: every piece of text is escaped before
// any markup is added, links must be http(s), and nothing else from the answer reaches the
// DOM as HTML. Handles what models write: headings, paragraphs, lists, block quotes, fenced
// code, tables, inline code, bold, italics and links. An unfinished construct while an answer
// streams (an open code fence, half a table) renders as far as it goes.

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);
}

function inline(text) {
  // Code spans first, so nothing inside them is read as markup.
  const parts = String(text).split(/(`+[^`]*`+)/);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) {
        return `<code>${escapeHtml(part.replace(/^`+|`+$/g, ""))}</code>`;
      }
      let html = escapeHtml(part);
      html = html.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
      html = html.replace(/__(.+?)__/g, "<strong>$1</strong>");
      html = html.replace(/(^|[^*\w])\*(?!\s)([^*]+?)\*(?!\w)/g, "$1<em>$2</em>");
      html = html.replace(/(^|[^_\w])_(?!\s)([^_]+?)_(?!\w)/g, "$1<em>$2</em>");
      html = html.replace(
        /\[([^\]]+)\]\((https?:\/\/[^\s)]+)\)/g,
        (_, label, url) => `<a href="${url}" target="_blank" rel="noopener noreferrer">${label}</a>`,
      );
      return html;
    })
    .join("");
}

const TABLE_SEPARATOR = /^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$/;

function cells(row) {
  let line = row.trim();
  if (line.startsWith("|")) line = line.slice(1);
  if (line.endsWith("|")) line = line.slice(0, -1);
  // `\|` is a pipe inside a cell
  return line.split(/(?<!\\)\|/).map((cell) => cell.trim().replace(/\\\|/g, "|"));
}

function alignments(separator) {
  return cells(separator).map((cell) => {
    const left = cell.startsWith(":");
    const right = cell.endsWith(":");
    return right && !left ? "right" : left && right ? "center" : "";
  });
}

function table(lines) {
  const align = alignments(lines[1]);
  const cls = (i) => (align[i] ? ` class="align-${align[i]}"` : "");
  const head = cells(lines[0])
    .map((cell, i) => `<th${cls(i)}>${inline(cell)}</th>`)
    .join("");
  const body = lines
    .slice(2)
    .map((row) => `<tr>${cells(row).map((cell, i) => `<td${cls(i)}>${inline(cell)}</td>`).join("")}</tr>`)
    .join("");
  return `<div class="table-wrap"><table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table></div>`;
}

const MAX_QUOTE_DEPTH = 8; // deeper `>` stays text: no recursion an answer can exhaust

export function renderMarkdown(source, depth = 0) {
  const lines = String(source).replace(/\r\n?/g, "\n").split("\n");
  const out = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    const fence = line.match(/^\s*(```+|~~~+)\s*([\w+-]*)(.*)$/);
    // a backtick fence's info string has no backticks; "```x``` …" is inline code
    if (fence && !(fence[1][0] === "`" && fence[3].includes("`"))) {
      const body = [];
      i += 1;
      while (i < lines.length && !lines[i].trim().startsWith(fence[1])) {
        body.push(lines[i]);
        i += 1;
      }
      i += 1; // the closing fence (or the end of an answer still streaming)
      const lang = fence[2] ? ` data-lang="${escapeHtml(fence[2])}"` : "";
      out.push(`<pre${lang}><code>${escapeHtml(body.join("\n"))}</code></pre>`);
      continue;
    }
    if (!line.trim()) {
      i += 1;
      continue;
    }
    const heading = line.match(/^\s*(#{1,6})\s+(.*?)\s*#*\s*$/);
    if (heading) {
      const level = Math.min(heading[1].length + 2, 6); // answers sit under the page's own headings
      out.push(`<h${level}>${inline(heading[2])}</h${level}>`);
      i += 1;
      continue;
    }
    if (line.includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1])) {
      const rows = [line, lines[i + 1]];
      i += 2;
      while (i < lines.length && lines[i].includes("|") && lines[i].trim()) {
        rows.push(lines[i]);
        i += 1;
      }
      out.push(table(rows));
      continue;
    }
    if (/^\s*>/.test(line)) {
      const quoted = [];
      while (i < lines.length && /^\s*>/.test(lines[i])) {
        quoted.push(lines[i].replace(/^\s*>\s?/, ""));
        i += 1;
      }
      const inner =
        depth < MAX_QUOTE_DEPTH
          ? renderMarkdown(quoted.join("\n"), depth + 1)
          : `<p>${quoted.map(inline).join("<br>")}</p>`;
      out.push(`<blockquote>${inner}</blockquote>`);
      continue;
    }
    const bullet = /^\s*[-*+]\s+/;
    const numbered = /^\s*\d+[.)]\s+/;
    if (bullet.test(line) || numbered.test(line)) {
      const ordered = numbered.test(line);
      const marker = ordered ? numbered : bullet;
      const items = [];
      while (i < lines.length && marker.test(lines[i])) {
        let item = lines[i].replace(marker, "");
        i += 1;
        while (i < lines.length && /^\s{2,}\S/.test(lines[i]) && !marker.test(lines[i])) {
          item += `\n${lines[i].trim()}`;
          i += 1;
        }
        items.push(`<li>${inline(item).replace(/\n/g, "<br>")}</li>`);
      }
      const tag = ordered ? "ol" : "ul";
      out.push(`<${tag}>${items.join("")}</${tag}>`);
      continue;
    }
    const paragraph = [];
    while (
      i < lines.length &&
      lines[i].trim() &&
      !/^\s*(```|~~~|#{1,6}\s|>|[-*+]\s|\d+[.)]\s)/.test(lines[i]) &&
      !(lines[i].includes("|") && i + 1 < lines.length && TABLE_SEPARATOR.test(lines[i + 1]))
    ) {
      paragraph.push(lines[i]);
      i += 1;
    }
    if (!paragraph.length) {
      // a line no block above took (e.g. a lone `>`-less marker): text, and always progress
      paragraph.push(lines[i]);
      i += 1;
    }
    out.push(`<p>${paragraph.map(inline).join("<br>")}</p>`);
  }
  return out.join("");
}

// Wrap each number the answer states in a <mark>: found in the data, or not. `items` are
// `end.grounding` entries; only text nodes are touched, so no markup is ever re-parsed.
export function markNumbers(root, grounding) {
  const items = [
    ...(grounding?.found || []).map((item) => ({ ...item, found: true })),
    ...(grounding?.not_found || []).map((item) => ({ ...item, found: false })),
  ].filter((item) => item.text);
  if (!items.length) return 0;
  items.sort((a, b) => b.text.length - a.text.length);
  const byText = new Map(items.map((item) => [item.text, item]));
  const pattern = new RegExp(
    `(?<![\\w.,])(${items.map((item) => item.text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")})(?![\\w]|[.,]\\d)`,
    "g",
  );
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const nodes = [];
  while (walker.nextNode()) {
    if (!walker.currentNode.parentElement.closest("mark, pre, code.sql")) nodes.push(walker.currentNode);
  }
  let marked = 0;
  for (const node of nodes) {
    const text = node.nodeValue;
    pattern.lastIndex = 0;
    if (!pattern.test(text)) continue;
    pattern.lastIndex = 0;
    const fragment = document.createDocumentFragment();
    let last = 0;
    for (const match of text.matchAll(pattern)) {
      const item = byText.get(match[1]);
      fragment.append(text.slice(last, match.index));
      const mark = document.createElement("mark");
      mark.className = item.found ? "found" : "not-found";
      mark.textContent = match[1];
      mark.title = item.found
        ? `Found in the data${item.source?.label ? `: ${item.source.label}` : ""}`
        : "Not found in the data this answer used";
      fragment.append(mark);
      last = match.index + match[1].length;
      marked += 1;
    }
    fragment.append(text.slice(last));
    node.replaceWith(fragment);
  }
  return marked;
}
