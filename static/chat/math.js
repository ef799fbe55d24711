// Math in model answers (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`, outside code), for
// markdown.js: before marked runs, each span is swapped for a placeholder (so `_` and `*`
// in it are not emphasis); after DOMPurify the placeholders become the vendored KaTeX's
// output, rendered with trust:false and sanitized by its own narrow allow-list. An
// unclosed span (a `$$` block still streaming) stays text until it closes; without KaTeX
// a span stays its source text. tests/js/math.test.mjs runs `protect` under node.
// Exposes window.ChatMath = { PH_OPEN, protect(raw, spans), fill(root, spans) }.
'use strict';

(function () {
  const katex = window.katex && typeof window.katex.renderToString === 'function' ? window.katex : null;
  const PH_OPEN = '\uE000';
  const PH_CLOSE = '\uE001';
  const PH_RE = /\uE000(\d+)\uE001/g;
  // KaTeX's HTML (spans with inline sizes), its MathML for screen readers and the SVG of
  // stretchy symbols; no links, no images, no event handlers, no URLs in styles.
  const KATEX_SANITIZE = {
    ALLOWED_TAGS: ['span', 'math', 'semantics', 'annotation', 'mrow', 'mi', 'mn', 'mo', 'ms', 'mtext',
      'mspace', 'msup', 'msub', 'msubsup', 'mfrac', 'msqrt', 'mroot', 'mover', 'munder', 'munderover',
      'mtable', 'mtr', 'mtd', 'mlabeledtr', 'mpadded', 'mphantom', 'mstyle', 'menclose', 'svg', 'path', 'line'],
    ALLOWED_ATTR: ['class', 'style', 'aria-hidden', 'encoding', 'xmlns', 'display', 'mathvariant',
      'mathcolor', 'mathbackground', 'stretchy', 'fence', 'separator', 'lspace', 'rspace', 'accent',
      'accentunder', 'linethickness', 'columnalign', 'rowalign', 'rowspacing', 'columnspacing',
      'rowlines', 'columnlines', 'width', 'height', 'depth', 'voffset', 'notation', 'minsize',
      'maxsize', 'movablelimits', 'scriptlevel', 'displaystyle', 'symmetric', 'largeop', 'viewbox',
      'viewBox', 'preserveAspectRatio', 'd', 'x1', 'y1', 'x2', 'y2', 'stroke-width'],
  };
  const SAFE_STYLE = /^[\w\s:;.,%#()+\-]*$/;
  const rendered = new Map();  // `${display}\n${tex}` -> sanitized KaTeX fragment; the newest 500

  // Finds the end of the closing `close` of a math span opened at `from`, or -1.
  function closeOf(raw, from, close, inline) {
    for (let j = from; j < raw.length; j++) {
      if (raw.startsWith(close, j)) {
        // `$` closes only after a non-space and before a non-digit ("$5 and $10" is money).
        if (close !== '$') return j;
        return /\s/.test(raw[j - 1]) || /\d/.test(raw[j + 1] || '') ? -1 : j;
      }
      if (raw[j] === '\\') j++;  // `\$`, `\{`: escaped, not a closing
      else if (inline && raw[j] === '\n' && raw[j + 1] === '\n') return -1;  // ends with its paragraph
    }
    return -1;
  }

  // The math span starting at `i`, or null: {end, tex, display}.
  function mathAt(raw, i) {
    const two = raw.slice(i, i + 2);
    let open, close, display;
    if (two === '$$') [open, close, display] = ['$$', '$$', true];
    else if (two === '\\[') [open, close, display] = ['\\[', '\\]', true];
    else if (two === '\\(') [open, close, display] = ['\\(', '\\)', false];
    else if (raw[i] === '$' && raw[i + 1] && !/[\s$]/.test(raw[i + 1])) [open, close, display] = ['$', '$', false];
    else return null;
    const j = closeOf(raw, i + open.length, close, !display);
    if (j < 0) return null;
    const tex = raw.slice(i + open.length, j);
    if (!tex.trim()) return null;
    return { end: j + close.length, tex, display };
  }

  // Swaps the math spans of `raw` outside code for placeholders; `spans` gets them in order.
  // Fenced code blocks are copied as they are; the text between them is scanned.
  function protectMath(raw, spans) {
    let out = '';
    let prose = '';
    let fence = null;
    for (const line of raw.split(/(?<=\n)/)) {
      const m = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (fence === null && !m) {
        prose += line;
        continue;
      }
      if (fence === null) fence = m[1];
      else if (m && m[1][0] === fence[0] && m[1].length >= fence.length) fence = null;
      out += protectProse(prose, spans) + line;
      prose = '';
    }
    return out + protectProse(prose, spans);
  }

  // Text outside fenced code: inline code spans and `\$` are copied, math spans swapped.
  function protectProse(text, spans) {
    let out = '';
    for (let i = 0; i < text.length;) {
      const c = text[i];
      let end = i + 1;
      if (c === '`') {  // an inline code span: copied as is
        const run = /^`+/.exec(text.slice(i))[0];
        const close = text.indexOf(run, i + run.length);
        end = close < 0 ? i + run.length : close + run.length;
      } else if (c === '\\' && text[i + 1] !== '(' && text[i + 1] !== '[') {
        end = i + 2;  // `\$` is a dollar sign
      } else if (c === '$' || c === '\\') {
        const span = mathAt(text, i);
        if (span) {
          spans.push({ tex: span.tex, display: span.display, source: text.slice(i, span.end) });
          out += `${PH_OPEN}${spans.length - 1}${PH_CLOSE}`;
          i = span.end;
          continue;
        }
      }
      out += text.slice(i, end);
      i = end;
    }
    return out;
  }

  // KaTeX's sanitized output for one span, as a fresh copy (sanitized once per formula).
  function renderMath(tex, display) {
    const key = `${display ? 1 : 0}\n${tex}`;
    let fragment = rendered.get(key);
    if (fragment === undefined) {
      let out;
      try {
        out = katex.renderToString(tex, { displayMode: display, throwOnError: false, trust: false, output: 'htmlAndMathml' });
      } catch (e) {
        out = '';
      }
      fragment = window.DOMPurify.sanitize(out, { ...KATEX_SANITIZE, RETURN_DOM_FRAGMENT: true });
      for (const el of fragment.querySelectorAll('[style]')) {
        const style = el.getAttribute('style');
        if (!SAFE_STYLE.test(style) || /url|expression|image|import/i.test(style)) el.removeAttribute('style');
      }
      rendered.set(key, fragment);
      if (rendered.size > 500) rendered.delete(rendered.keys().next().value);
    }
    return fragment.cloneNode(true);
  }

  // Puts KaTeX's output where the placeholders are (their source text in code and attributes).
  function fillMath(root, spans) {
    const source = (m, n) => (spans[Number(n)] || { source: '' }).source;
    for (const el of root.querySelectorAll('*')) {  // e.g. a link's title: the source text
      for (const attr of [...el.attributes]) {
        if (attr.value.includes(PH_OPEN)) el.setAttribute(attr.name, attr.value.replace(PH_RE, source));
      }
    }
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    const nodes = [];
    while (walker.nextNode()) if (walker.currentNode.data.includes(PH_OPEN)) nodes.push(walker.currentNode);
    for (const node of nodes) {
      const inCode = node.parentElement && node.parentElement.closest('code, pre');
      const parts = node.data.split(PH_RE);  // text, index, text, index, …, text
      const out = document.createDocumentFragment();
      parts.forEach((part, k) => {
        const span = k % 2 ? spans[Number(part)] : null;
        if (!span) out.append(part);
        else if (inCode || !katex) out.append(span.source);
        else out.append(renderMath(span.tex, span.display));
      });
      node.replaceWith(out);
    }
  }

  window.ChatMath = { PH_OPEN, protect: protectMath, fill: fillMath };
}());
