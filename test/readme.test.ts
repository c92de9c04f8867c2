import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinStageKinds } from '../src/stages/index.js';
import { extractReference, renderStageReference } from '../src/docs/reference.js';
import { packageRoot } from '../src/util/paths.js';

const readme = readFileSync(join(packageRoot(), 'README.md'), 'utf8');

test('README starts with the install+run command and the test command', () => {
  const firstLines = readme.split('\n').slice(0, 12).join('\n');
  assert.match(firstLines, /npm ci && npx emopipe run pipelines\/demo\.yaml/);
  assert.match(firstLines, /npm test/);
});

test('README pipeline reference matches the stage schemas (run `npm run docs` to refresh)', () => {
  const inReadme = extractReference(readme);
  assert.ok(inReadme, 'README.md has no generated stage reference block');
  assert.equal(inReadme, renderStageReference(builtinStageKinds));
});

test('every built-in stage kind documents every parameter with a default', () => {
  for (const kind of builtinStageKinds) {
    const props = (kind.paramsSchema.properties ?? {}) as Record<string, Record<string, unknown>>;
    assert.equal(kind.paramsSchema.additionalProperties, false, `${kind.kind}: schema must reject unknown keys`);
    for (const [name, sub] of Object.entries(props)) {
      assert.ok(typeof sub.description === 'string' && sub.description.length > 0, `${kind.kind}.${name} lacks a description`);
    }
  }
});
