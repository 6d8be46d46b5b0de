import t from 'tap';
import { escapeHtml, html, Html, type HtmlValue } from '../../../permissions/page/html';

const HOSTILE = `<script>alert("x")</script> & 'quoted' "><img src=x onerror=alert(1)>`;

t.test('every inserted string is escaped: <, >, &, double and single quotes', async (t) => {
  const out = html`<p>${HOSTILE}</p>`.text;
  t.equal(out, '<p>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;quoted&#39; &quot;&gt;&lt;img src=x onerror=alert(1)&gt;</p>');
  t.notMatch(out, /<script|<img/);
});

t.test('a value inside a quoted attribute cannot close it, whichever quote the attribute uses', async (t) => {
  const double = html`<a href="${'" onclick="x'}" title='${"' onclick='y"}'>`.text;
  t.equal(double, `<a href="&quot; onclick=&quot;x" title='&#39; onclick=&#39;y'>`);
  t.equal((double.match(/"/g) ?? []).length, 2, 'only the template\'s own double quotes are left');
  t.equal((double.match(/'/g) ?? []).length, 2, 'only the template\'s own single quotes are left');
});

t.test('an already escaped entity is escaped again, so it shows as typed', async (t) => {
  t.equal(html`${'&lt;b&gt;'}`.text, '&amp;lt;b&amp;gt;');
});

t.test('numbers are shown, true as text; null, undefined and false render nothing', async (t) => {
  t.equal(html`[${0}|${42}|${true}]`.text, '[0|42|true]');
  t.equal(html`[${null}|${undefined}|${false}]`.text, '[||]');
  const shown = false;
  t.equal(html`<div>${shown && html`<b>hidden</b>`}</div>`.text, '<div></div>', 'cond && html`` reads naturally');
});

t.test('Html values pass through as markup, built once', async (t) => {
  const inner = html`<b>${'<i>'}</b>`;
  t.type(inner, Html);
  t.equal(html`<p>${inner}</p>`.text, '<p><b>&lt;i&gt;</b></p>', 'not escaped a second time');
});

t.test('arrays are joined without separators, each element rendered by its kind', async (t) => {
  const items = ['<a>', html`<br>`, null, false, 7, ['&', html`<hr>`]];
  t.equal(html`<ul>${items}</ul>`.text, '<ul>&lt;a&gt;<br>7&amp;<hr></ul>');
  t.equal(html`${[]}`.text, '');
});

t.test('only a real Html passes through: a lookalike object with a text field is not trusted', async (t) => {
  const impostor = { text: '<script>alert(1)</script>' } as unknown as HtmlValue;
  t.equal(html`${impostor}`.text, '[object Object]');
});

t.test('escapeHtml leaves other text, right-to-left overrides included, as it is', async (t) => {
  t.equal(escapeHtml('abc \u202E def é'), 'abc \u202E def é');
  t.equal(escapeHtml(''), '');
});
