// Markdown for model answers: marked -> DOMPurify -> our own post-processing.
// Model output is untrusted (it can repeat anything a prompt or a web page put into it), so:
//  - raw HTML in the markdown is shown as text, not interpreted (DOMPurify still runs on
//    everything, in case a renderer ever lets markup through);
//  - only an allow-list of tags and attributes survives the sanitizer;
//  - images from other origins are never loaded (a URL can carry data out of the
//    conversation): they become their alt text;
//  - links open in a new tab without a referrer or an `opener`.
// Exposes window.ChatMarkdown = { available, renderInto(container, raw), appendCursor(container) }.
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

  // Runs on an inert <template> document: nothing in it loads or runs until it is adopted.
  function postProcess(root) {
    for (const img of root.querySelectorAll('img')) {
      if (isAllowedImage(img.getAttribute('src'))) continue;
      const alt = (img.getAttribute('alt') || '').trim();
      const span = document.createElement('span');
      span.className = 'blocked-image';
      span.textContent = alt ? `[image: ${alt}]` : '[image]';
      span.title = 'External image not loaded (it could send data to another site)';
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
    for (const pre of root.querySelectorAll('pre')) {
      const code = pre.querySelector('code');
      const lang = code && /(?:^|\s)language-([\w+#.-]+)/.exec(code.className || '');
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
      copy.setAttribute('aria-label', `Copy ${label.dataset.lang} code`);
      bar.append(label, copy);
      pre.replaceWith(block);
      block.append(bar, pre);
    }
  }

  // Replaces the children of `container` with the rendered markdown of `raw`.
  function renderInto(container, raw) {
    if (!available) {  // the vendored scripts did not load: plain text is still safe
      container.textContent = raw;
      return;
    }
    let html;
    try {
      html = md.parse(raw);
    } catch (e) {
      container.textContent = raw;
      return;
    }
    const clean = window.DOMPurify.sanitize(html, SANITIZE);
    const template = document.createElement('template');
    template.innerHTML = clean;
    postProcess(template.content);
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
      target = last;
    }
    const cursor = document.createElement('span');
    cursor.className = 'stream-cursor';
    cursor.setAttribute('aria-hidden', 'true');
    target.append(cursor);
  }

  window.ChatMarkdown = { available, renderInto, appendCursor };
}());
