// The page's language for the scripts: translations and locale-aware formatting.
// Strings come from Django's JavaScript catalogue (chat/transports/http/jsi18n.py,
// <script src="/jsi18n/"> before every script of a page), which defines `django.gettext`
// and friends for the language the server chose (the language switch, else the
// browser's Accept-Language). Without it (under node --test, or if it failed to load)
// every string is its English source. The classic scripts call the catalogue's globals
// (`gettext`, `ngettext`, `interpolate`) directly; the ES modules import them from here.
// Every msgid is a literal at its call, so `makemessages -d djangojs` finds it.
// Only our own words are translated: model output and user text never go through here.

const catalogue = () => {
  const d = globalThis.django;
  return d && typeof d.gettext === 'function' ? d : null;
};

export function gettext(msgid) {
  const d = catalogue();
  return d ? d.gettext(msgid) : msgid;
}

export const _ = gettext;

export function ngettext(singular, plural, n) {
  const d = catalogue();
  return d ? d.ngettext(singular, plural, n) : (n === 1 ? singular : plural);
}

// As Django's: `%(name)s` from an object when `named`, else `%s` in turn from an array.
export function interpolate(fmt, values, named = false) {
  if (named) return fmt.replace(/%\(\w+\)s/g, (m) => String(values[m.slice(2, -2)]));
  const list = [...values];
  return fmt.replace(/%s/g, () => String(list.shift()));
}

// The page's language: <html lang> (the server's choice), else the browser's, else English.
export function lang() {
  const doc = globalThis.document;
  const fromPage = doc && doc.documentElement && doc.documentElement.lang;
  const fromBrowser = globalThis.navigator && globalThis.navigator.language;
  return fromPage || fromBrowser || 'en';
}

// ---- days ---------------------------------------------------------------------------

// The sidebar's date groups, calendar days in the browser's time zone.
export const DAY_GROUPS = ['today', 'yesterday', 'week', 'older'];

export function dayGroup(iso, now = new Date()) {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return 'older';
  const day = (x) => new Date(x.getFullYear(), x.getMonth(), x.getDate());
  const days = Math.round((day(now) - day(d)) / 86400000);  // round: a DST day is 23 or 25 h
  if (days <= 0) return 'today';
  if (days === 1) return 'yesterday';
  return days <= 7 ? 'week' : 'older';
}

export function dayGroupLabel(group) {
  switch (group) {
    case 'today': return gettext('Today');
    case 'yesterday': return gettext('Yesterday');
    case 'week': return gettext('Previous 7 days');
    default: return gettext('Older');
  }
}

// ---- numbers and dates, with Intl in the page's language ------------------------------

const formatters = new Map();
function cached(kind, locale, options) {
  const key = `${kind}|${locale}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) {
    const Make = kind === 'number' ? Intl.NumberFormat : Intl.DateTimeFormat;
    let f;
    try { f = new Make(locale, options); } catch (e) { f = new Make('en', options); }  // an odd lang tag
    formatters.set(key, f);
  }
  return formatters.get(key);
}

// 12345 -> "12,345" (en, ja); `options`: Intl.NumberFormat's.
export const formatNumber = (n, options = {}, locale = lang()) => cached('number', locale, options).format(n);

// 1234567 bytes -> "1.2 MB" (decimal units, as the server counts them).
export function formatBytes(bytes, locale = lang()) {
  const units = [['gigabyte', 1e9], ['megabyte', 1e6], ['kilobyte', 1e3]];
  const [unit, size] = units.find(([, s]) => bytes >= s) || ['byte', 1];
  return formatNumber(bytes / size, { style: 'unit', unit, unitDisplay: 'short', maximumFractionDigits: 1 }, locale);
}

const toDate = (value) => (value instanceof Date ? value : new Date(value));

// `options`: Intl.DateTimeFormat's, e.g. {hour: '2-digit', minute: '2-digit'}.
export const formatDate = (value, options = { dateStyle: 'medium' }, locale = lang()) =>
  cached('date', locale, options).format(toDate(value));

// "14:05": hours and minutes, 24 h.
export const formatTime = (value, locale = lang()) =>
  formatDate(value, { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }, locale);
