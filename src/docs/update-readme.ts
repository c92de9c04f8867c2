import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinStageKinds } from '../stages/index.js';
import { packageRoot } from '../util/paths.js';
import { renderStageReference, spliceReference } from './reference.js';

// `npm run docs`: regenerate the README's pipeline reference from the stage schemas.
const path = join(packageRoot(), 'README.md');
const before = readFileSync(path, 'utf8');
const after = spliceReference(before, renderStageReference(builtinStageKinds));
if (after !== before) {
  writeFileSync(path, after);
  process.stdout.write('README.md: stage reference updated\n');
} else {
  process.stdout.write('README.md: stage reference already up to date\n');
}
