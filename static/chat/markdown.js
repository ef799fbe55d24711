// Markdown for model answers: marked -> DOMPurify -> our own post-processing.
// Model output is untrusted (it can repeat anything a prompt or a web page put into it), so:
//  - raw HTML in the markdown is shown as text, not interpreted (DOMPurify still runs on
//    everything, in case a renderer ever lets markup through);
//  - only an allow-list of tags and attributes survives the sanitizer;
//  - images from other origins are never loaded (a URL can carry data out of the
//    conversation): they become their alt text;
//  - links open in a new tab without a referrer or an `opener`.
// Code blocks are coloured by the vendored highlight.js (when it loaded): hljs escapes the
// code's text itself, and its output (spans with hljs-* classes) is cached per block, so a
// streaming answer, re-rendered every frame, colours each block once. While an answer
// streams its last code block is left plain until its closing fence arrives.
// Math (`$…$`, `$$…$$`, `\(…\)`, `\[…\]`, outside code) is rendered by the vendored KaTeX
// (the rules are below): each span is swapped for a placeholder before marked runs (so
// `_` and `*` in it are not emphasis), and after DOMPurify the placeholders become KaTeX's
// output, rendered with trust:false and sanitized by its own narrow allow-list. An
// unclosed span (a `$$` block still streaming) stays text until it closes.
// Exposes window.ChatMarkdown = { available, renderInto(container, raw, {streaming}), appendCursor(container) }.
'use strict';

(function () {
  const available = Boolean(window.marked && window.marked.Marked && window.DOMPurify &&
    window.DOMPurify.isSupported);

  const escapeHtml = (s) => String(s).replace(/[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

  const md = available ? new window.marked.Marked({
    gfm: true,
    breaks: true,   // a single newline is a line break, as chat models write it
    async: false,
    renderer: {
      // Raw HTML (`<b>`, `<img onerror=…>`, `<script>`) is displayed literally, like a chat tool does.
      html(token) {
        const text = escapeHtml(token.text.replace(/\n+$/, ''));
        return token.block ? `<p>${text.replace(/\n/g, '<br>\n')}</p>\n` : text;
      },
      // Keep the newline in the DOM text, so textContent still reads line by line.
      br() { return '<br>\n'; },
    },
  }) : null;

  // An explicit allow-list (no SVG, MathML, forms, media or frames). Not combined with
  // USE_PROFILES, which would replace it.
  const SANITIZE = {
    ALLOWED_TAGS: ['a', 'abbr', 'b', 'blockquote', 'br', 'code', 'dd', 'del', 'details', 'dl', 'dt', 'em',
      'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'hr', 'i', 'img', 'input', 'ins', 'kbd', 'li', 'mark', 'ol', 'p',
      'pre', 's', 'samp', 'small', 'span', 'strong', 'sub', 'summary', 'sup', 'table', 'tbody', 'td',
      'tfoot', 'th', 'thead', 'tr', 'u', 'ul'],
    // No `style` (CSS url() loads images too), no `srcset`, no `background`.
    ALLOWED_ATTR: ['align', 'alt', 'checked', 'class', 'colspan', 'disabled', 'href', 'open', 'rowspan',
      'src', 'start', 'title', 'type'],
  };

  function isAllowedImage(src) {
    const s = (src || '').trim();
    if (/^data:image\//i.test(s)) return true;
    try {
      return new URL(s, location.href).origin === location.origin;
    } catch (e) {
      return false;
    }
  }

  const hljs = window.hljs && typeof window.hljs.highlight === 'function' ? window.hljs : null;
  const HIGHLIGHT_MAX_CHARS = 20000;  // a bigger block stays plain: colouring it would stall the page
  // Unlabelled blocks are guessed among these only (guessing among all ~40 is slower and worse).
  const AUTO_LANGUAGES = ['python', 'javascript', 'typescript', 'bash', 'shell', 'json', 'sql', 'xml',
    'css', 'java', 'go', 'rust', 'c', 'cpp', 'yaml', 'ini'];
  const highlighted = new Map();  // `${lang}\n${code}` -> {html, language}; the newest 200 blocks
  if (hljs) hljs.configure({ ignoreUnescapedHTML: true });

  function highlightCode(code, lang) {
    const text = code.textContent;
    if (!hljs || !text.trim() || text.length > HIGHLIGHT_MAX_CHARS) return;
    if (lang && /^(text|plain|plaintext|txt)$/i.test(lang)) return;
    const key = `${lang || ''}\n${text}`;
    let result = highlighted.get(key);
    if (!result) {
      try {
        const r = lang && hljs.getLanguage(lang)
          ? hljs.highlight(text, { language: lang, ignoreIllegals: true })
          : hljs.highlightAuto(text, AUTO_LANGUAGES);
        result = { html: r.value, language: r.language || '' };
      } catch (e) {
        result = { html: null, language: '' };
      }
      highlighted.set(key, result);
      if (highlighted.size > 200) highlighted.delete(highlighted.keys().next().value);
    }
    if (result.html == null) return;
    code.innerHTML = result.html;  // hljs's own output: the code's text escaped, inside hljs-* spans
    code.classList.add('hljs');
    if (result.language) code.dataset.highlighted = result.language;
  }

  // Is the last fenced code block of `raw` still open (its closing fence not arrived yet)?
  function lastFenceOpen(raw) {
    let open = null;
    for (const m of raw.matchAll(/^ {0,3}(`{3,}|~{3,})/gm)) {
      if (open === null) open = m[1];
      else if (m[1][0] === open[0] && m[1].length >= open.length) open = null;
    }
    return open !== null;
  }

  // --- Math ---------------------------------------------------------------------------
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

  // Runs on an inert <template> document: nothing in it loads or runs until it is adopted.
  function postProcess(root, skipLastCode) {
    for (const img of root.querySelectorAll('img')) {
      if (isAllowedImage(img.getAttribute('src'))) continue;
      const alt = (img.getAttribute('alt') || '').trim();
      const span = document.createElement('span');
      span.className = 'blocked-image';
      span.textContent = alt ? interpolate(gettext('[image: %(alt)s]'), { alt }, true) : gettext('[image]');
      span.title = gettext('External image not loaded (it could send data to another site)');
      img.replaceWith(span);
    }
    for (const a of root.querySelectorAll('a')) {
      if (!a.getAttribute('href')) continue;
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer');
    }
    for (const input of root.querySelectorAll('input')) {  // only task-list checkboxes
      if ((input.getAttribute('type') || '').toLowerCase() !== 'checkbox') input.remove();
      else input.setAttribute('disabled', '');
    }
    // Wide tables scroll sideways inside their own box, not the whole message.
    for (const table of root.querySelectorAll('table')) {
      const wrap = document.createElement('div');
      wrap.className = 'table-wrap';
      table.replaceWith(wrap);
      wrap.append(table);
    }
    const blocks = root.querySelectorAll('pre');
    blocks.forEach((pre, i) => {
      const code = pre.querySelector('code');
      const lang = code && /(?:^|\s)language-([\w+#.-]+)/.exec(code.className || '');
      if (code && !(skipLastCode && i === blocks.length - 1)) highlightCode(code, lang ? lang[1] : '');
      const block = document.createElement('div');
      block.className = 'code-block';
      const bar = document.createElement('div');
      bar.className = 'code-bar';
      // The label and the button text come from CSS (attr()/content), so that the
      // message's textContent stays the answer's text.
      const label = document.createElement('span');
      label.className = 'code-lang';
      label.dataset.lang = lang ? lang[1] : 'text';
      const copy = document.createElement('button');
      copy.type = 'button';
      copy.className = 'code-copy';
      Object.assign(copy.dataset, { label: gettext('Copy code'), labelCopied: gettext('Copied'), labelFailed: gettext('Copy failed') });
      copy.setAttribute('aria-label', interpolate(gettext('Copy %(language)s code'), { language: label.dataset.lang }, true));
      bar.append(label, copy);
      pre.replaceWith(block);
      block.append(bar, pre);
    });
  }

  // Replaces the children of `container` with the rendered markdown of `raw`;
  // `streaming`: the answer is still arriving (an unfinished code block stays plain).
  function renderInto(container, raw, { streaming = false } = {}) {
    if (!available) {  // the vendored scripts did not load: plain text is still safe
      container.textContent = raw;
      return;
    }
    // Placeholders only when the text has none of its own (then it gets no math).
    const spans = [];
    const source = raw.includes(PH_OPEN) ? raw : protectMath(raw, spans);
    let html;
    try {
      html = md.parse(source);
    } catch (e) {
      container.textContent = raw;
      return;
    }
    const clean = window.DOMPurify.sanitize(html, SANITIZE);
    const template = document.createElement('template');
    template.innerHTML = clean;
    if (spans.length) fillMath(template.content, spans);
    postProcess(template.content, streaming && lastFenceOpen(raw));
    container.replaceChildren(template.content);
  }

  // The blinking cursor goes at the end of the last line of text, inside its paragraph,
  // list item or code block; it is CSS-drawn so it adds nothing to textContent.
  function appendCursor(node) {
    const INLINE_END = /^(P|UL|OL|LI|BLOCKQUOTE|PRE|CODE|DIV|TABLE|THEAD|TBODY|TR|TD|TH|H[1-6]|STRONG|EM|B|I|DEL|S|A|SPAN)$/;
    let target = node;
    for (;;) {
      let last = target.lastChild;
      while (last && last.nodeType === Node.TEXT_NODE && !last.textContent.trim()) last = last.previousSibling;
      if (!last || last.nodeType !== Node.ELEMENT_NODE || !INLINE_END.test(last.tagName)) break;
      if (last.classList.contains('katex') || last.classList.contains('katex-display')) break;
      target = last;
    }
    const cursor = document.createElement('span');
    cursor.className = 'stream-cursor';
    cursor.setAttribute('aria-hidden', 'true');
    target.append(cursor);
  }

  window.ChatMarkdown = { available, renderInto, appendCursor };
}());
