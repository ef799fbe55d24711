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
// through static/chat/math.js (its rules are there).
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

  // Math: static/chat/math.js (loaded before this file), or none.
  const MathSpans = window.ChatMath || { PH_OPEN: '\uE000', protect: (raw) => raw, fill() {} };

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
    const source = raw.includes(MathSpans.PH_OPEN) ? raw : MathSpans.protect(raw, spans);
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
    if (spans.length) MathSpans.fill(template.content, spans);
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
