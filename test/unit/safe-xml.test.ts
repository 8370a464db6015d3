// The tree parseSafeXml builds: the document as written, whichever way the reader splits the
// work (each third-level element is parsed apart from the rest of the document, issue 17).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSafeXml, type XNode } from '../../src/core/qubesxml/index.ts';
import { WqError } from '../../src/core/errors.ts';

interface Plain {
  tag: string;
  attrs: Record<string, string>;
  text: string;
  children: Plain[];
}
const plain = (n: XNode): Plain => ({
  tag: n.tag,
  attrs: { ...n.attrs },
  text: n.text,
  children: n.children.map(plain),
});
const el = (tag: string, attrs: Record<string, string> = {}, text = '', children: Plain[] = []): Plain => ({
  tag,
  attrs,
  text,
  children,
});

test('mixed content, CDATA, comments, entities and layout at every level keep their order and values', () => {
  const xml =
    `<?xml version="1.0" encoding="UTF-8"?>\n<!-- head -->\n<r v="1">\n  lead &amp; <a k="x&lt;y">\n` +
    `    one <b n="1"/> two <![CDATA[<raw>]]> <c>\n      <d>deep &#x41;</d>\n      <_ q='2'>under</_>\n` +
    `    </c><!-- mid --><e/>three\n  </a>\n  <f>  </f>\n  <_/>\n</r>\n`;
  const tree = plain(parseSafeXml(xml, 'r', 'test.xml'));
  assert.deepEqual(
    tree,
    el('r', { v: '1' }, '\n  lead & ', [
      el('a', { k: 'x<y' }, '\n    one  two <raw>three\n  ' /* the run between ]]> and <c> is layout */, [
        el('b', { n: '1' }),
        el('c', {}, '', [el('d', {}, 'deep A'), el('_', { q: '2' }, 'under')]),
        el('e'),
      ]),
      el('f', {}, '  '), // a childless element keeps its whitespace value
      el('_'),
    ]),
  );
});

test('many third-level elements come back in document order with their own subtrees', () => {
  const items = Array.from({ length: 500 }, (_, i) =>
    i % 3 === 0 ? `<item i="${i}"/>` : `<item i="${i}">\n  <sub>${i}</sub>\n</item>`,
  ).join('\n');
  const root = parseSafeXml(`<top><list>${items}</list><other>t</other></top>`, 'top', 'test.xml');
  const list = root.children[0] as XNode;
  assert.equal(list.children.length, 500);
  list.children.forEach((item, i) => {
    assert.equal(item.attrs['i'], String(i));
    assert.deepEqual(
      item.children.map((c) => [c.tag, c.text]),
      i % 3 === 0 ? [] : [['sub', String(i)]],
    );
  });
  assert.equal((root.children[1] as XNode).text, 't');
});

test('an error inside a third-level element is still refused as one input error', () => {
  for (const [xml, pattern] of [
    ['<r><a><b>&bogus;</b></a></r>', /undefined entity/],
    ['<r><a><b><c></b></a></r>', /not well-formed XML \(line 1, column 13: closing tag <\/b> does not match <c>/],
  ] as const) {
    assert.throws(
      () => parseSafeXml(xml, 'r', 'test.xml'),
      (err: unknown) => err instanceof WqError && err.kind === 'input' && pattern.test(err.message),
    );
  }
});

test('names are kept as written; the three prototype names are refused with their place', () => {
  const root = parseSafeXml('<r><a toString="1" hasOwnProperty="2" valueOf="3"/></r>', 'r', 'test.xml');
  assert.deepEqual({ ...(root.children[0] as XNode).attrs }, { toString: '1', hasOwnProperty: '2', valueOf: '3' });
  for (const name of ['__proto__', 'constructor', 'prototype']) {
    assert.throws(
      () => parseSafeXml(`<r>\n<a ${name}="x"/></r>`, 'r', 'test.xml'),
      (err: unknown) =>
        err instanceof WqError &&
        err.kind === 'input' &&
        err.message.includes(`line 2, column 1: reserved name '${name}' for an attribute`),
      name,
    );
    assert.throws(
      () => parseSafeXml(`<r><${name}/></r>`, 'r', 'test.xml'),
      (err: unknown) => err instanceof WqError && err.message.includes(`reserved name '${name}' for an element`),
      name,
    );
  }
  const odd = parseSafeXml('<r><toString/><valueOf>v</valueOf></r>', 'r', 'test.xml');
  assert.deepEqual(
    odd.children.map((c) => [c.tag, c.text]),
    [
      ['toString', ''],
      ['valueOf', 'v'],
    ],
  );
});
