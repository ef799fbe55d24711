// static/chat/i18n.js: English without a catalogue, a catalogue's words when there is
// one (a stand-in for Django's /jsi18n/ script), named placeholders, plurals, the
// sidebar's day groups and numbers and dates in the page's language.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  dayGroup, dayGroupLabel, formatBytes, formatDate, formatNumber, formatTime, gettext, interpolate, lang, ngettext,
} from '../../static/chat/i18n.js';

// What Django's catalogue script defines, for a catalogue of `words` (msgid -> msgstr,
// or [msgstr…] for plurals) in a language with one plural form (Japanese).
function installCatalogue(words, pluralidx = () => 0) {
  globalThis.django = {
    gettext: (id) => (typeof words[id] === 'string' ? words[id] : words[id] ? words[id][0] : id),
    ngettext: (one, many, n) => (words[one] ? [].concat(words[one])[pluralidx(n)] : n === 1 ? one : many),
  };
}

afterEach(() => { delete globalThis.django; });

const JA = {
  Today: '今日', Yesterday: '昨日', 'Previous 7 days': '過去7日間', Older: 'それ以前', Connected: '接続済み',
  '%(n)s view': ['%(n)s 回閲覧'],
};

test('without a catalogue every string is its English source', () => {
  assert.equal(gettext('Connected'), 'Connected');
  assert.equal(ngettext('%(n)s view', '%(n)s views', 1), '%(n)s view');
  assert.equal(ngettext('%(n)s view', '%(n)s views', 2), '%(n)s views');
  assert.equal(ngettext('%(n)s view', '%(n)s views', 0), '%(n)s views');
});

test("the page's language is <html lang>, else the browser's, else English", () => {
  globalThis.document = { documentElement: { lang: 'ja' } };
  try {
    assert.equal(lang(), 'ja');
  } finally {
    delete globalThis.document;
  }
  assert.ok(lang());  // node 21+ has navigator.language; node 20 falls back to 'en'
});

test("with a catalogue, its words; a msgid it lacks stays English", () => {
  installCatalogue(JA);
  assert.equal(gettext('Connected'), '接続済み');
  assert.equal(gettext('Not in it'), 'Not in it');
  assert.equal(ngettext('%(n)s view', '%(n)s views', 1), '%(n)s 回閲覧');
  assert.equal(ngettext('%(n)s view', '%(n)s views', 5), '%(n)s 回閲覧');
});

const INTERPOLATIONS = [
  { fmt: '%(n)s results', values: { n: 3 }, named: true, want: '3 results' },
  { fmt: '%(a)s and %(b)s, %(a)s again', values: { a: 'x', b: 'y' }, named: true, want: 'x and y, x again' },
  { fmt: '「%(title)s」を削除', values: { title: '%(n)s 100% $&' }, named: true, want: '「%(n)s 100% $&」を削除' },
  { fmt: '%s of %s', values: [1, 2], named: false, want: '1 of 2' },
];
for (const { fmt, values, named, want } of INTERPOLATIONS) {
  test(`interpolate ${JSON.stringify(fmt)}`, () => {
    assert.equal(interpolate(fmt, values, named), want);
  });
}

test('interpolate does not consume the array it is given', () => {
  const values = [1, 2];
  interpolate('%s %s', values);
  assert.deepEqual(values, [1, 2]);
});

const now = new Date(2026, 11, 7, 9, 0);  // 7 December 2026, 09:00 local time
const DAYS = [
  { when: new Date(2026, 11, 7, 0, 5), group: 'today', en: 'Today', ja: '今日' },
  { when: new Date(2026, 11, 7, 23, 0), group: 'today', en: 'Today', ja: '今日' },  // later today: still today
  { when: new Date(2026, 11, 6, 23, 59), group: 'yesterday', en: 'Yesterday', ja: '昨日' },
  { when: new Date(2026, 11, 1, 12, 0), group: 'week', en: 'Previous 7 days', ja: '過去7日間' },
  { when: new Date(2026, 10, 30, 12, 0), group: 'week', en: 'Previous 7 days', ja: '過去7日間' },
  { when: new Date(2026, 10, 29, 12, 0), group: 'older', en: 'Older', ja: 'それ以前' },
  { when: 'not a date', group: 'older', en: 'Older', ja: 'それ以前' },
];
for (const { when, group, en, ja } of DAYS) {
  test(`day group of ${when instanceof Date ? when.toString().slice(0, 21) : when}: ${en} / ${ja}`, () => {
    const iso = when instanceof Date ? when.toISOString() : when;
    assert.equal(dayGroup(iso, now), group);
    assert.equal(dayGroupLabel(group), en);
    installCatalogue(JA);
    assert.equal(dayGroupLabel(group), ja);
  });
}

const NUMBERS = [
  { value: 12345, en: '12,345', ja: '12,345', de: '12.345' },
  { value: 0.5, en: '0.5', ja: '0.5', de: '0,5' },
  { value: 1234567.891, en: '1,234,567.891', ja: '1,234,567.891', de: '1.234.567,891' },
];
for (const { value, en, ja, de } of NUMBERS) {
  test(`formatNumber(${value}) in en, ja and de`, () => {
    assert.equal(formatNumber(value, {}, 'en'), en);
    assert.equal(formatNumber(value, {}, 'ja'), ja);
    assert.equal(formatNumber(value, {}, 'de'), de);
  });
}

const SIZES = [
  { bytes: 512, en: '512 byte', ja: '512 byte' },
  { bytes: 1500, en: '1.5 kB', ja: '1.5 KB' },
  { bytes: 25_000_000, en: '25 MB', ja: '25 MB' },
];
for (const { bytes, en, ja } of SIZES) {
  test(`formatBytes(${bytes})`, () => {
    assert.equal(formatBytes(bytes, 'en'), en);
    assert.equal(formatBytes(bytes, 'ja'), ja);
  });
}

test('dates and times follow the language', () => {
  const d = new Date(2026, 11, 7, 14, 5);
  assert.equal(formatDate(d, { dateStyle: 'medium' }, 'en'), 'Dec 7, 2026');
  assert.equal(formatDate(d, { dateStyle: 'medium' }, 'ja'), '2026/12/07');
  assert.equal(formatDate(d, { dateStyle: 'long' }, 'ja'), '2026年12月7日');
  assert.equal(formatTime(d, 'en'), '14:05');
  assert.equal(formatTime(d, 'ja'), '14:05');
});

test('an odd language tag falls back to English instead of throwing', () => {
  assert.equal(formatNumber(1234, {}, 'not a tag!'), '1,234');
});
